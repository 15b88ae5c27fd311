"""The one linear probe: multinomial logistic regression on frozen features (scikit-learn's L-BFGS fit).

It serves the gap analysis (the "source-trained model" on embeddings), the augmentation measures (affinity and
label flips) and the trainer (the source-only baseline head).  With ``standardize`` (the default) features are
standardised on the training set first, as ``make_pipeline(StandardScaler(), LogisticRegression())`` does; the
fitted probe can also be handed to torch as one ``nn.Linear`` on raw features (:meth:`LinearProbe.as_linear`),
the scaling folded in.  The solver is deterministic: no seed needed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


@dataclass
class LinearProbe:
    """Logits = features @ weight.T + bias on raw features (any standardisation already folded in)."""

    weight: np.ndarray  # n_classes x D
    bias: np.ndarray  # n_classes

    def predict(self, features: Any) -> np.ndarray:
        """The predicted class of each row of ``features`` (an array or a tensor), as a NumPy int array."""
        x = _numpy(features)
        return np.argmax(x @ self.weight.T + self.bias, axis=1) if len(x) else np.zeros(0, dtype=np.int64)

    def as_linear(self, device: Any = "cpu") -> nn.Linear:
        """The probe as a trainable ``nn.Linear`` on ``device`` (a head to fine-tune from)."""
        import torch
        from torch import nn

        layer = nn.Linear(self.weight.shape[1], self.weight.shape[0])
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(self.weight))
            layer.bias.copy_(torch.from_numpy(self.bias))
        return layer.to(device)


def fit_linear_probe(features: Any, labels: Any, n_classes: int, *, standardize: bool = True,
                     l2: float | None = None) -> LinearProbe:
    """Fit a probe on ``features`` (N x D, an array or a tensor on any device) and ``labels`` (N ints).

    ``l2`` multiplies ‖W‖² added to the mean cross-entropy; the default is scikit-learn's C = 1 (½‖W‖² over the
    summed loss).  Classes absent from ``labels`` get a bias of -inf-like -1e4 (never predicted).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    x = _numpy(features).astype(np.float64, copy=False)
    y = _numpy(labels).astype(np.int64, copy=False)
    n, d = x.shape
    mean = x.mean(0) if standardize and n else np.zeros(d)
    scale = x.std(0) if standardize and n > 1 else np.ones(d)
    scale = np.where(scale > 1e-12, scale, 1.0)  # constant features stay as they are (as StandardScaler does)
    c = 1.0 if l2 is None else 0.5 / (l2 * max(n, 1))
    weight = np.zeros((n_classes, d))
    bias = np.full(n_classes, -1e4)
    present = np.unique(y)
    # Small fits run 30x faster on one BLAS thread than on oversubscribed ones.  On separable data (a tiny
    # set, weakly penalised) L-BFGS may stop at max_iter before the optimum: any of those heads separates the
    # training set, so scikit-learn's ConvergenceWarning would only be noise here.
    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(C=c, max_iter=1000).fit((x - mean) / scale, y)
    coef, intercept = model.coef_, model.intercept_
    if len(present) == 2:  # scikit-learn keeps one row for two classes: logits (-z/2, z/2) give the same argmax
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    weight[present] = coef / scale
    bias[present] = intercept - (coef / scale) @ mean
    return LinearProbe(weight.astype(np.float32), bias.astype(np.float32))


def _numpy(a: Any) -> np.ndarray:
    if hasattr(a, "detach"):
        return a.detach().float().cpu().numpy() if a.is_floating_point() else a.detach().cpu().numpy()
    return np.asarray(a)
