"""The one linear probe: what scikit-learn's standardised logistic regression predicts, as a torch layer too."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from da_core.probe import fit_linear_probe


def _blobs(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = rng.normal(size=(n, 16)) * rng.uniform(0.1, 50, 16)  # features on very different scales
    x[:, :k] += np.eye(k)[y] * 3 * x[:, :k].std(0)
    return x.astype(np.float32), y


def test_probe_predicts_what_standardised_logistic_regression_predicts() -> None:
    for k in (2, 5):
        pool, labels = _blobs(1000, k, seed=k)
        x, y, xt, yt = pool[:600], labels[:600], pool[600:], labels[600:]
        reference = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y).predict(xt)
        probe = fit_linear_probe(x, y, k)
        assert (probe.predict(xt) == reference).mean() > 0.99
        assert (probe.predict(xt) == yt).mean() > 0.8
        layer = probe.as_linear()
        assert torch.equal(layer(torch.from_numpy(xt)).argmax(1), torch.from_numpy(probe.predict(xt)))
        assert layer.weight.requires_grad


def test_tensors_in_absent_classes_never_predicted() -> None:
    x, y = _blobs(300, 3, seed=0)
    probe = fit_linear_probe(torch.from_numpy(x), torch.from_numpy(y), 5)  # classes 3 and 4 have no sample
    assert probe.weight.shape == (5, 16)
    assert set(np.unique(probe.predict(x))) <= {0, 1, 2}
    raw = fit_linear_probe(x, y, 3, standardize=False, l2=1e-4)
    assert (raw.predict(x) == y).mean() > 0.8
