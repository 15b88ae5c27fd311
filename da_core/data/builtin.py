"""Built-in datasets, all offline and deterministic for a seed.

- ``printed-digits``: 0-9 rendered from the TTF fonts matplotlib ships (only fonts whose ten digit glyphs
  render non-empty, distinct and digit-like), with random size, stroke, rotation and position, cropped and
  centred MNIST-style.
- ``handwritten-digits``: scikit-learn's bundled UCI handwritten digits (1797 real samples, 8x8), brought to
  the same size and centring.
- ``textured-digits``: digits blended into colour patches of scikit-image's bundled photos (MNIST-M style).
- ``corrupted-digits``: MNIST-C style corruptions at severities 1-5 applied to handwritten digits.

Generated data is cached on disk under ``DA_CACHE_DIR/datasets`` keyed by the canonical spec.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from da_core import config
from da_core.data.dataset import Dataset, LoadReport, stratified_subset
from da_core.data.images import make_dataset
from da_core.data.registry import N_PARAM, SEED_PARAM, SIZE_PARAM, Progress, register
from da_core.data.spec import DatasetSpec, Param

GENERATOR_VERSION = "3"  # 3: every sample has a uid in meta
DIGITS = [str(i) for i in range(10)]

# ---------------------------------------------------------------------------------------------- fonts


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _glyph(path: str, ch: str, px: int, stroke: int = 0) -> np.ndarray:
    """Render one character in white on black and crop it to its ink (an empty array when blank)."""
    from PIL import Image, ImageDraw

    font = _truetype(path, px)
    canvas = Image.new("L", (px * 2 + 4 * stroke, px * 2 + 4 * stroke), 0)
    ImageDraw.Draw(canvas).text((px // 2, px // 4), ch, fill=255, font=font, stroke_width=stroke, stroke_fill=255)
    arr = np.asarray(canvas)
    ys, xs = np.nonzero(arr > 24)
    if len(ys) == 0:
        return np.zeros((0, 0), dtype=np.uint8)
    return arr[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]


@functools.lru_cache(maxsize=512)
def _truetype(path: str, px: int) -> Any:
    from PIL import ImageFont

    return ImageFont.truetype(path, px)


def _thumb(glyph: np.ndarray, side: int = 20) -> np.ndarray:
    from PIL import Image

    if glyph.size == 0:
        return np.zeros(side * side)
    return np.asarray(Image.fromarray(glyph).resize((side, side), Image.BILINEAR), dtype=np.float64).ravel() / 255


def _normalise_rows(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=1, keepdims=True)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-9)


@functools.lru_cache(maxsize=1)
def font_check() -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Check every font matplotlib ships by rendering its ten digits.

    A font is kept when all ten glyphs have ink, no two are near-identical (a .notdef box or a symbol
    repeated), and they look like digits: compared with DejaVu Sans' digits, most glyphs are closest to the
    right one.  Returns (kept font files, (rejected file, reason) pairs).
    """
    font_dir = _font_dir()
    reference = _normalise_rows(np.stack([_thumb(_glyph(str(font_dir / "DejaVuSans.ttf"), d, 48)) for d in DIGITS]))
    kept: list[str] = []
    rejected: list[tuple[str, str]] = []
    for path in sorted(font_dir.glob("*.ttf")):
        try:
            glyphs = [_glyph(str(path), d, 48) for d in DIGITS]
        except OSError as exc:  # unreadable font file
            rejected.append((path.name, f"cannot be read: {exc}"))
            continue
        blank = [d for d, g in zip(DIGITS, glyphs) if g.size == 0 or g.astype(np.float64).sum() / 255 < 5]
        if blank:
            rejected.append((path.name, f"blank glyphs for {''.join(blank)}"))
            continue
        thumbs = _normalise_rows(np.stack([_thumb(g) for g in glyphs]))
        sim = thumbs @ thumbs.T
        np.fill_diagonal(sim, -1)
        if sim.max() > 0.95:
            i, j = np.unravel_index(int(sim.argmax()), sim.shape)
            rejected.append((path.name, f"glyphs {i} and {j} are identical"))
            continue
        cross = thumbs @ reference.T
        matches = int((cross.argmax(axis=1) == np.arange(10)).sum())
        if matches < 6 or float(np.diag(cross).mean()) < 0.25:
            rejected.append((path.name, f"glyphs do not look like digits ({matches}/10 match a reference font)"))
            continue
        kept.append(path.name)
    return tuple(kept), tuple(rejected)


# ------------------------------------------------------------------------------------------ centring


def centre(glyph: np.ndarray, size: int, box: int, shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """MNIST-style placement: scale ink to fit a box x box square, centre of mass at the image centre."""
    from PIL import Image

    out = np.zeros((size, size), dtype=np.float32)
    if glyph.size == 0:
        return out.astype(np.uint8)
    h, w = glyph.shape
    scale = box / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = np.asarray(Image.fromarray(glyph).resize((nw, nh), Image.LANCZOS), dtype=np.float32)
    small = np.clip(small, 0, 255)
    total = small.sum()
    if total <= 0:
        return out.astype(np.uint8)
    cy = (small.sum(axis=1) * np.arange(nh)).sum() / total
    cx = (small.sum(axis=0) * np.arange(nw)).sum() / total
    top = int(round((size - 1) / 2 - cy + shift[0]))
    left = int(round((size - 1) / 2 - cx + shift[1]))
    # paste with clipping at the borders
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + nh, size), min(left + nw, size)
    if y1 > y0 and x1 > x0:
        out[y0:y1, x0:x1] = small[y0 - top: y1 - top, x0 - left: x1 - left]
    return np.clip(out, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------ caching


def _cached(spec: DatasetSpec, build: Any) -> Dataset:
    """Load a generated dataset from the disk cache, or build and store it (atomically)."""
    key = hashlib.blake2b(f"{spec}|{GENERATOR_VERSION}".encode(), digest_size=10).hexdigest()
    folder = config.cache_subdir("datasets")
    if folder is None:  # no usable cache folder (warned): build every time
        return build()
    path = folder / f"{spec.body}-{key}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = pd.DataFrame({k[6:]: z[k] for k in z.files if k.startswith("meta__")})
                report = LoadReport(notes=json.loads(str(z["notes"])))
                return make_dataset(z["images"], z["labels"], json.loads(str(z["classes"])), str(spec), meta, report)
        except Exception:  # a damaged cache file is rebuilt, never fatal
            with contextlib.suppress(OSError):  # a read-only cache keeps it; the new one is not written either
                path.unlink(missing_ok=True)
    ds = build()
    columns = {f"meta__{c}": _plain_array(ds.meta[c]) for c in ds.meta.columns}
    # whole or not at all; a full or read-only cache only costs the next load its speed (a warning says so)
    config.write_cache_file(path, lambda tmp: np.savez(tmp, images=ds.images.numpy(), labels=ds.labels.numpy(),
                                                       classes=json.dumps(ds.classes),
                                                       notes=json.dumps(ds.report.notes), **columns))
    return ds


def _plain_array(column: pd.Series) -> np.ndarray:
    """A numpy array that np.load can read without pickle (numbers stay numbers, the rest becomes str)."""
    values = column.to_numpy()
    return values if values.dtype.kind in "biufc" else np.asarray(column.astype(str).to_numpy(), dtype=str)


# --------------------------------------------------------------------------------------- generators

_BASE_PARAMS = (SEED_PARAM, SIZE_PARAM)


@register(
    "builtin:printed-digits",
    "digits 0-9 rendered from matplotlib's fonts (synthetic source domain)",
    (Param("n", int, 3000, "number of samples", min=10, max=100_000), *_BASE_PARAMS),
)
def load_printed(spec: DatasetSpec, progress: Progress) -> Dataset:
    """Render printed digits (cached on disk)."""
    return _cached(spec, lambda: printed_digits(**spec.options, progress=progress, domain=str(spec)))


def printed_digits(n: int = 3000, seed: int = 0, size: int = 28, progress: Progress | None = None,
                   domain: str = "printed-digits") -> Dataset:
    """Generate ``n`` printed digits: balanced classes, a random kept font, size, stroke, angle and shift."""
    from PIL import Image

    fonts, rejected = font_check()
    font_dir = _font_dir()
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10)
    font_idx = rng.integers(0, len(fonts), n)
    px = rng.integers(28, 48, n)
    stroke = rng.choice([0, 0, 0, 1], n)
    angle = rng.uniform(-12, 12, n)
    box = rng.uniform(0.6, 0.78, n) * size
    shift = rng.uniform(-0.05, 0.05, (n, 2)) * size
    images = np.zeros((n, 1, size, size), dtype=np.uint8)
    for i in range(n):
        glyph = _glyph(str(font_dir / fonts[font_idx[i]]), DIGITS[labels[i]], int(px[i]), int(stroke[i]))
        if abs(angle[i]) > 0.5:
            rotated = Image.fromarray(glyph).rotate(float(angle[i]), resample=Image.BICUBIC, expand=True)
            glyph = np.asarray(rotated)
            ys, xs = np.nonzero(glyph > 24)
            glyph = glyph[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
        images[i, 0] = centre(glyph, size, int(round(box[i])), (shift[i, 0], shift[i, 1]))
        if progress is not None and i % 250 == 0:
            progress(i / n * 0.95, f"rendering printed digits {i}/{n}")
    meta = pd.DataFrame({
        "font": [fonts[k] for k in font_idx], "font_px": px, "stroke": stroke,
        "angle": np.round(angle, 2), "box": np.round(box, 2),
        "shift_y": np.round(shift[:, 0], 2), "shift_x": np.round(shift[:, 1], 2),
    })
    report = LoadReport(notes=[f"{len(fonts)} of {len(fonts) + len(rejected)} matplotlib fonts kept; "
                               f"rejected: {', '.join(name for name, _ in rejected)}"])
    return make_dataset(images, labels, DIGITS, domain, meta, report)


@register(
    "builtin:handwritten-digits",
    "scikit-learn's 1797 real handwritten digits (UCI), MNIST-style centring",
    (N_PARAM, *_BASE_PARAMS,
     Param("part", str, None, "a: the UCI digits of even index, b: of odd index (two disjoint halves, e.g. one in a "
                              "mixed source and the other as the target); all when unset", choices=("a", "b"))),
)
def load_handwritten(spec: DatasetSpec, progress: Progress) -> Dataset:
    """Real handwritten digits from scikit-learn (cached on disk)."""
    return _cached(spec, lambda: handwritten_digits(**spec.options, domain=str(spec)))


def handwritten_digits(n: int | None = None, seed: int = 0, size: int = 28,
                       domain: str = "handwritten-digits", part: str | None = None) -> Dataset:
    """scikit-learn's ``load_digits`` upsampled from 8x8 into a 20/28 box and centred by mass (``part`` a or b:
    the even or odd UCI indices only)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    raw = np.clip(bunch.images * (255.0 / 16.0), 0, 255).astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    pool = np.arange(len(labels)) if part is None else np.arange(0 if part == "a" else 1, len(labels), 2)
    report = LoadReport()
    if n is not None and n > len(pool):
        report.notes.append(f"asked for n={n} but only {len(pool)} handwritten digits exist here; using all")
    idx = pool[stratified_subset(labels[pool], n, seed)]
    box = int(round(size * 20 / 28))
    images = np.stack([centre(raw[i], size, box)[None] for i in idx])
    meta = pd.DataFrame({"uci_index": idx, "uid": [f"uci:{i}" for i in idx.tolist()]})
    return make_dataset(images, labels[idx], DIGITS, domain, meta, report)


@register(
    "builtin:mixed-digits",
    "printed digits plus a few hundred real handwritten ones (part a of the UCI digits): a large, partly relevant "
    "source for selection against builtin:handwritten-digits?part=b",
    (Param("printed", int, 2700, "printed digits", min=10, max=100_000),
     Param("handwritten", int, 300, "handwritten digits (from part a)", min=10, max=899), *_BASE_PARAMS),
)
def load_mixed(spec: DatasetSpec, progress: Progress) -> Dataset:
    """Printed plus handwritten digits, each sample's ``kind`` in meta (cached on disk)."""
    return _cached(spec, lambda: mixed_digits(**spec.options, progress=progress, domain=str(spec)))


def mixed_digits(printed: int = 2700, handwritten: int = 300, seed: int = 0, size: int = 28,
                 progress: Progress | None = None, domain: str = "mixed-digits") -> Dataset:
    """``printed`` printed digits and ``handwritten`` handwritten ones from part a, shuffled (seeded); meta has
    ``kind`` (printed or handwritten), ``font`` ("handwritten" for those) and uids ``printed:i`` / ``uci:j``."""
    import torch

    a = printed_digits(printed, seed, size, progress)
    b = handwritten_digits(handwritten, seed, size, part="a")
    meta = pd.concat([a.meta.assign(kind="printed", uid=[f"printed:{u}" for u in a.uids]),
                      b.meta.assign(kind="handwritten", font="handwritten")], ignore_index=True)
    order = np.random.default_rng(seed).permutation(len(meta))
    images = torch.cat([a.images, b.images])[torch.from_numpy(order)]
    labels = torch.cat([a.labels, b.labels])[torch.from_numpy(order)]
    return make_dataset(images, labels, DIGITS, domain, meta.iloc[order].reset_index(drop=True),
                        LoadReport(notes=list(a.report.notes)))


# scikit-image photos that ship inside its wheel (no download needed); grey ones are tinted.
PHOTOS = ("astronaut", "brick", "chelsea", "coffee", "grass", "gravel", "hubble_deep_field", "ihc", "retina",
          "rocket", "motorcycle_left", "coins", "camera", "moon")


@functools.lru_cache(maxsize=1)
def _photos() -> tuple[tuple[str, np.ndarray], ...]:
    """The bundled photos as float RGB arrays, downsized to at most 256 px (files only, never a download)."""
    import skimage.data
    from PIL import Image

    folder = Path(skimage.data.__file__).parent
    out = []
    for name in PHOTOS:
        matches = sorted(folder.glob(f"{name}.*"))
        if not matches:
            continue
        img = Image.open(matches[0])
        img.thumbnail((256, 256), Image.LANCZOS)
        out.append((name, np.asarray(img.convert("RGB"), dtype=np.float32)))
    if not out:
        raise FileNotFoundError(f"no scikit-image sample photos found in {folder}")
    return tuple(out)


@register(
    "builtin:textured-digits",
    "digits blended into colour photo patches from scikit-image (MNIST-M style)",
    (Param("n", int, 3000, "number of samples", min=10, max=100_000), *_BASE_PARAMS,
     Param("base", str, "printed", "which digits to texture", choices=("printed", "handwritten"))),
)
def load_textured(spec: DatasetSpec, progress: Progress) -> Dataset:
    """Textured digits (cached on disk)."""
    return _cached(spec, lambda: textured_digits(**spec.options, progress=progress, domain=str(spec)))


def textured_digits(n: int = 3000, seed: int = 0, size: int = 28, base: str = "printed",
                    progress: Progress | None = None, domain: str = "textured-digits") -> Dataset:
    """MNIST-M: ``|patch - digit|`` per channel, with a random crop of a random bundled photo."""
    from PIL import Image

    digits = printed_digits(n, seed + 7919, size) if base == "printed" else handwritten_digits(n, seed, size)
    photos = _photos()
    rng = np.random.default_rng(seed)
    n = len(digits)
    which = rng.integers(0, len(photos), n)
    out = np.zeros((n, 3, size, size), dtype=np.uint8)
    crop_sides = []
    for i in range(n):
        name, photo = photos[which[i]]
        h, w, _ = photo.shape
        side = int(min(rng.uniform(size, 3 * size), h, w))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        patch = photo[y:y + side, x:x + side]
        if side != size:
            patch = np.asarray(Image.fromarray(patch.astype(np.uint8)).resize((size, size), Image.BILINEAR),
                               dtype=np.float32)
        if np.ptp(photo.reshape(-1, 3).mean(axis=0)) < 1.0:  # grey photo: tint it
            patch = patch * rng.uniform(0.35, 1.0, 3)
        digit = digits.images[i, 0].numpy().astype(np.float32)[..., None]
        out[i] = np.clip(np.abs(patch - digit), 0, 255).astype(np.uint8).transpose(2, 0, 1)
        crop_sides.append(side)
        if progress is not None and i % 500 == 0:
            progress(0.5 + 0.45 * i / n, f"texturing digits {i}/{n}")
    meta = digits.meta.copy()
    meta["photo"] = [photos[k][0] for k in which]
    meta["crop_side"] = crop_sides
    report = LoadReport(notes=[f"textures from scikit-image photos: {', '.join(p for p, _ in photos)}"])
    return make_dataset(out, digits.labels, DIGITS, domain, meta, report)


CORRUPTIONS = ("noise", "impulse", "blur", "motion_blur", "contrast", "brightness", "pixelate", "jpeg",
               "elastic", "stripe", "fog")


@register(
    "builtin:corrupted-digits",
    "handwritten digits with MNIST-C style corruptions (kind, severity 1-5)",
    (N_PARAM, *_BASE_PARAMS,
     Param("kind", str, "noise", "corruption", choices=CORRUPTIONS),
     Param("severity", int, 3, "corruption strength", min=1, max=5)),
)
def load_corrupted(spec: DatasetSpec, progress: Progress) -> Dataset:
    """Corrupted handwritten digits (cached on disk)."""
    return _cached(spec, lambda: corrupted_digits(**spec.options, domain=str(spec)))


def corrupted_digits(n: int | None = None, seed: int = 0, size: int = 28, kind: str = "noise",
                     severity: int = 3, domain: str = "corrupted-digits") -> Dataset:
    """Apply corruption ``kind`` at ``severity`` to the handwritten digits."""
    clean = handwritten_digits(n, seed, size)
    rng = np.random.default_rng(seed + 104729)
    x = clean.images.numpy()[:, 0].astype(np.float32) / 255.0
    y = corrupt(x, kind, severity, rng)
    images = np.clip(np.round(y * 255.0), 0, 255).astype(np.uint8)[:, None]
    meta = clean.meta.copy()
    meta["corruption"] = kind
    meta["severity"] = severity
    return make_dataset(images, clean.labels, DIGITS, domain, meta, LoadReport(notes=list(clean.report.notes)))


def corrupt(x: np.ndarray, kind: str, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Corrupt a batch of grey images in [0, 1] (N x H x W); severity 1-5 (MNIST-C / ImageNet-C style)."""
    from scipy import ndimage

    s = severity - 1
    n, h, w = x.shape
    if kind == "noise":
        return x + rng.normal(0, [0.08, 0.16, 0.24, 0.32, 0.42][s], x.shape)
    if kind == "impulse":
        p = [0.03, 0.06, 0.1, 0.15, 0.22][s]
        u = rng.random(x.shape)
        return np.where(u < p / 2, 0.0, np.where(u > 1 - p / 2, 1.0, x))
    if kind == "blur":
        sigma = [0.6, 0.9, 1.2, 1.6, 2.0][s] * h / 28
        return ndimage.gaussian_filter(x, sigma=(0, sigma, sigma))
    if kind == "motion_blur":
        length = max(2, int(round([3, 5, 7, 9, 12][s] * h / 28)))
        out = np.empty_like(x)
        angles = rng.uniform(-45, 45, n)
        for i in range(n):
            k = np.zeros((length, length), dtype=np.float32)
            k[length // 2, :] = 1.0
            k = ndimage.rotate(k, angles[i], reshape=False, order=1)
            out[i] = ndimage.convolve(x[i], k / max(k.sum(), 1e-6), mode="constant")
        return out
    if kind == "contrast":
        c = [0.6, 0.45, 0.32, 0.22, 0.14][s]
        mean = x.mean(axis=(1, 2), keepdims=True)
        return (x - mean) * c + mean
    if kind == "brightness":
        return x + [0.15, 0.25, 0.35, 0.45, 0.55][s]
    if kind == "pixelate":
        f = [0.75, 0.6, 0.5, 0.4, 0.3][s]
        small = max(2, int(round(h * f)))
        zoom_in = ndimage.zoom(x, (1, small / h, small / w), order=1)
        return ndimage.zoom(zoom_in, (1, h / zoom_in.shape[1], w / zoom_in.shape[2]), order=0)[:, :h, :w]
    if kind == "jpeg":
        from PIL import Image

        quality = [25, 15, 10, 7, 4][s]
        out = np.empty_like(x)
        for i in range(n):
            buf = io.BytesIO()
            Image.fromarray(np.clip(x[i] * 255, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=quality)
            out[i] = np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.float32) / 255
        return out
    if kind == "elastic":
        alpha = [1.0, 1.6, 2.2, 2.8, 3.5][s] * h / 28
        sigma = 3.0 * h / 28
        out = np.empty_like(x)
        yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        for i in range(n):
            dy = ndimage.gaussian_filter(rng.uniform(-1, 1, (h, w)), sigma) * alpha * sigma
            dx = ndimage.gaussian_filter(rng.uniform(-1, 1, (h, w)), sigma) * alpha * sigma
            out[i] = ndimage.map_coordinates(x[i], [yy + dy, xx + dx], order=1, mode="constant")
        return out
    if kind == "stripe":
        width = max(1, int(round([1, 1, 2, 2, 3][s] * h / 28)))
        count = [1, 2, 2, 3, 4][s]
        out = x.copy()
        for i in range(n):
            for _ in range(count):
                pos = int(rng.integers(0, h - width + 1))
                if rng.random() < 0.5:
                    out[i, pos:pos + width, :] = 1.0 - out[i, pos:pos + width, :]
                else:
                    out[i, :, pos:pos + width] = 1.0 - out[i, :, pos:pos + width]
        return out
    if kind == "fog":
        strength = [0.2, 0.3, 0.4, 0.5, 0.6][s]
        noise = ndimage.gaussian_filter(rng.random(x.shape), sigma=(0, 3 * h / 28, 3 * w / 28))
        lo = noise.min(axis=(1, 2), keepdims=True)
        hi = noise.max(axis=(1, 2), keepdims=True)
        fog = (noise - lo) / np.maximum(hi - lo, 1e-6)
        return x * (1 - strength * 0.5) + fog * strength
    raise ValueError(f"unknown corruption {kind!r}; choose from {', '.join(CORRUPTIONS)}")
