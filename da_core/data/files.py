"""Image datasets from the user's files: a folder (``folder:PATH``) or a zip archive (``zip:PATH``).

Layout: one sub-folder per class holding images (``.png .jpg .jpeg .bmp .webp .tif .tiff``, any case,
nested sub-folders included); class names are the sub-folder names, sorted.  A zip may wrap everything in
one top-level folder, which is stripped.  ``__MACOSX/``, dotfiles, ``Thumbs.db`` and ``desktop.ini`` are
dropped silently; other files (non-images, files at the top level, nested archives) are ignored and counted
in the load report.

Safety (see "Bad input and faults" in the design):

- With ``DA_DATA_ROOT`` set, the real path (symlinks resolved) must lie inside it (``zip:`` may also name an
  uploaded archive); relative paths are taken relative to it.  Inside a folder, a symlink leading outside
  the root is skipped and reported.  Only regular files are read: a pipe, device or socket inside a folder
  is skipped and reported (it could block or never end), and ``zip:`` must name a regular file.
- Zips are read in memory, never extracted.  Before any entry is read the whole archive is refused when an
  entry name is absolute (``/x``, ``\\x``, ``C:x``) or has a ``..`` component, when an entry is a symbolic
  link, or when the entry count or total declared uncompressed size passes the caps.  No entry is read past
  its declared size.  The compression ratio is not capped: the total cap and the read limit bound memory.
- An image's width x height is checked against ``DA_MAX_IMAGE_PIXELS`` before it is decoded.  Only the PNG,
  JPEG, BMP, WebP and TIFF decoders are used, whatever the file name says.  Corrupt or truncated files are
  skipped with a reason; the rest loads.

Pixel modes become 8-bit grey or RGB: alpha (LA, RGBA, transparent palettes) is composited over black;
16-bit ``I;16`` data is scaled linearly over its full range (65535 -> 255), so brightness stays comparable
between images; 32-bit ``I`` and float ``F`` data, whose range is unknown, are scaled by the image's own
min..max (``F`` data already inside [0, 1] is multiplied by 255).  Animated images give their first frame.
EXIF orientation is applied.  With ``channels=auto`` the dataset has one channel when every image is
grey (a grey mode, or RGB with three equal channels), else three with grey replicated.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from da_core import config
from da_core.data.dataset import Dataset, LoadReport, within_memory
from da_core.data.images import make_dataset
from da_core.data.registry import N_PARAM, SEED_PARAM, Progress, register
from da_core.data.spec import DatasetSpec, Param
from da_core.errors import DatasetError, SecurityError

if TYPE_CHECKING:  # pragma: no cover
    import zipfile

    from PIL import Image as PILImage

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
# Decoders PIL may use; anything else (EPS via Ghostscript, PSD, ...) is refused even if renamed to .png.
PIL_FORMATS = ("PNG", "JPEG", "BMP", "DIB", "WEBP", "TIFF")
JUNK_NAMES = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})
META_COLUMNS = ["path", "orig_width", "orig_height", "orig_mode", "uid"]

FILE_PARAMS = (
    N_PARAM,
    SEED_PARAM,
    Param("size", int, 64, "images are resized to size x size pixels", min=8, max=512),
    Param("channels", str, "auto", "1 (grey) or 3 (RGB); auto: 1 when every image is grey",
          choices=("auto", "1", "3")),
    Param("fit", str, "crop", "how to make images square: crop the centre, pad with black, or stretch",
          choices=("crop", "pad", "stretch")),
)


_Entry = tuple[str, list[str], Any]
"""A file found in a folder or archive: (path shown to the user, path components used for the layout, ref)."""


@dataclass
class _Item:
    """One image file to load: the path shown to the user, its class index and how to reach it."""

    path: str
    label: int
    ref: Any  # a filesystem path (folder) or a ZipInfo (zip)


# ------------------------------------------------------------------------------------------- sources


@register("folder", "images in one sub-folder per class (PNG, JPEG, BMP, WebP, TIFF)", FILE_PARAMS)
def load_folder(spec: DatasetSpec, progress: Progress) -> Dataset:
    """Load ``folder:PATH``: PATH/CLASS/IMAGE files, class names sorted."""
    root = checked_path(spec.body, "folder", allow_uploads=False)
    if not root.exists():
        raise DatasetError(f"folder {spec.body!r} does not exist")
    if not root.is_dir():
        hint = " (use zip: for a zip archive)" if root.suffix.lower() == ".zip" else ""
        raise DatasetError(f"{spec.body!r} is not a folder{hint}")
    report = LoadReport()
    progress(0.0, f"scanning {root}")
    files = _scan_folder(root, config.data_root(), report)
    classes, items = _layout([(path, path.split("/"), ref) for path, ref in files], report,
                             f"folder {spec.body!r}")

    def read(item: _Item) -> Any:
        return item.ref

    return _decode_items(items, classes, spec, progress, report, read)


@register("zip", "a zip archive of one sub-folder per class, read in memory (never extracted)", FILE_PARAMS)
def load_zip(spec: DatasetSpec, progress: Progress) -> Dataset:
    """Load ``zip:PATH``: entries CLASS/IMAGE (optionally inside one top-level folder), checked first."""
    import zipfile

    path = checked_path(spec.body, "zip archive", allow_uploads=True)
    if not path.exists():
        raise DatasetError(f"zip archive {spec.body!r} does not exist")
    if path.is_dir():
        raise DatasetError(f"{spec.body!r} is a folder, not a zip archive (use folder: for folders)")
    if not path.is_file():  # a device or pipe (/dev/zero, a FIFO) would be read forever
        raise DatasetError(f"{spec.body!r} is not a regular file, so not a zip archive")
    label = f"zip archive {spec.body!r}"
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as err:
        raise DatasetError(f"{spec.body!r} is not a readable zip archive ({err})") from None
    except PermissionError:
        raise DatasetError(f"cannot read {spec.body!r}: permission denied") from None
    except (OSError, ValueError, EOFError, NotImplementedError) as err:
        raise DatasetError(f"{spec.body!r} is a corrupt zip archive ({err})") from None
    with zf:
        infos = zf.infolist()
        check_archive(infos, label)
        report = LoadReport()
        progress(0.0, f"listing {len(infos)} archive entries")
        entries = []
        for info in infos:
            if info.is_dir():
                continue
            name = info.filename.replace("\\", "/")
            entries.append((info.filename, [p for p in name.split("/") if p], info))
        entries = _strip_wrapper(entries, report)
        classes, items = _layout(entries, report, label)

        lock = threading.Lock()  # one archive, read by the decoding threads one entry at a time

        def read(item: _Item) -> Any:
            with lock:
                return io.BytesIO(read_entry(zf, item.ref, label))

        return _decode_items(items, classes, spec, progress, report, read)


def save_upload(data: bytes, suffix: str = ".zip") -> Path:
    """Store an uploaded archive (or a ``.csv``/``.jsonl`` text file) under the cache, content-addressed, and
    return its path.

    An upload larger than ``DA_MAX_UPLOAD_BYTES`` is refused with a :class:`SecurityError` and nothing is
    written; the file appears whole or not at all (written to a temporary name, then renamed).
    """
    import hashlib

    cap = config.max_upload_bytes()
    if len(data) > cap:
        raise SecurityError(f"upload refused: {len(data):,} bytes is over the cap of {cap:,} bytes "
                            "(DA_MAX_UPLOAD_BYTES); nothing was stored")
    digest = hashlib.blake2b(data, digest_size=12).hexdigest()
    try:
        folder = config.uploads_dir()
    except OSError as exc:
        raise DatasetError(f"cannot store the upload: the folder {exc.filename} cannot be created "
                           f"({exc.strerror or exc}); point DA_CACHE_DIR at a writable folder") from None
    path = folder / f"{digest}{suffix}"
    if not path.exists():
        tmp = path.with_suffix(".part")
        try:
            tmp.write_bytes(data)
            tmp.replace(path)
        except OSError as exc:  # a full or read-only disk: nothing half-written stays behind
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise DatasetError(f"cannot store the upload in {folder} ({exc.strerror or exc}); free some disk "
                               "space or point DA_CACHE_DIR at a writable folder") from None
    return path


# ---------------------------------------------------------------------------------------- path rules


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def checked_path(body: str, what: str, allow_uploads: bool) -> Path:
    """The real path a spec names; a :class:`SecurityError` when it lies outside ``DA_DATA_ROOT``.

    A path the system cannot use (a NUL or unencodable character, ``~user`` for an unknown user, a name
    too long) is a :class:`DatasetError`; a path that does not exist is returned for the loader to report.
    """
    root = config.data_root()
    try:
        path = Path(body).expanduser()
        if root is not None and not path.is_absolute():
            path = root / path
        real = Path(os.path.realpath(path))
    except (ValueError, RuntimeError) as err:  # NUL byte, lone surrogate, unknown ~user
        raise DatasetError(f"{what} {body!r} is not a usable path ({err})") from None
    if root is not None:
        allowed = [root]
        if allow_uploads:
            allowed.append(Path(os.path.realpath(config.uploads_dir())))
        if not any(_inside(real, a) for a in allowed):
            shown = f"{body!r}" + (f" (resolves to {real})" if str(real) != body else "")
            raise SecurityError(f"{what} {shown} is outside DA_DATA_ROOT={root}; only paths inside it are read")
    try:
        real.stat()
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as err:  # name too long, permission denied, ...
        raise DatasetError(f"{what} {body!r} cannot be used: {err.strerror or err}") from None
    return real


def _junk(name: str) -> bool:
    """Names dropped without counting: dotfiles (``.DS_Store``, ``._x``), ``__MACOSX`` and OS clutter."""
    return name.startswith(".") or name in JUNK_NAMES


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _scan_folder(root: Path, allowed: Path | None, report: LoadReport) -> list[tuple[str, Path]]:
    """All non-junk files under ``root`` as (relative posix path, path), following symlinks safely.

    A symlink leading outside ``allowed`` (DA_DATA_ROOT) is skipped and reported; linked folders are
    visited once (no loops).
    """
    found: list[tuple[str, Path]] = []
    seen = {os.path.realpath(root)}
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack:
        folder, rel = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            report.skip(rel or ".", f"cannot list folder: {err.strerror or err}")
            continue
        for entry in entries:
            if _junk(entry.name):
                continue
            path = f"{rel}{entry.name}"
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir()
            except OSError as err:
                report.skip(path, f"cannot read: {err.strerror or err}")
                continue
            if is_link:
                real = os.path.realpath(entry.path)
                if allowed is not None and not _inside(Path(real), allowed):
                    report.skip(path, f"symbolic link to a path outside DA_DATA_ROOT={allowed}")
                    continue
                if not os.path.exists(real):
                    report.skip(path, "broken symbolic link")
                    continue
                if is_dir and real in seen:
                    continue
            if is_dir:
                seen.add(os.path.realpath(entry.path))
                stack.append((Path(entry.path), path + "/"))
            elif not entry.is_file():  # a pipe would block the loader, a device never end
                report.skip(path, "not a regular file (a device, pipe or socket)")
            else:
                found.append((path, Path(entry.path)))
    return found


# -------------------------------------------------------------------------------------------- zips


_DRIVE = re.compile(r"^[A-Za-z]:")


def check_archive(infos: list[zipfile.ZipInfo], label: str = "zip archive") -> None:
    """Refuse a whole archive (:class:`SecurityError`) before anything is read from it.

    Refused: more entries than ``DA_MAX_ARCHIVE_FILES``, a total declared uncompressed size above
    ``DA_MAX_ARCHIVE_BYTES``, an absolute entry name or one with a ``..`` component, a symlink entry.
    """
    max_files = config.max_archive_files()
    if len(infos) > max_files:
        raise SecurityError(
            f"{label} refused: it holds {len(infos):,} entries, over the cap of {max_files:,} "
            "(DA_MAX_ARCHIVE_FILES)"
        )
    total = sum(max(int(i.file_size), 0) for i in infos)
    max_bytes = config.max_archive_bytes()
    if total > max_bytes:
        raise SecurityError(
            f"{label} refused: its entries declare {total:,} bytes uncompressed, over the cap of "
            f"{max_bytes:,} bytes (DA_MAX_ARCHIVE_BYTES); nothing was extracted"
        )
    for info in infos:
        name = info.filename
        parts = re.split(r"[/\\]", name)
        if name.startswith(("/", "\\")) or _DRIVE.match(name) or ".." in parts:
            raise SecurityError(
                f"{label} refused: entry {name!r} points outside the archive folder (absolute path or "
                "'..'); nothing was extracted"
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise SecurityError(f"{label} refused: entry {name!r} is a symbolic link; nothing was extracted")


def read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: str = "zip archive") -> bytes:
    """The bytes of one entry, never more than its declared size (a longer stream refuses the archive)."""
    if info.flag_bits & 0x1:
        raise ValueError("encrypted (password-protected) entry")
    with zf.open(info) as fh:
        data = fh.read(info.file_size + 1)
    if len(data) > info.file_size:
        raise SecurityError(
            f"{label} refused: entry {info.filename!r} holds more than the {info.file_size:,} bytes "
            "its header declares"
        )
    return data


def _strip_wrapper(entries: list[_Entry], report: LoadReport) -> list[_Entry]:
    """Drop one top-level folder wrapping everything, when the class folders are inside it."""
    useful = [e for e in entries if e[1] and not any(_junk(p) for p in e[1])]
    tops = {parts[0] for _, parts, _ in useful}
    if len(tops) != 1 or any(len(parts) < 2 for _, parts, _ in useful):
        return entries
    if not any(len(parts) >= 3 and _is_image_name(parts[-1]) for _, parts, _ in useful):
        return entries  # the single folder is itself a class: keep it (a one-class error is clearer)
    top = next(iter(tops))
    report.notes.append(f"the archive's single top-level folder {top + '/'!r} was used as the dataset root")
    return [(path, parts[1:] if parts and parts[0] == top else parts, ref) for path, parts, ref in entries]


# ------------------------------------------------------------------------------------------ layout


def _layout(entries: list[_Entry], report: LoadReport, label: str) -> tuple[list[str], list[_Item]]:
    """Classes (sub-folders holding images, sorted) and the image items; other files ignored and counted."""
    by_class: dict[str, list[tuple[str, Any]]] = {}
    top_images = 0
    for path, parts, ref in entries:
        if not parts or any(_junk(p) for p in parts):
            continue
        if len(parts) == 1:
            top_images += _is_image_name(parts[0])
            report.ignore(path)
        elif not _is_image_name(parts[-1]):
            report.ignore(path)
        else:
            by_class.setdefault(parts[0], []).append((path, ref))
    if not by_class:
        found = []
        if top_images:
            found.append(f"{top_images} image(s) at the top level, which need a class sub-folder")
        if report.ignored - top_images:
            found.append(f"{report.ignored - top_images} other file(s) ignored")
        if report.skipped:
            found.append(f"{len(report.skipped)} unreadable")
        detail = "; found " + ", ".join(found) if found else "; it holds no files"
        raise DatasetError(
            f"{label} has no images in class sub-folders: expected CLASS/IMAGE with one sub-folder per class "
            f"and images of type {', '.join(IMAGE_EXTENSIONS)}{detail}"
        )
    if top_images:
        report.notes.append(f"{top_images} image(s) at the top level ignored: each class needs a sub-folder")
    classes = sorted(by_class)
    items = [_Item(path, label_idx, ref)
             for label_idx, name in enumerate(classes)
             for path, ref in sorted(by_class[name], key=lambda e: e[0])]
    return classes, items


# ----------------------------------------------------------------------------------------- decoding


DECODE_BATCH = 256  # images decoded together (by a thread pool: PIL's decoders release the GIL)


def _decode_items(items: list[_Item], classes: list[str], spec: DatasetSpec, progress: Progress,
                  report: LoadReport, read: Callable[[_Item], Any]) -> Dataset:
    """Subset (before decoding: ``n``, then ``DA_MAX_MEMORY``), decode in batches, convert and resize the items
    into a :class:`Dataset`.  Only one batch of full-size images exists at a time; each is written, resized, into
    one array of the final size, so the peak is about that array (see ``benchmarks/bench_scale.py``)."""
    import warnings
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    # once per load, process-wide (``warnings.catch_warnings`` is not thread-safe, and images decode on a thread
    # pool): PIL's decompression-bomb warning says what decode_image's own pixel cap already checks
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    size = int(spec.options.get("size", 64))
    fit = str(spec.options.get("fit", "crop"))
    channels = str(spec.options.get("channels", "auto"))
    seed = int(spec.options.get("seed", 0))
    depth = 1 if channels == "1" else 3
    chosen = within_memory([it.label for it in items], spec.options.get("n"), seed, depth * size * size, report)
    picked = [items[int(i)] for i in chosen]
    total = len(picked)
    progress(0.0, f"decoding {total} images in {len(classes)} classes")
    out = np.zeros((total, depth, size, size), dtype=np.uint8)
    grey_all = True
    rows: list[dict[str, Any]] = []
    labels: list[int] = []
    cap = config.max_image_pixels()

    def one(item: _Item) -> tuple[Any, LoadReport]:
        """Decode one item; what it skipped goes to a report of its own, merged in item order below."""
        mine = LoadReport()
        try:
            source = read(item)
        except SecurityError:
            raise
        except Exception as err:  # a damaged entry must not stop the rest
            mine.skip(item.path, f"cannot read archive entry: {_why(err)}")
            return None, mine
        return decode_image(source, item.path, size, fit, channels == "1", cap, mine), mine

    kept = 0  # decoded images are packed to the front as they come, so no second array is needed
    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        step = max(1, min(DECODE_BATCH, total // 20))  # at least 20 progress updates
        for start in range(0, total, step):
            batch = picked[start:start + step]
            for item, (decoded, mine) in zip(batch, pool.map(one, batch) if workers > 1 else map(one, batch),
                                             strict=True):
                report.skipped.extend(mine.skipped)
                if decoded is None:
                    continue
                arr, is_grey, (w, h, mode) = decoded
                out[kept] = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
                grey_all = grey_all and is_grey
                labels.append(item.label)
                rows.append({"path": item.path, "orig_width": w, "orig_height": h, "orig_mode": mode,
                             "uid": item.path})
                kept += 1
            done = min(total, start + step)
            progress(done / max(total, 1), f"decoded {done}/{total} images")
    out = out[:kept]  # a view: the front of the one array
    if channels == "auto" and grey_all:
        out = np.ascontiguousarray(out[:, :1])
    meta = pd.DataFrame(rows, columns=META_COLUMNS)
    return make_dataset(out, np.array(labels, dtype=np.int64), classes, str(spec), meta, report)


def _why(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def decode_image(source: Any, path: str, size: int, fit: str, grey: bool, max_pixels: int,
                 report: LoadReport) -> tuple[np.ndarray, bool, tuple[int, int, str]] | None:
    """Decode one image into a size x size uint8 array (H x W, or H x W x 3); None when skipped.

    The pixel count is checked before decoding; any decoding failure is recorded with
    ``report.skip``.  Returns (array, whether the image is grey, (original width, height, mode)).  The caller
    silences PIL's decompression-bomb warning (:func:`_decode_items`); the project's own cap is checked here.
    """
    from PIL import Image

    if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = max_pixels  # never let PIL's own (lower) guard override the project's cap
    try:
        img = Image.open(source, formats=PIL_FORMATS)
    except Image.DecompressionBombError as err:
        found = re.search(r"\((\d+) pixels\)", str(err))
        count = f"{int(found.group(1)):,} pixels" if found else "image size"
        report.skip(path, f"{count} exceeds the cap of {max_pixels:,} pixels (decompression bomb guard)")
        return None
    except Image.UnidentifiedImageError:
        report.skip(path, "not a readable PNG, JPEG, BMP, WebP or TIFF image (corrupt or unknown format)")
        return None
    except Exception as err:
        report.skip(path, f"cannot open image: {_why(err)}")
        return None
    with img:
        w, h = img.size
        mode = img.mode
        if w * h > max_pixels:
            report.skip(path, f"{w}x{h} = {w * h:,} pixels exceeds the cap of {max_pixels:,} pixels "
                              "(DA_MAX_IMAGE_PIXELS; decompression bomb guard)")
            return None
        try:
            if img.format == "JPEG" and mode in ("L", "RGB", "CMYK"):
                img.draft(None, (size, size))  # decode at a reduced scale when much larger than needed
            img.load()  # decodes fully (first frame): corrupt or truncated data fails here
            pic, is_grey = to_8bit(_oriented(img))
            if grey and not is_grey:
                pic, is_grey = pic.convert("L"), True
            arr = np.asarray(fit_square(pic, size, fit), dtype=np.uint8)
        except Exception as err:  # PIL raises many types for broken files; none may stop the load
            reason = "truncated or corrupt image" if "truncated" in str(err) else "corrupt image"
            report.skip(path, f"{reason}: {_why(err)}")
            return None
    if arr.ndim == 3 and not is_grey and (arr[..., :1] == arr[..., 1:]).all():
        is_grey = True  # RGB data that is grey in content
    return arr, is_grey, (int(w), int(h), str(mode))


def _oriented(img: PILImage.Image) -> PILImage.Image:
    """Apply the EXIF orientation tag (phone photos); a broken EXIF block is ignored."""
    from PIL import ImageOps

    try:
        if img.getexif().get(0x0112, 1) in (2, 3, 4, 5, 6, 7, 8):
            return ImageOps.exif_transpose(img)
    except Exception:  # EXIF is optional metadata: use the pixels as stored
        pass
    return img


def _over_black(arr: np.ndarray) -> np.ndarray:
    """Composite an (..., C + alpha) uint8 array over black."""
    alpha = arr[..., -1:].astype(np.uint16)
    return ((arr[..., :-1].astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)


def _scale(values: np.ndarray) -> np.ndarray:
    """Map an array to 0..255 by its own min..max (a constant image keeps its value, clipped)."""
    values = values.astype(np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(values.shape, dtype=np.uint8)
    lo, hi = float(finite.min()), float(finite.max())
    values = np.nan_to_num(values, nan=lo, posinf=hi, neginf=lo)
    if hi <= lo:
        return np.full(values.shape, int(np.clip(round(lo), 0, 255)), dtype=np.uint8)
    return np.round((values - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def to_8bit(img: PILImage.Image) -> tuple[PILImage.Image, bool]:
    """Convert any PIL mode to 8-bit ``L`` or ``RGB`` (see the module docstring); returns (image, is_grey)."""
    from PIL import Image

    mode = img.mode
    if mode == "L" and "transparency" not in img.info:
        return img, True
    if mode == "1":
        return img.convert("L"), True
    if mode in ("L", "LA", "La"):
        return Image.fromarray(_over_black(np.asarray(img.convert("LA")))[..., 0], "L"), True
    if mode.startswith("I;16"):
        values = np.asarray(img).astype(np.uint32)
        return Image.fromarray(((values * 255 + 32767) // 65535).astype(np.uint8), "L"), True
    if mode in ("I", "F"):
        values = np.asarray(img)
        if mode == "F" and values.size and np.nanmin(values) >= 0 and np.nanmax(values) <= 1:
            return Image.fromarray(np.round(np.nan_to_num(values) * 255).astype(np.uint8), "L"), True
        return Image.fromarray(_scale(values), "L"), True
    if mode == "RGB" and "transparency" not in img.info:
        return img, False
    if mode in ("P", "PA", "RGB", "RGBA", "RGBa"):
        return Image.fromarray(_over_black(np.asarray(img.convert("RGBA"))), "RGB"), False
    return img.convert("RGB"), False  # CMYK, YCbCr, LAB, HSV, ...


def fit_square(img: PILImage.Image, size: int, fit: str) -> PILImage.Image:
    """Make an image size x size: ``crop`` the centre square, ``pad`` with black, or ``stretch``."""
    from PIL import Image

    w, h = img.size
    resample = Image.Resampling.BILINEAR  # antialiased when shrinking, like resize_batch
    if fit == "stretch" or w == h:
        return img.resize((size, size), resample, reducing_gap=3.0)
    if fit == "crop":
        side = min(w, h)
        left, top = (w - side) / 2, (h - side) / 2
        return img.resize((size, size), resample, box=(left, top, left + side, top + side), reducing_gap=3.0)
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    canvas = Image.new(img.mode, (size, size), 0)
    canvas.paste(img.resize((nw, nh), resample, reducing_gap=3.0), ((size - nw) // 2, (size - nh) // 2))
    return canvas
