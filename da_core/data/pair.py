"""Where two domains meet: one class set and one image shape for both.

Every place that puts source and target side by side (training pools and batches, joint PCA, pixel features,
previews, the lab's target column, the gap map) goes through :func:`align_pair`, so the rule is the same
everywhere:

- classes: the ones both domains share, in the source's order (:func:`align_classes`);
- channels: RGB when either domain is RGB (grey is replicated to three equal channels, which loses nothing);
- size: the source's height and width (the target is resized with antialiased bilinear interpolation).

What was converted is said in words (``PairAlignment.conversions``) so a page and a run's record can show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from da_core.data.dataset import ClassAlignment, Dataset, align_classes
from da_core.data.images import resize_batch
from da_core.errors import ModalityError


@dataclass
class PairAlignment(ClassAlignment):
    """A :class:`ClassAlignment` plus the common image shape and what was converted to reach it."""

    shape: tuple[int, int, int] | None = (1, 28, 28)  # None for texts, which have no shape to meet
    source_shape: tuple[int, int, int] | None = (1, 28, 28)
    target_shape: tuple[int, int, int] | None = (1, 28, 28)
    conversions: list[str] = field(default_factory=list)

    @property
    def converted(self) -> bool:
        """True when either domain's images were changed to meet the other's."""
        return bool(self.conversions)

    def to_dict(self) -> dict[str, object]:
        """JSON-able form (stored with a run, printed by the CLI)."""
        return {"shared": list(self.shared), "only_source": list(self.only_source),
                "only_target": list(self.only_target), "shape": _listed(self.shape),
                "source_shape": _listed(self.source_shape), "target_shape": _listed(self.target_shape),
                "conversions": list(self.conversions)}


def _listed(shape: tuple[int, int, int] | None) -> list[int] | None:
    return None if shape is None else list(shape)


def common_shape(source: tuple[int, int, int], target: tuple[int, int, int]) -> tuple[int, int, int]:
    """The shape both domains are brought to: RGB if either is, at the source's size."""
    return (3 if 3 in (source[0], target[0]) else 1, source[1], source[2])


def _fmt(shape: tuple[int, int, int]) -> str:
    c, h, w = shape
    return f"{'RGB' if c == 3 else 'grey'} {h}×{w}"


def to_shape(ds: Dataset, shape: tuple[int, int, int]) -> Dataset:
    """``ds`` with ``shape`` = (channels, height, width): channels converted, then resized (a no-op when equal)."""
    c, h, w = shape
    out = ds.with_channels(c)
    if out.shape[1:] != (h, w):
        out = replace(out, images=resize_batch(out.images, (h, w)), _fingerprint=None)
    return out


def align_pair(source: Dataset, target: Dataset) -> tuple[Dataset, Dataset, PairAlignment]:
    """Shared classes and one image shape for both domains (see the module docstring); texts only share classes.

    Raises :class:`~da_core.errors.DatasetError` when the domains share no class, and
    :class:`~da_core.errors.ModalityError` when one holds images and the other texts.
    """
    if source.modality != target.modality:
        raise ModalityError(f"source {source.domain!r} holds {source.modality} and target {target.domain!r} holds "
                            f"{target.modality}; a pair needs two domains of one modality")
    src, tgt, classes = align_classes(source, target)
    if src.modality == "text":
        return src, tgt, PairAlignment(classes.shared, classes.only_source, classes.only_target, shape=None,
                                       source_shape=None, target_shape=None)
    s_shape, t_shape = src.shape, tgt.shape
    shape = common_shape(s_shape, t_shape)
    conversions: list[str] = []
    for role, ds_shape in (("source", s_shape), ("target", t_shape)):
        if ds_shape == shape:
            continue
        what = []
        if ds_shape[0] != shape[0]:
            what.append("grey replicated to RGB (the other domain is in colour)" if shape[0] == 3
                        else "RGB averaged to grey")
        if ds_shape[1:] != shape[1:]:
            what.append(f"resized from {ds_shape[1]}×{ds_shape[2]} to {shape[1]}×{shape[2]} px (the source's size)")
        conversions.append(f"{role}: {' and '.join(what)}")
    alignment = PairAlignment(classes.shared, classes.only_source, classes.only_target, shape=shape,
                              source_shape=s_shape, target_shape=t_shape, conversions=conversions)
    return to_shape(src, shape), to_shape(tgt, shape), alignment


def describe_alignment(alignment: PairAlignment) -> str:
    """One sentence for a page or a log: what was converted (empty when nothing was)."""
    if not alignment.conversions or alignment.shape is None:
        return ""
    return (f"The domains differ in image shape (source {_fmt(alignment.source_shape)}, target "
            f"{_fmt(alignment.target_shape)}), so both are used as {_fmt(alignment.shape)}. "
            + "; ".join(c[0].upper() + c[1:] for c in alignment.conversions) + ".")
