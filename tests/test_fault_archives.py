"""Fault suite, archives: zip slip, absolute paths, symlink entries, nested archives, zip bombs, thousands of
tiny files, truncated, corrupt, empty and image-less archives.

What the zip loader does (da_core/data/files.py): the archive is read in memory and never extracted; it is
refused as a whole (SecurityError, before any entry is read) for an escaping or absolute entry name, a
symlink entry, too many entries or too many declared bytes; nested archives and other non-images are
ignored and counted; unreadable entries are skipped with a reason.
"""

from __future__ import annotations

import io
import stat
import struct
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from _fault import Sandbox, check_dataset, clean_load, encode, sandbox, zip_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from da_core.data import files as files_module
from da_core.data.files import save_upload
from da_core.errors import DatasetError, SecurityError


def png(value: int, size: tuple[int, int] = (1, 1)) -> bytes:
    return encode(Image.new("L", size, value), "PNG")


TWO_CLASSES = {"a/1.png": png(10), "a/2.png": png(20), "b/1.png": png(200), "b/2.png": png(210)}


@pytest.fixture()
def box() -> Iterator[Sandbox]:
    with sandbox() as b:
        yield b


@pytest.fixture()
def entry_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the archive entries the loader opens (the refusal tests expect none)."""
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def counting_open(self, name, mode="r", *args, **kwargs):
        if mode == "r":  # writing the test archives is not counted
            opened.append(getattr(name, "filename", name))
        return real_open(self, name, mode, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", counting_open)
    return opened


def put(box: Sandbox, data: bytes, name: str = "ds.zip") -> Path:
    path = box.data / name
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------ escaping and absolute names

COMPONENTS = st.sampled_from(["a", "b", "..", ".", "", "x.png", "C:", "c:x.png", "~", "..x.png", "x..png", "…"])
SEPARATORS = st.sampled_from(["/", "\\"])


@st.composite
def entry_names(draw: st.DrawFn) -> str:
    parts = draw(st.lists(COMPONENTS, min_size=1, max_size=4))
    seps = draw(st.lists(SEPARATORS, min_size=len(parts), max_size=len(parts)))
    lead = draw(st.sampled_from(["", "", "/", "\\", "//"]))
    return lead + "".join(p + s for p, s in zip(parts[:-1], seps)) + parts[-1] + ".png" * draw(st.booleans())


def escapes(name: str) -> bool:
    """Absolute (``/x``, ``\\x``, ``C:x``) or with a ``..`` component: such an archive must be refused."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":" and name[0].isalpha()) or ".." in parts


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(entry_names().filter(bool), min_size=1, max_size=3, unique=True))
def test_escaping_or_absolute_entries_refuse_the_archive_before_any_read(entry_reads: list[str],
                                                                          names: list[str]) -> None:
    entry_reads.clear()
    files = {**TWO_CLASSES, **{n: png(99) for n in names}}
    with sandbox() as box:
        ds, err = clean_load(f"zip:{put(box, zip_bytes(files))}?size=8", box)
    evil = [n for n in names if escapes(zipfile.ZipInfo(n).filename)]  # as the archive stores the name
    if evil:
        assert isinstance(err, SecurityError), (names, err)
        assert "points outside the archive folder" in str(err) and "nothing was extracted" in str(err)
        assert entry_reads == []
    else:
        assert err is None, (names, err)
        check_dataset(ds, 8)
        assert not any(".." in p.replace("\\", "/").split("/") for p in ds.meta["path"])


def test_zip_slip_through_the_upload_path_is_refused(box: Sandbox, entry_reads: list[str]) -> None:
    """The classic ``../x.png`` slip, uploaded with DA_DATA_ROOT set: refused, nothing written anywhere."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DA_DATA_ROOT", str(box.data))
        upload = save_upload(zip_bytes({**TWO_CLASSES, "../x.png": png(1), "a/../../y.png": png(2)}))
        _, err = clean_load(f"zip:{upload}", box)
    assert isinstance(err, SecurityError) and "'../x.png' points outside" in str(err)
    assert entry_reads == []


# ------------------------------------------------------------------------------------- symlink entries


def with_symlink(name: str, target: str, system: int = 3) -> bytes:
    buf = io.BytesIO(zip_bytes(TWO_CLASSES))
    with zipfile.ZipFile(buf, "a") as zf:
        info = zipfile.ZipInfo(name)
        info.create_system = system
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, target)
    return buf.getvalue()


@pytest.mark.parametrize(("name", "target"), [
    ("a/passwd.png", "/etc/passwd"),  # an image name linking out
    ("notes.txt", "../../etc/shadow"),  # a non-image would be ignored, but the link still refuses the archive
    ("b/", "/"),  # a linked folder
])
def test_symlink_entries_refuse_the_archive(box: Sandbox, entry_reads: list[str], name: str, target: str) -> None:
    _, err = clean_load(f"zip:{put(box, with_symlink(name, target))}", box)
    assert isinstance(err, SecurityError) and f"{name!r} is a symbolic link" in str(err)
    assert entry_reads == []


def test_regular_entries_with_unix_modes_are_not_mistaken_for_links(box: Sandbox) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in TWO_CLASSES.items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFREG | 0o755) << 16
            zf.writestr(info, data)
    ds, err = clean_load(f"zip:{put(box, buf.getvalue())}?size=8", box)
    assert err is None and len(ds) == 4


# ------------------------------------------------------------------------------------- nested archives


def test_nested_archives_are_ignored_and_counted_never_opened(box: Sandbox, entry_reads: list[str]) -> None:
    inner = zip_bytes({"c/1.png": png(1), "c/2.png": png(2), "../../escape.png": png(3)})
    files = {**TWO_CLASSES, "a/inner.zip": inner, "more.zip": inner, "b/x.tar.gz": b"\x1f\x8b" + bytes(30),
             "b/disguised.png": inner}
    ds, err = clean_load(f"zip:{put(box, zip_bytes(files))}?size=8", box)
    assert err is None
    assert ds.classes == ["a", "b"] and len(ds) == 4  # nothing from inside the nested archive
    assert ds.report.ignored == 3 and {"a/inner.zip", "more.zip", "b/x.tar.gz"} <= set(ds.report.ignored_examples)
    # a zip renamed to .png is looked at as an image (only image decoders run) and skipped
    assert [(s.path, "not a readable PNG" in s.reason) for s in ds.report.skipped] == [("b/disguised.png", True)]
    assert not any(name.endswith((".zip", ".gz")) for name in entry_reads)
    assert "nested archives" in files_module.__doc__  # the behaviour is documented where the loader lives


# ----------------------------------------------------------------------------------------------- bombs


def deflated_zeros(name: str, mib: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in TWO_CLASSES.items():
            zf.writestr(k, v)
        with zf.open(name, "w") as fh:
            chunk = bytes(1 << 20)
            for _ in range(mib):
                fh.write(chunk)
    return buf.getvalue()


def refused_quickly(box: Sandbox, path: Path, fragment: str) -> None:
    """Load, expecting a SecurityError naming ``fragment`` within 2 s and under 8 MB of Python allocations."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        _, err = clean_load(f"zip:{path}", box)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(err, SecurityError), err
    assert fragment in str(err) and "nothing was extracted" in str(err)
    assert seconds < 2.0 and peak < 8 << 20, (seconds, peak)


def test_zip_bomb_past_the_byte_cap_is_refused_before_extraction(box: Sandbox, entry_reads: list[str]) -> None:
    data = deflated_zeros("a/zeros.bmp", 24)  # 24 MiB of zeros in ~25 kB
    assert len(data) * 500 < 24 << 20  # a real bomb: compression ratio above 500
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DA_MAX_ARCHIVE_BYTES", str(8 << 20))
        refused_quickly(box, put(box, data), "over the cap of 8,388,608 bytes (DA_MAX_ARCHIVE_BYTES)")
    assert entry_reads == []


def central_records(raw: bytes | bytearray) -> dict[str, int]:
    """Offset of each entry's central directory record, by name."""
    offset, out = zipfile.ZipFile(io.BytesIO(bytes(raw))).start_dir, {}
    while raw[offset:offset + 4] == b"PK\x01\x02":
        n, m, k = struct.unpack_from("<3H", raw, offset + 28)
        out[bytes(raw[offset + 46:offset + 46 + n]).decode()] = offset
        offset += 46 + n + m + k
    return out


def _patch_sizes(data: bytes, name: str, size: int) -> bytes:
    """Make an entry declare ``size`` uncompressed bytes in its local and central headers."""
    raw = bytearray(data)
    struct.pack_into("<I", raw, zipfile.ZipFile(io.BytesIO(data)).getinfo(name).header_offset + 22, size)
    struct.pack_into("<I", raw, central_records(raw)[name] + 24, size)
    return bytes(raw)


def test_entry_declaring_more_than_the_default_cap_is_refused(box: Sandbox, entry_reads: list[str]) -> None:
    data = _patch_sizes(deflated_zeros("a/zeros.bmp", 1), "a/zeros.bmp", 0xFFFF_FFF0)  # ~4 GiB declared
    refused_quickly(box, put(box, data), "over the cap of 1,073,741,824 bytes")
    assert entry_reads == []


def test_overlapping_entries_bomb_is_refused_by_the_total(box: Sandbox, entry_reads: list[str]) -> None:
    """A non-recursive bomb: 2,000 directory records all pointing at one 1 MiB deflated kernel (2 GiB total)."""
    kernel = deflated_zeros("a/k0000.bmp", 1)
    start = central_records(kernel)["a/k0000.bmp"]
    records = b"".join(kernel[start:start + 46] + f"a/k{i:04d}.bmp".encode() for i in range(2000))
    body = kernel[:zipfile.ZipFile(io.BytesIO(kernel)).start_dir]
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 2000, 2000, len(records), len(body), 0)
    refused_quickly(box, put(box, body + records + eocd), "over the cap of 1,073,741,824 bytes")
    assert entry_reads == []


# -------------------------------------------------------------------------------- thousands of tiny files


@pytest.fixture(scope="module")
def many_tiny() -> bytes:
    return zip_bytes({f"{'ab'[i % 2]}/{i:04d}.png": png(i % 256) for i in range(3000)}, zipfile.ZIP_STORED)


def test_three_thousand_one_pixel_images_load_in_bounded_time(box: Sandbox, many_tiny: bytes) -> None:
    start = time.perf_counter()
    ds, err = clean_load(f"zip:{put(box, many_tiny)}?size=8", box)
    assert err is None and time.perf_counter() - start < 20
    check_dataset(ds, 8)
    assert len(ds) == 3000 and ds.counts == {"a": 1500, "b": 1500} and not ds.report.skipped


def test_a_subset_of_many_files_reads_only_the_chosen_entries(box: Sandbox, many_tiny: bytes,
                                                               entry_reads: list[str]) -> None:
    ds, err = clean_load(f"zip:{put(box, many_tiny)}?size=8&n=50", box)
    assert err is None and len(ds) == 50 and len(entry_reads) == 50


def test_too_many_files_are_refused_by_the_count_cap(box: Sandbox, many_tiny: bytes,
                                                     entry_reads: list[str]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DA_MAX_ARCHIVE_FILES", "1000")
        _, err = clean_load(f"zip:{put(box, many_tiny)}", box)
    assert isinstance(err, SecurityError)
    assert "3,000 entries, over the cap of 1,000 (DA_MAX_ARCHIVE_FILES)" in str(err)
    assert entry_reads == []


# ------------------------------------------------------------------------ truncated, corrupt, empty, no images


def test_truncated_archive_is_a_clear_error(box: Sandbox) -> None:
    data = zip_bytes(TWO_CLASSES)
    for cut in (0, 10, len(data) // 2, len(data) - 1):
        _, err = clean_load(f"zip:{put(box, data[:cut], f'cut{cut}.zip')}", box)
        assert isinstance(err, DatasetError) and "not a readable zip archive" in str(err), (cut, err)


def test_damaged_entries_are_skipped_with_a_reason_and_the_rest_loads(box: Sandbox) -> None:
    files = {**TWO_CLASSES, "a/crc.png": png(1, (20, 20)), "b/deflate.png": png(2, (20, 20)),
             "a/locked.png": png(3), "b/method.png": png(4)}
    raw = bytearray(zip_bytes(files))
    infos = {i.filename: i for i in zipfile.ZipFile(io.BytesIO(bytes(raw))).infolist()}

    def data_offset(name: str) -> int:
        h = infos[name].header_offset
        return h + 30 + struct.unpack_from("<H", raw, h + 26)[0] + struct.unpack_from("<H", raw, h + 28)[0]

    raw[data_offset("a/crc.png") + 3] ^= 0x01  # still inflates, to the wrong bytes
    raw[data_offset("b/deflate.png"):data_offset("b/deflate.png") + 4] = b"\xff\xff\xff\xff"  # invalid stream
    central = central_records(raw)
    for name, offset, value in (("a/locked.png", 6, 0x1), ("b/method.png", 8, 99)):  # encrypted / unknown method
        struct.pack_into("<H", raw, infos[name].header_offset + offset, value)
        struct.pack_into("<H", raw, central[name] + offset + 2, value)  # the same field, 2 bytes later there
    ds, err = clean_load(f"zip:{put(box, bytes(raw))}?size=8", box)
    assert err is None, err
    assert len(ds) == 4
    reasons = {s.path: s.reason for s in ds.report.skipped}
    assert set(reasons) == {"a/crc.png", "b/deflate.png", "a/locked.png", "b/method.png"}
    assert all(r.startswith("cannot read archive entry") for r in reasons.values())
    assert "encrypted" in reasons["a/locked.png"]


@pytest.mark.parametrize(("files", "fragment"), [
    ({}, "it holds no files"),
    ({"a/": b"", "b/": b""}, "it holds no files"),
    ({"a/notes.txt": b"x", "b/data.csv": b"1,2", "README": b"hi"}, "3 other file(s) ignored"),
    ({"x.png": png(1), "y.png": png(2)}, "2 image(s) at the top level"),
])
def test_empty_or_imageless_archives_say_what_they_hold(box: Sandbox, files: dict, fragment: str) -> None:
    _, err = clean_load(f"zip:{put(box, zip_bytes(files))}", box)
    assert isinstance(err, DatasetError) and "has no images in class sub-folders" in str(err)
    assert fragment in str(err)


def test_bare_end_of_central_directory_is_an_empty_archive(box: Sandbox) -> None:
    eocd_only = b"PK\x05\x06" + bytes(18)
    _, err = clean_load(f"zip:{put(box, eocd_only)}", box)
    assert isinstance(err, DatasetError) and "it holds no files" in str(err)
