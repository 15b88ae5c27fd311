"""folder: and zip: sources: good data in every format and mode, and each kind of bad input."""

from __future__ import annotations

import io
import os
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from da_core.data import load_dataset
from da_core.errors import DatasetError, SecurityError

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".webp": "WEBP", ".tif": "TIFF",
           ".tiff": "TIFF"}


def image_bytes(img: Image.Image, ext: str = ".png", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=FORMATS[ext.lower()], **kw)
    return buf.getvalue()


def grey(value: int = 128, size: tuple[int, int] = (16, 16)) -> Image.Image:
    return Image.new("L", size, value)


def rgb(colour: tuple[int, int, int] = (200, 30, 60), size: tuple[int, int] = (16, 16)) -> Image.Image:
    return Image.new("RGB", size, colour)


def noise(seed: int, size: int = 16) -> Image.Image:
    arr = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return Image.fromarray(arr, "RGB")


def write(root: Path, files: dict[str, bytes | Image.Image]) -> Path:
    """Write files (bytes, or an image saved by extension) under root; return root."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Image.Image):
            content = image_bytes(content, path.suffix)
        path.write_bytes(content)
    root.mkdir(parents=True, exist_ok=True)
    return root


def make_zip(path: Path, files: dict[str, bytes | Image.Image]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in files.items():
            if isinstance(content, Image.Image):
                content = image_bytes(content, os.path.splitext(name)[1])
            zf.writestr(zipfile.ZipInfo(name), content)
    return path


def two_classes(k: int = 3) -> dict[str, bytes | Image.Image]:
    files: dict[str, bytes | Image.Image] = {}
    for i in range(k):
        files[f"cat/c{i}.png"] = rgb((200, 10 * i, 0))
        files[f"dog/d{i}.png"] = rgb((0, 10 * i, 200))
    return files


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# ------------------------------------------------------------------------------------------- good data


def test_folder_with_every_format_and_mode_loads(tmp_path: Path) -> None:
    palette = Image.new("P", (16, 16), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    rgba = Image.new("RGBA", (16, 16), (255, 255, 255, 0))
    i16 = Image.fromarray(np.full((16, 16), 65535, dtype=np.uint16))
    root = write(tmp_path / "ds", {
        "a/grey.png": grey(100),
        "a/photo.jpg": rgb(),
        "a/Photo2.JPEG": rgb(),
        "a/alpha.png": rgba,
        "b/palette.bmp": palette,
        "b/deep.png": i16,
        "b/deep.tif": i16,
        "b/bits.png": Image.new("1", (16, 16), 1),
        "c/web.webp": rgb(),
        "c/multi.TIFF": rgb(),
        "c/la.png": Image.new("LA", (16, 16), (255, 128)),
        "c/cmyk.jpg": Image.new("CMYK", (16, 16), (0, 255, 255, 0)),
        "c/float.tif": Image.fromarray(np.linspace(0, 1, 256, dtype=np.float32).reshape(16, 16)),
    })
    ds = load_dataset(f"folder:{root}?size=16")
    assert ds.classes == ["a", "b", "c"]
    assert len(ds) == 13 and ds.shape == (3, 16, 16)
    assert ds.counts == {"a": 4, "b": 4, "c": 5}
    assert not ds.report.skipped and ds.report.ignored == 0
    assert list(ds.meta.columns) == ["path", "orig_width", "orig_height", "orig_mode", "uid"]
    px = {row.path: ds.images[i, :, 8, 8].tolist() for i, row in ds.meta.iterrows()}
    modes = dict(zip(ds.meta["path"], ds.meta["orig_mode"], strict=True))
    assert modes["b/deep.png"] == "I;16" and modes["b/palette.bmp"] == "P" and modes["c/float.tif"] == "F"
    assert px["a/alpha.png"] == [0, 0, 0]  # fully transparent -> black
    assert px["b/palette.bmp"] == [255, 0, 0]
    assert px["b/deep.png"] == [255] * 3 and px["b/deep.tif"] == [255] * 3  # 65535 -> 255
    assert px["b/bits.png"] == [255] * 3
    assert px["c/la.png"] == [128] * 3  # 255 at half alpha over black
    assert px["a/grey.png"] == [100] * 3
    assert all(ds.meta["orig_width"] == 16)


def test_zip_loads_in_memory_without_writing(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "ds.zip", {**two_classes(), "cat/x.jpg": rgb(), "dog/y.webp": rgb()})
    before = tree(tmp_path)
    ds = load_dataset(f"zip:{archive}?size=8")
    assert ds.classes == ["cat", "dog"] and len(ds) == 8 and ds.shape == (3, 8, 8)
    assert tree(tmp_path) == before


def test_zip_wrapped_in_one_top_folder_loads(tmp_path: Path) -> None:
    files = {f"wrap/{k}": v for k, v in two_classes().items()}
    files["__MACOSX/wrap/cat/._c0.png"] = b"junk"
    files["wrap/.DS_Store"] = b"junk"
    ds = load_dataset(f"zip:{make_zip(tmp_path / 'w.zip', files)}?size=8")
    assert ds.classes == ["cat", "dog"] and len(ds) == 6
    assert ds.report.ignored == 0 and ds.meta["path"][0] == "wrap/cat/c0.png"


def test_channels_auto_one_and_three(tmp_path: Path) -> None:
    greys = write(tmp_path / "g", {"a/1.png": grey(10), "a/2.jpg": grey(20), "b/1.png": rgb((90, 90, 90))})
    ds = load_dataset(f"folder:{greys}?size=8")
    assert ds.shape == (1, 8, 8)  # grey modes and RGB with equal channels count as grey
    three = load_dataset(f"folder:{greys}?size=8&channels=3")
    assert three.shape == (3, 8, 8) and bool((three.images[:, 0] == three.images[:, 2]).all())
    mixed = write(tmp_path / "m", {"a/1.png": grey(10), "b/1.png": rgb((255, 0, 0))})
    assert load_dataset(f"folder:{mixed}?size=8").shape == (3, 8, 8)
    one = load_dataset(f"folder:{mixed}?size=8&channels=1")
    assert one.shape == (1, 8, 8)
    assert int(one.images[1, 0, 4, 4]) == 76  # luma of pure red (0.299 * 255)


def test_size_and_fit(tmp_path: Path) -> None:
    wide = np.zeros((8, 16), dtype=np.uint8)
    wide[:, :8] = 255  # left half white, right half black
    root = write(tmp_path / "f", {"a/wide.png": Image.fromarray(wide, "L"), "b/sq.png": grey(50)})
    crop = load_dataset(f"folder:{root}?size=8").images[0, 0].numpy()
    assert crop[:, :3].min() == 255 and crop[:, 5:].max() == 0  # centre 8x8 of the 16x8 image
    pad = load_dataset(f"folder:{root}?size=8&fit=pad").images[0, 0].numpy()
    assert pad[:2].max() == 0 and pad[6:].max() == 0 and pad[2:6, :3].min() == 255  # letterboxed
    stretch = load_dataset(f"folder:{root}?size=8&fit=stretch").images[0, 0].numpy()
    assert stretch[:, :3].min() == 255 and stretch[:, 5:].max() == 0 and stretch[0, 0] == 255
    big = load_dataset(f"folder:{root}?size=32")
    assert big.shape == (1, 32, 32)


def test_animated_image_gives_first_frame(tmp_path: Path) -> None:
    buf = io.BytesIO()
    rgb((255, 0, 0)).save(buf, format="PNG", save_all=True, append_images=[rgb((0, 255, 0))])
    root = write(tmp_path / "anim", {"a/anim.png": buf.getvalue(), "b/x.png": grey()})
    ds = load_dataset(f"folder:{root}?size=8")
    assert ds.images[0, :, 4, 4].tolist() == [255, 0, 0]


def test_n_subset_decodes_only_the_chosen_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write(tmp_path / "n", two_classes(6))
    opened: list[object] = []
    real_open = Image.open

    def counting_open(fp, *args, **kwargs):
        opened.append(fp)
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", counting_open)
    ds = load_dataset(f"folder:{root}?size=8&n=4&seed=3")
    assert len(ds) == 4 and ds.counts == {"cat": 2, "dog": 2} and len(opened) == 4
    again = load_dataset(f"folder:{root}?size=8&n=4&seed=3")
    assert list(again.meta["path"]) == list(ds.meta["path"])


def test_progress_is_reported(tmp_path: Path) -> None:
    root = write(tmp_path / "p", two_classes(20))
    calls: list[tuple[float, str]] = []
    load_dataset(f"folder:{root}?size=8", lambda f, m: calls.append((f, m)))
    fractions = [f for f, _ in calls]
    assert len(calls) >= 10 and fractions == sorted(fractions) and fractions[-1] == 1.0


# ------------------------------------------------------------------------------------------- bad files


def test_corrupt_and_truncated_files_are_skipped(tmp_path: Path) -> None:
    png = image_bytes(noise(0, 32))
    root = write(tmp_path / "bad", {
        **two_classes(),
        "cat/corrupt.png": b"\x89PNG\r\n\x1a\n this is not really a png",
        "dog/truncated.png": png[: len(png) * 2 // 3],
        "dog/garbage.jpg": os.urandom(300),
    })
    ds = load_dataset(f"folder:{root}?size=8")
    assert len(ds) == 6
    skipped = {s.path: s.reason for s in ds.report.skipped}
    assert set(skipped) == {"cat/corrupt.png", "dog/truncated.png", "dog/garbage.jpg"}
    assert "truncated" in skipped["dog/truncated.png"]
    assert "corrupt" in skipped["cat/corrupt.png"] or "not a readable" in skipped["cat/corrupt.png"]


def test_non_image_files_are_ignored_and_counted(tmp_path: Path) -> None:
    root = write(tmp_path / "mixed", {
        **two_classes(),
        "README.md": b"top level",
        "top.png": grey(),
        "cat/notes.txt": b"x",
        "dog/table.csv": b"a,b",
        "dog/nested.zip": b"PK\x05\x06" + b"\0" * 18,
        ".DS_Store": b"junk",
        "cat/._c0.png": b"junk",
        "__MACOSX/cat/c0.png": b"junk",
        ".hidden/x.png": grey(),
    })
    ds = load_dataset(f"folder:{root}?size=8")
    assert len(ds) == 6 and ds.classes == ["cat", "dog"]
    assert ds.report.ignored == 5 and not ds.report.skipped
    assert "top.png" in ds.report.ignored_examples
    assert any("top level" in note for note in ds.report.notes)


def test_image_past_pixel_cap_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DA_MAX_IMAGE_PIXELS", "300")
    root = write(tmp_path / "px", {**two_classes(), "cat/big.png": grey(size=(20, 20))})
    ds = load_dataset(f"folder:{root}?size=8")
    assert len(ds) == 6
    (skip,) = ds.report.skipped
    assert skip.path == "cat/big.png" and "400 pixels exceeds the cap of 300" in skip.reason


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height (its data is far too short)."""
    data = bytearray(image_bytes(grey(size=(1, 1))))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


@pytest.mark.parametrize("side", [10_000, 100_000])
def test_decompression_bomb_header_is_refused_before_decoding(tmp_path: Path, side: int) -> None:
    # 10k^2 passes the default cap but not PIL's own hard limit; 100k^2 passes both.
    root = write(tmp_path / "bomb", {**two_classes(), "cat/bomb.png": bomb_png(side, side)})
    ds = load_dataset(f"folder:{root}?size=8")
    assert len(ds) == 6
    (skip,) = ds.report.skipped
    assert skip.path == "cat/bomb.png" and f"{side * side:,} pixels exceeds the cap of" in skip.reason


# ------------------------------------------------------------------------------------------- bad zips


@pytest.mark.parametrize("evil", ["../evil.png", "/abs.png", "cat/../../evil.png", "C:/evil.png",
                                  "\\evil.png", "cat\\..\\..\\evil.png"])
def test_zip_entry_escaping_the_folder_is_refused(tmp_path: Path, evil: str) -> None:
    archive = make_zip(tmp_path / "evil.zip", {**two_classes(), evil: grey()})
    before = tree(tmp_path)
    with pytest.raises(SecurityError, match="refused") as err:
        load_dataset(f"zip:{archive}")
    assert repr(evil) in str(err.value)
    assert tree(tmp_path) == before and tree(tmp_path.parent).count("evil.png") == 0


def test_zip_symlink_entry_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    make_zip(archive, two_classes())
    with zipfile.ZipFile(archive, "a") as zf:
        info = zipfile.ZipInfo("cat/link.png")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(SecurityError, match="'cat/link.png' is a symbolic link"):
        load_dataset(f"zip:{archive}")


def forbid_entry_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, record (and fail) any attempt to read a zip entry."""
    calls: list[str] = []

    def forbidden(self, name, *args, **kwargs):
        calls.append(str(name))
        raise AssertionError("an entry was read before the archive was checked")

    monkeypatch.setattr(zipfile.ZipFile, "open", forbidden)
    return calls


def test_zip_past_byte_cap_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = make_zip(tmp_path / "big.zip", {**two_classes(), "cat/zeros.bmp": b"\0" * 50_000})
    no_entry_reads = forbid_entry_reads(monkeypatch)
    monkeypatch.setenv("DA_MAX_ARCHIVE_BYTES", "10000")
    with pytest.raises(SecurityError, match=r"over the cap of 10,000 bytes") as err:
        load_dataset(f"zip:{archive}")
    assert "DA_MAX_ARCHIVE_BYTES" in str(err.value) and no_entry_reads == []


def test_zip_past_file_count_cap_is_refused_before_reading(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    archive = make_zip(tmp_path / "many.zip", two_classes(4))
    no_entry_reads = forbid_entry_reads(monkeypatch)
    monkeypatch.setenv("DA_MAX_ARCHIVE_FILES", "5")
    with pytest.raises(SecurityError, match=r"8 entries, over the cap of 5"):
        load_dataset(f"zip:{archive}")
    assert no_entry_reads == []


def test_zip_entry_larger_than_declared_is_not_used(tmp_path: Path) -> None:
    # Shrink the declared size in both headers: the reader stops at the declared size and the entry fails.
    archive = make_zip(tmp_path / "lie.zip", {**two_classes(), "cat/liar.bmp": grey(size=(16, 16))})
    raw = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("cat/liar.bmp")
    true_size = info.file_size
    central = raw.rfind(b"cat/liar.bmp") - 46  # the central directory record (46 bytes, then the name)
    assert raw[central:central + 4] == b"PK\x01\x02"
    struct.pack_into("<I", raw, info.header_offset + 22, 100)  # the local header
    struct.pack_into("<I", raw, central + 24, 100)
    archive.write_bytes(bytes(raw))
    assert true_size > 100
    ds = load_dataset(f"zip:{archive}?size=8")
    assert len(ds) == 6 and [s.path for s in ds.report.skipped] == ["cat/liar.bmp"]
    assert "cannot read archive entry" in ds.report.skipped[0].reason


def test_zip_stream_longer_than_declared_refuses_the_archive(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # A reader that yields more than the header declares (the stdlib stops itself; this is the last guard).
    archive = make_zip(tmp_path / "long.zip", two_classes())
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, info, *a, **k: io.BytesIO(b"x" * 10_000))
    with pytest.raises(SecurityError, match=r"'cat/c0.png' holds more than the \S+ bytes"):
        load_dataset(f"zip:{archive}")


def test_corrupt_zip_is_a_dataset_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DatasetError, match="not a readable zip archive"):
        load_dataset(f"zip:{bad}")


# ------------------------------------------------------------------------------------- bad datasets


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        load_dataset(f"folder:{tmp_path / 'empty'}")


def test_all_images_unreadable_is_an_error(tmp_path: Path) -> None:
    root = write(tmp_path / "dead", {"a/x.png": b"nope", "b/y.png": b"nope"})
    with pytest.raises(DatasetError, match="empty.*2 files skipped"):
        load_dataset(f"folder:{root}")


def test_one_class_folder_is_an_error(tmp_path: Path) -> None:
    root = write(tmp_path / "one", {"cat/a.png": grey(), "cat/b.png": grey()})
    with pytest.raises(DatasetError, match="single class"):
        load_dataset(f"folder:{root}")


def test_missing_path_not_a_folder_not_a_zip(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'nowhere'}")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DatasetError, match="not a folder"):
        load_dataset(f"folder:{tmp_path / 'file.txt'}")
    with pytest.raises(DatasetError, match="not a readable zip"):
        load_dataset(f"zip:{tmp_path / 'file.txt'}")
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(f"zip:{tmp_path / 'nowhere.zip'}")
    with pytest.raises(DatasetError, match="is a folder"):
        load_dataset(f"zip:{tmp_path}")


# ----------------------------------------------------------------------------------------- data root


def test_data_root_confines_paths(tmp_path: Path, data_root: Path) -> None:
    outside = write(tmp_path / "outside", two_classes())
    with pytest.raises(SecurityError, match="outside DA_DATA_ROOT="):
        load_dataset(f"folder:{outside}")
    inside = write(data_root / "inside", two_classes())
    assert len(load_dataset(f"folder:{inside}?size=8")) == 6
    assert len(load_dataset("folder:inside?size=8")) == 6  # relative to the root
    (data_root / "sneaky").symlink_to(outside, target_is_directory=True)
    with pytest.raises(SecurityError, match="outside DA_DATA_ROOT"):
        load_dataset(f"folder:{data_root / 'sneaky'}")
    with pytest.raises(SecurityError, match="outside DA_DATA_ROOT"):
        load_dataset(f"folder:{data_root / '..' / 'outside'}")
    archive = make_zip(tmp_path / "out.zip", two_classes())
    with pytest.raises(SecurityError, match="outside DA_DATA_ROOT"):
        load_dataset(f"zip:{archive}")
    assert len(load_dataset(f"zip:{make_zip(data_root / 'in.zip', two_classes())}?size=8")) == 6


def test_link_inside_folder_leading_outside_root_is_skipped(tmp_path: Path, data_root: Path) -> None:
    secret = write(tmp_path / "secret", {"s.png": grey()})
    inside = write(data_root / "ds", two_classes())
    (inside / "cat" / "leak.png").symlink_to(secret / "s.png")
    ds = load_dataset(f"folder:{inside}?size=8")
    assert len(ds) == 6
    assert [s.path for s in ds.report.skipped] == ["cat/leak.png"]
    assert "outside DA_DATA_ROOT" in ds.report.skipped[0].reason


def test_uploaded_zip_is_allowed_under_data_root(data_root: Path) -> None:
    from da_core import config

    archive = make_zip(config.uploads_dir() / "upload-test.zip", two_classes())
    try:
        assert len(load_dataset(f"zip:{archive}?size=8")) == 6
        with pytest.raises(SecurityError):
            load_dataset(f"folder:{config.uploads_dir()}")
    finally:
        archive.unlink()


# ------------------------------------------------------------------------------------------ memory cap


def test_a_folder_past_the_memory_cap_is_subsampled_and_says_so(tmp_path, monkeypatch):
    files = {f"a/{i}.png": noise(i) for i in range(30)} | {f"b/{i}.png": noise(100 + i) for i in range(10)}
    root = write(tmp_path / "big", files)
    full = load_dataset(f"folder:{root}?size=8")
    assert len(full) == 40 and not full.report.notes
    monkeypatch.setenv("DA_MAX_MEMORY", str(20 * 3 * 8 * 8))  # room for 20 RGB 8x8 images
    ds = load_dataset(f"folder:{root}?size=8")
    assert len(ds) == 20
    assert ds.counts == {"a": 15, "b": 5}  # class proportions kept
    assert any("subsampled to 20 of 40 images" in n and "DA_MAX_MEMORY" in n for n in ds.report.notes)
    assert set(ds.uids) <= set(full.uids)
    again = load_dataset(f"folder:{root}?size=8")
    assert again.uids == ds.uids  # seeded: the same subsample every time
    monkeypatch.setenv("DA_MAX_MEMORY", "1M")
    assert len(load_dataset(f"folder:{root}?size=8")) == 40


def test_decoding_in_parallel_keeps_the_order_and_the_skips(tmp_path):
    files = {f"c/{i:03d}.png": grey(i) for i in range(60)} | {"c/bad.png": b"not an image", "c/zz.png": b"\x89PNG",
                                                             "d/x.png": grey(200)}
    root = write(tmp_path / "order", files)
    ds = load_dataset(f"folder:{root}?size=8")
    assert ds.meta["path"].tolist() == [f"c/{i:03d}.png" for i in range(60)] + ["d/x.png"]
    assert ds.images[:, 0, 0, 0].tolist() == list(range(60)) + [200]  # each image in its own row
    assert [s.path for s in ds.report.skipped] == ["c/bad.png", "c/zz.png"]


@pytest.mark.parametrize("text, expected", [("2G", 2 << 30), ("512M", 512 << 20), ("100k", 100 << 10),
                                            ("1.5GiB", 3 << 29), ("4096", 4096)])
def test_memory_sizes_parse(text, expected):
    from da_core.config import parse_bytes

    assert parse_bytes(text) == expected


def test_a_bad_memory_cap_falls_back_to_the_default(monkeypatch):
    from da_core import config

    monkeypatch.delenv("DA_MAX_MEMORY", raising=False)
    default = config.max_memory()
    assert 0 < default <= 2 << 30
    monkeypatch.setenv("DA_MAX_MEMORY", "lots")
    assert config.max_memory() == default
