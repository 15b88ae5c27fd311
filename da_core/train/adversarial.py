"""Adversarial perturbations of a batch: FGSM and PGD in the space a backbone's inputs live in.

Images are perturbed in pixel units (an L-inf ball of radius ε around the image in [0, 1], the result kept in
[0, 1]: Goodfellow et al. 2015; Madry et al. 2018).  Texts cannot be perturbed as tokens, so they are perturbed in
the encoder's input (word) embeddings, FGM-style (Miyato et al. 2017): an L2 ball whose radius is ε times the
norm of the text's own embeddings (padding excluded), so ε = 0.1 moves a text by a tenth of its size whatever
the encoder.  Both spaces offer the same three things, so one FGSM and one PGD serve both:

- ``run(net, inputs, delta)``: the model's logits on the inputs moved by ``delta`` (``delta`` None: clean);
- ``zeros(inputs)``, ``direction(grad, inputs)`` (the steepest ascent of unit size in the ball's norm) and
  ``project(delta, eps, inputs)`` (back into the ball, and for images into [0, 1]).

Attacks run with the model as it is (the trainer and the robustness measure put it in eval mode first, so
batch-norm statistics and dropout are untouched) and take gradients only with respect to ``delta``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from da_core.train.config import EPS_SCALE

Net = Callable[[torch.Tensor], torch.Tensor]  # preprocessed inputs -> logits


def eps_scale(modality: str, configured: float | None = None) -> float:
    """ε at strength 1: the config's ``adv_eps`` when given, else the modality's default (:data:`EPS_SCALE`)."""
    return float(configured) if configured is not None else EPS_SCALE.get(modality, EPS_SCALE["image"])


class PixelSpace:
    """Images (uint8, or float in 0-255) perturbed in [0, 1] pixel units under an L-inf bound."""

    norm = "linf"

    def __init__(self, preprocess: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.preprocess = preprocess

    def zeros(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.zeros(inputs.shape, dtype=torch.float32, device=inputs.device)

    def moved(self, inputs: torch.Tensor, delta: torch.Tensor | None) -> torch.Tensor:
        """The inputs moved by ``delta``, as floats in 0-255 (what the backbone's preprocessing takes)."""
        if delta is None:
            return inputs
        x = inputs.float()
        return x + ((x / 255.0 + delta).clamp(0.0, 1.0) - x / 255.0) * 255.0  # rows with delta 0 stay exact

    def run(self, net: Net, inputs: torch.Tensor, delta: torch.Tensor | None) -> torch.Tensor:
        return net(self.preprocess(self.moved(inputs, delta)))

    def direction(self, grad: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        return grad.sign()

    def project(self, delta: torch.Tensor, eps: float, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs.float() / 255.0
        return (x + delta.clamp(-eps, eps)).clamp(0.0, 1.0) - x

    def random(self, inputs: torch.Tensor, eps: float, gen: torch.Generator) -> torch.Tensor:
        """A uniform start inside the ball (PGD's random start)."""
        u = torch.rand(inputs.shape, generator=gen).to(inputs.device)
        return self.project((u * 2 - 1) * eps, eps, inputs)


class EmbeddingSpace:
    """Token ids perturbed in the encoder's word embeddings under an L2 bound relative to each text's norm."""

    norm = "l2-relative"

    def __init__(self, preprocess: Callable[[torch.Tensor], torch.Tensor], embeddings: nn.Module, pad_id: int) -> None:
        self.preprocess, self.embeddings, self.pad_id = preprocess, embeddings, pad_id

    @contextlib.contextmanager
    def _adding(self, delta: torch.Tensor | None) -> Iterator[None]:
        if delta is None:
            yield
            return
        handle = self.embeddings.register_forward_hook(lambda _m, _i, out: out + delta.to(out.dtype))
        try:
            yield
        finally:
            handle.remove()

    def _mask(self, ids: torch.Tensor) -> torch.Tensor:
        return (ids != self.pad_id).unsqueeze(-1).float()

    def zeros(self, inputs: torch.Tensor) -> torch.Tensor:
        ids = self.preprocess(inputs)
        dim = int(self.embeddings.weight.shape[1])  # type: ignore[union-attr]
        return torch.zeros((*ids.shape, dim), dtype=torch.float32, device=inputs.device)

    def run(self, net: Net, inputs: torch.Tensor, delta: torch.Tensor | None) -> torch.Tensor:
        ids = self.preprocess(inputs)
        with self._adding(None if delta is None else delta * self._mask(ids)):
            return net(ids)

    def _norms(self, inputs: torch.Tensor) -> torch.Tensor:
        """Each text's embedding norm (padding left out), N x 1 x 1."""
        ids = self.preprocess(inputs)
        with torch.no_grad():
            emb = self.embeddings(ids).float() * self._mask(ids)
        return emb.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)

    def direction(self, grad: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        ids = self.preprocess(inputs)
        g = grad * self._mask(ids)
        unit = g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)
        return unit * self._norms(inputs)

    def project(self, delta: torch.Tensor, eps: float, inputs: torch.Tensor) -> torch.Tensor:
        radius = eps * self._norms(inputs)
        size = delta.flatten(1).norm(dim=1).view(-1, 1, 1)
        return delta * torch.clamp(radius / size.clamp_min(1e-12), max=1.0)

    def random(self, inputs: torch.Tensor, eps: float, gen: torch.Generator) -> torch.Tensor:
        zeros = self.zeros(inputs)
        u = torch.randn(zeros.shape, generator=gen).to(inputs.device) * self._mask(self.preprocess(inputs))
        unit = u / u.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)
        r = torch.rand((len(u), 1, 1), generator=gen).to(inputs.device)
        return unit * r * eps * self._norms(inputs)


Space = PixelSpace | EmbeddingSpace


def input_embeddings(module: nn.Module) -> nn.Module | None:
    """The word-embedding layer of a transformers encoder inside ``module`` (None when there is none)."""
    for sub in module.modules():
        getter = getattr(sub, "get_input_embeddings", None)
        if callable(getter):
            with contextlib.suppress(NotImplementedError, AttributeError):
                layer = getter()
                if isinstance(layer, nn.Module):
                    return layer
    return None


def space_for(modality: str, preprocess: Callable[[torch.Tensor], torch.Tensor], module: nn.Module,
              pad_id: int = 0) -> Space | None:
    """The perturbation space of a backbone: pixels for images, word embeddings for a text encoder (None when the
    encoder exposes none)."""
    if modality != "text":
        return PixelSpace(preprocess)
    layer = input_embeddings(module)
    return None if layer is None else EmbeddingSpace(preprocess, layer, pad_id)


def _loss_grad(space: Space, net: Net, inputs: torch.Tensor, labels: torch.Tensor,
               delta: torch.Tensor) -> torch.Tensor:
    delta = delta.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(space.run(net, inputs, delta).float(), labels)
        (grad,) = torch.autograd.grad(loss, [delta])
    return grad


def fgsm_direction(space: Space, net: Net, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The FGSM (FGM for text) step of size 1 at the clean inputs; ε times it is the attack at ε (one gradient
    serves a whole curve)."""
    return space.direction(_loss_grad(space, net, inputs, labels, space.zeros(inputs)), inputs)


def fgsm(space: Space, net: Net, inputs: torch.Tensor, labels: torch.Tensor, eps: float) -> torch.Tensor:
    """The FGSM perturbation of radius ``eps`` (inside the ball and, for images, [0, 1])."""
    return space.project(eps * fgsm_direction(space, net, inputs, labels), eps, inputs)


def pgd(space: Space, net: Net, inputs: torch.Tensor, labels: torch.Tensor, eps: float, steps: int,
        gen: torch.Generator, random_start: bool = True) -> torch.Tensor:
    """PGD: ``steps`` ascent steps of size 2.5 ε / steps (Madry et al.), each projected back into the ball, from a
    random start drawn from ``gen``."""
    delta = space.random(inputs, eps, gen) if random_start else space.zeros(inputs)
    alpha = 2.5 * eps / steps
    for _ in range(steps):
        grad = _loss_grad(space, net, inputs, labels, delta)
        delta = space.project(delta + alpha * space.direction(grad, inputs), eps, inputs)
    return delta.detach()


def attack(method: str, space: Space, net: Net, inputs: torch.Tensor, labels: torch.Tensor, eps: float, steps: int,
           gen: torch.Generator) -> torch.Tensor:
    """The ``method`` (fgsm or pgd) perturbation at ``eps``."""
    if method == "pgd":
        return pgd(space, net, inputs, labels, eps, steps, gen)
    return fgsm(space, net, inputs, labels, eps).detach()


@contextlib.contextmanager
def evaluating(*modules: nn.Module) -> Iterator[None]:
    """The modules in eval mode for the block (batch-norm statistics and dropout untouched), then as they were."""
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)


def place(delta: torch.Tensor, rows: torch.Tensor, part: torch.Tensor) -> torch.Tensor:
    """``delta`` with ``part`` (the perturbation of ``rows`` alone) written into those rows; a text part, trimmed
    to its own longest text, fills the first positions."""
    if part.shape[1:] != delta.shape[1:]:
        part = F.pad(part, (0, 0, 0, delta.shape[1] - part.shape[1]))
    delta[rows] = part.to(delta.dtype)
    return delta
