"""Fault suite, loaders: random and truncated bytes, odd image modes and sizes, huge declared sizes and
malformed spec strings thrown at parse_spec, resolve, folder:, zip: and the upload path.

Every case either loads (and the dataset keeps its invariants) or fails with a DAError whose message is
one line; never another exception, and never a write outside DA_CACHE_DIR.
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest
from _fault import check_dataset, clean_load, encode, outcome, sandbox, write_files, zip_bytes
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from da_core.data import parse_spec, resolve
from da_core.data.files import save_upload
from da_core.data.spec import SCHEMES, DatasetSpec
from da_core.errors import DatasetError, SecurityError, SpecError

# PIL warns about the broken TIFF headers it is fed here; the loader reports those files as skipped.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
QUICK = settings(max_examples=150, deadline=None)

EXT = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp", "WEBP": ".webp", "TIFF": ".tif"}


def plain(value: int, size: tuple[int, int] = (6, 6)) -> bytes:
    return encode(Image.new("L", size, value), "PNG")


# ------------------------------------------------------------------------------------------ spec strings

# Characters that mean something in a spec, plus some that make paths unusable (NUL, very long names).
SPEC_ALPHABET = st.sampled_from(list("?&=%:/\\. ~-_aZ09é\t ") + ["%00", "%3F", "%25", "%zz", "\x00", "..", "a" * 300])
fragments = st.lists(SPEC_ALPHABET, max_size=12).map("".join)
schemes = st.sampled_from([*SCHEMES, "FOLDER", " Zip ", "ftp", "", "builtin ", "file"])
option_keys = st.sampled_from(["n", "seed", "size", "channels", "fit", "root", "split", "kind", "severity",
                               "colour", "", " n", "n "])
option_values = st.one_of(
    fragments,
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["auto", "1", "3", "crop", "pad", "stretch", "1e3", "nan", "inf", "0x10", "١٢", "true"]),
)
options = st.lists(st.tuples(option_keys, st.sampled_from(["=", ""]), option_values), max_size=4).map(
    lambda kvs: "&".join(k + eq + v for k, eq, v in kvs))
spec_texts = st.one_of(
    st.text(max_size=40),
    st.builds(lambda s, c, b, q, o: f"{s}{c}{b}{q}{o}", schemes, st.sampled_from([":", "", "::"]), fragments,
              st.sampled_from(["?", "", "??"]), options),
)


@QUICK
@given(spec_texts)
def test_parse_spec_accepts_or_names_the_problem(text: str) -> None:
    spec, err = outcome(lambda: parse_spec(text))
    if err is not None:
        assert isinstance(err, SpecError)
        return
    assert spec.scheme in SCHEMES and spec.body
    # the canonical string (what the app stores and shows) parses back to the same spec
    assert parse_spec(str(spec)) == spec


@QUICK
@given(spec_texts)
def test_resolve_accepts_or_names_the_problem(text: str) -> None:
    resolved, err = outcome(lambda: resolve(text))
    if err is not None:
        assert isinstance(err, SpecError)
        return
    source, spec = resolved
    assert spec.scheme == source.scheme
    assert resolve(str(spec))[1] == spec  # canonical form is a fixed point


@pytest.mark.parametrize("body", ["odd?name", "100%41 real", " padded ", "50%", "a%3Fb"])
def test_folder_names_with_spec_characters_survive_the_canonical_form(body: str) -> None:
    """The pages store ``str(resolve(spec))`` and load that string: odd folder names must survive it."""
    from da_core.data import load_dataset

    with sandbox() as box:
        folder = write_files(box.data / body, {"a/x.png": plain(10), "b/y.png": plain(200)})
        canonical = str(resolve(DatasetSpec("folder", str(folder), {"size": 8}))[1])
        ds = load_dataset(canonical)
        assert ds.classes == ["a", "b"] and parse_spec(canonical).body == str(folder)


GOOD_FILES = {"a/1.png": plain(10), "a/2.png": plain(30),
              "b/1.png": encode(Image.new("RGB", (10, 7), (200, 20, 20)), "PNG"),
              "b/2.jpg": encode(Image.new("RGB", (7, 10), (0, 90, 200)), "JPEG")}


@FAST
@given(body=st.one_of(st.just("GOOD"), fragments), query=options, scheme=st.sampled_from(["folder", "zip"]))
def test_folder_and_zip_specs_load_or_fail_cleanly(body: str, query: str, scheme: str) -> None:
    # DA_DATA_ROOT keeps random bodies ("/", "..", "~") from scanning the machine: they resolve inside the
    # sandbox's data folder or are refused.
    with sandbox(data_root=True) as box:
        write_files(box.data / "ds", GOOD_FILES)
        (box.data / "ds.zip").write_bytes(zip_bytes(GOOD_FILES))
        if body == "GOOD":
            body = str(box.data / ("ds" if scheme == "folder" else "ds.zip"))
        text = f"{scheme}:{body}" + (f"?{query}" if query else "")
        ds, err = clean_load(text, box)
    if err is None:
        spec = resolve(text)[1]
        check_dataset(ds, spec.options["size"])
        assert len(ds) == min(4, spec.options.get("n") or 4)
        if spec.options["channels"] != "auto":
            assert ds.shape[0] == int(spec.options["channels"])


# -------------------------------------------------------------------------------- random and broken bytes

def _valid(fmt: str) -> bytes:
    rng = np.random.default_rng(len(fmt))
    img = Image.fromarray(rng.integers(0, 256, (12, 9, 3), dtype=np.uint8), "RGB")
    return encode(img, fmt)


VALID = {fmt: _valid(fmt) for fmt in EXT}
MAGIC = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"II*\x00", b"MM\x00*", b"RIFF\x00\x00\x00\x00WEBPVP8 "]


@st.composite
def broken_bytes(draw: st.DrawFn) -> bytes:
    """Random bytes, a valid image cut short, a valid image with flipped bytes, or a magic number + noise."""
    kind = draw(st.sampled_from(["random", "truncated", "flipped", "magic"]))
    if kind == "random":
        return draw(st.binary(max_size=300))
    if kind == "magic":
        return draw(st.sampled_from(MAGIC)) + draw(st.binary(max_size=200))
    data = VALID[draw(st.sampled_from(sorted(VALID)))]
    if kind == "truncated":
        return data[: draw(st.integers(0, len(data) - 1))]
    out = bytearray(data)
    for pos in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=8)):
        out[pos] ^= draw(st.integers(1, 255))
    return bytes(out)


bad_files = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(sorted(EXT.values())), broken_bytes()),
                     min_size=1, max_size=5)


@FAST
@given(bad_files)
def test_broken_image_bytes_are_skipped_and_folder_zip_and_upload_agree(bad: list) -> None:
    files = {"a/good.png": plain(40), "b/good.png": plain(220)}
    files.update({f"{cls}/bad{i}{ext}": data for i, (cls, ext, data) in enumerate(bad)})
    with sandbox(data_root=True) as box:
        folder = write_files(box.data / "ds", files)
        (box.data / "ds.zip").write_bytes(zip_bytes(files))
        upload = save_upload(zip_bytes(files))
        assert upload.parent == box.cache / "uploads"
        loads = [clean_load(f"{scheme}:{path}?size=8", box)
                 for scheme, path in (("folder", folder), ("zip", box.data / "ds.zip"), ("zip", upload))]
    for ds, err in loads:
        assert err is None, err  # two good images in two classes always load
        check_dataset(ds, 8)
        assert len(ds) + len(ds.report.skipped) == len(files)  # every image file accounted for
        assert {"a/good.png", "b/good.png"} <= set(ds.meta["path"])
        assert all(s.reason for s in ds.report.skipped)
    (ref, _), *others = loads
    for ds, _ in others:  # the same files give the same dataset, wherever they come from
        assert list(ds.meta["path"]) == list(ref.meta["path"])
        assert [s.path for s in ds.report.skipped] == [s.path for s in ref.report.skipped]
        assert bool((ds.images == ref.images).all()) and bool((ds.labels == ref.labels).all())


ARCHIVE = zip_bytes({"a/1.png": plain(1), "a/2.png": plain(2), "b/1.png": plain(3), "b/2.png": plain(4)})


@st.composite
def broken_archives(draw: st.DrawFn) -> bytes:
    """Random bytes, a valid archive cut short, or a valid archive with some bytes flipped."""
    kind = draw(st.sampled_from(["random", "truncated", "flipped"]))
    if kind == "random":
        return draw(st.one_of(st.binary(max_size=400), st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b)))
    if kind == "truncated":
        return ARCHIVE[: draw(st.integers(0, len(ARCHIVE) - 1))]
    out = bytearray(ARCHIVE)
    for pos in draw(st.lists(st.integers(0, len(out) - 1), min_size=1, max_size=6)):
        out[pos] ^= draw(st.integers(1, 255))
    return bytes(out)


@FAST
@given(broken_archives())
def test_random_truncated_or_flipped_archives_load_or_fail_cleanly(blob: bytes) -> None:
    """Through the upload path: the archive is stored in the cache, then loaded with DA_DATA_ROOT set."""
    with sandbox(data_root=True) as box:
        path = save_upload(blob)
        ds, err = clean_load(f"zip:{path}?size=8", box)
    if err is None:
        check_dataset(ds, 8)
    else:
        assert isinstance(err, DatasetError)


# ------------------------------------------------------------------------------------ odd modes and sizes

GREY_MODES = {"1", "L", "LA", "I;16", "I", "F"}
MODE_FORMATS = {
    "1": ["PNG", "BMP", "TIFF", "JPEG"], "L": ["PNG", "BMP", "TIFF", "JPEG"], "LA": ["PNG", "TIFF"],
    "P": ["PNG", "BMP", "TIFF"], "P+transparency": ["PNG"], "I;16": ["PNG", "TIFF"], "I": ["TIFF"],
    "F": ["TIFF"], "CMYK": ["JPEG", "TIFF"], "RGB": ["PNG", "BMP", "TIFF", "JPEG", "WEBP"],
    "RGBA": ["PNG", "TIFF", "WEBP", "BMP"],
}
SIDES = st.one_of(st.integers(1, 40), st.sampled_from([1, 2, 3, 3000]))


def odd_image(mode: str, w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    if mode in ("P", "P+transparency"):
        img = Image.fromarray(rng.integers(1, 256, (h, w), dtype=np.uint8), "P")
        img.putpalette([c for i in range(256) for c in (i, 255 - i, 0)])  # no grey entry but black/white ends
        img.putpixel((0, 0), 100)  # (100, 155, 0): the image is never grey
        if mode == "P+transparency":
            img.info["transparency"] = 7
        return img
    if mode == "1":
        return Image.fromarray(rng.integers(0, 2, (h, w), dtype=np.uint8).astype(bool))
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16))
    if mode == "I":
        return Image.fromarray(rng.integers(-(2**31), 2**31 - 1, (h, w), dtype=np.int32))
    if mode == "F":
        return Image.fromarray(rng.normal(0, 1000, (h, w)).astype(np.float32))
    bands = len(mode)
    arr = rng.integers(0, 256, (h, w, bands), dtype=np.uint8)
    if mode in ("RGB", "RGBA"):
        arr[0, 0] = (220, 20, 20, 255)[:bands]  # one opaque red pixel: the image is never grey
    if mode == "CMYK":
        arr[0, 0] = (0, 255, 255, 0)
    return Image.fromarray(arr[..., 0] if bands == 1 else arr, mode)


@FAST
@given(mode=st.sampled_from(sorted(MODE_FORMATS)), data=st.data(), w=SIDES, h=SIDES, seed=st.integers(0, 99),
       fit=st.sampled_from(["crop", "pad", "stretch"]))
def test_odd_modes_and_sizes_load(mode: str, data: st.DataObject, w: int, h: int, seed: int, fit: str) -> None:
    assume(w * h <= 3000 * 40)  # very wide and very tall, not huge (the pixel cap has its own test)
    fmt = data.draw(st.sampled_from(MODE_FORMATS[mode]), label="format")
    name = f"a/odd{EXT[fmt]}"
    img = odd_image(mode, w, h, seed)
    extra = {"transparency": 7} if mode == "P+transparency" else {}
    files = {name: encode(img, fmt, **extra), "b/plain.png": plain(90, (3, 5))}
    with sandbox() as box:
        folder = write_files(box.data / "ds", files)
        ds, err = clean_load(f"folder:{folder}?size=8&fit={fit}", box)
    assert err is None, err
    assert not ds.report.skipped, ds.report.skipped
    check_dataset(ds, 8)
    row = ds.meta.set_index("path").loc[name]
    assert (row["orig_width"], row["orig_height"]) == (w, h)
    assert ds.shape[0] == (1 if mode in GREY_MODES else 3)


# --------------------------------------------------------------------------------- huge declared sizes


def png_declaring(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header claims width x height."""
    data = bytearray(plain(0, (1, 1)))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def bmp_declaring(width: int, height: int) -> bytes:
    """A 1x1 BMP whose header claims width x height (negative height: stored top-down)."""
    data = bytearray(encode(Image.new("RGB", (1, 1), (9, 9, 9)), "BMP"))
    struct.pack_into("<ii", data, 18, width, height)
    return bytes(data)


@FAST
@given(kind=st.sampled_from(["png", "bmp"]),
       width=st.one_of(st.integers(0, 2**31 - 1), st.sampled_from([0, 1, 999, 1001, 100_000, 2**31 - 1])),
       height=st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, 1, -1, 1000, 2**31 - 1])))
def test_huge_declared_sizes_are_refused_before_decoding(kind: str, width: int, height: int) -> None:
    if kind == "png":
        height = abs(height)
    blob = png_declaring(width, height) if kind == "png" else bmp_declaring(width, height)
    with sandbox() as box, pytest.MonkeyPatch.context() as mp:
        mp.setenv("DA_MAX_IMAGE_PIXELS", "1000000")
        folder = write_files(box.data / "ds", {f"a/claim.{kind}": blob, "a/ok.png": plain(5),
                                               "b/ok.png": plain(250)})
        ds, err = clean_load(f"folder:{folder}?size=8", box)
    assert err is None, err
    skipped = {s.path: s.reason for s in ds.report.skipped}
    if width * abs(height) > 1_000_000:
        assert "exceeds the cap of 1,000,000 pixels" in skipped[f"a/claim.{kind}"]
    assert len(ds) + len(skipped) == 3


# ----------------------------------------------------------------------------------------------- paths


@pytest.mark.parametrize(("body", "fragment"), [
    pytest.param("%00", "not a usable path", id="nul-escaped"),
    pytest.param("/tmp/a\x00b", "not a usable path", id="nul"),
    pytest.param("~no-such-user-da/x", "not a usable path", id="unknown-user"),
    pytest.param("a" * 5000, "cannot be used", id="path-too-long"),
    pytest.param("/" + "/".join(["b" * 300] * 3), "cannot be used", id="name-too-long"),
    pytest.param("/dev/null", "not a folder", id="device"),
])
@pytest.mark.parametrize("scheme", ["folder", "zip"])
def test_unusable_paths_are_dataset_errors(scheme: str, body: str, fragment: str) -> None:
    if scheme == "zip" and body == "/dev/null":
        fragment = "not a regular file"
    with sandbox() as box:
        _, err = clean_load(f"{scheme}:{body}", box)
    assert isinstance(err, DatasetError) and not isinstance(err, SecurityError)
    assert fragment in str(err)


def test_unusable_torchvision_root_is_a_dataset_error() -> None:
    with sandbox() as box:
        _, err = clean_load("torchvision:MNIST?root=%00", box)
    assert isinstance(err, DatasetError) and "not a usable path" in str(err)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_pipes_and_devices_in_a_folder_are_skipped_not_read() -> None:
    """A named pipe would block the loader forever and /dev/zero would never end: both are skipped."""
    with sandbox() as box:
        folder = write_files(box.data / "ds", {"a/1.png": plain(1), "b/1.png": plain(2)})
        os.mkfifo(folder / "a" / "pipe.png")
        (folder / "b" / "zero.png").symlink_to("/dev/zero")
        ds, err = clean_load(f"folder:{folder}?size=8", box)
    assert err is None, err
    reasons = {s.path: s.reason for s in ds.report.skipped}
    assert set(reasons) == {"a/pipe.png", "b/zero.png"} and len(ds) == 2
    assert all("not a regular file" in r for r in reasons.values())
