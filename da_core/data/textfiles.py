"""Text datasets from the user's files: ``csv:PATH?text=COL&label=COL`` (also ``sep``, ``encoding``),
``jsonl:PATH?text=KEY&label=KEY`` and ``hfdisk:PATH?split=...`` (a folder saved by Hugging Face ``datasets``'
``save_to_disk``; only when ``datasets`` is installed).

Bad input gets a clear message (see "Bad input and faults" in the design): a file past ``DA_MAX_TEXT_BYTES`` is
refused unread; bytes that do not decode in the declared encoding (``utf-8`` by default) name the line and the
byte and suggest ``encoding=``; a UTF-8 byte-order mark is dropped; quoted newlines stay inside their text (the
CSV is read by pandas); empty texts and rows without a label are skipped and listed in the load report; a missing
column lists the columns there are; a header-only file and a label column with a single value are refused.
Paths obey ``DA_DATA_ROOT`` like folders (uploads through the Datasets page are allowed).  Each sample's uid is
its ``id`` column's value when one is named, else ``row:N`` (N counts data rows from 1).
"""

from __future__ import annotations

import codecs
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from da_core import config
from da_core.data.dataset import Dataset, LoadReport, stratified_subset
from da_core.data.files import checked_path
from da_core.data.registry import N_PARAM, SEED_PARAM, Progress, register
from da_core.data.spec import DatasetSpec, Param
from da_core.errors import DatasetError, SecurityError

_COLUMNS = (
    Param("text", str, "text", "the column (key) holding the text"),
    Param("label", str, "label", "the column (key) holding the class label"),
    Param("id", str, None, "a column of unique sample ids, used as uids (row numbers when unset)"),
)
CSV_PARAMS = (N_PARAM, SEED_PARAM, *_COLUMNS,
              Param("sep", str, ",", "the field separator (\\t for tab-separated files)"),
              Param("encoding", str, "utf-8", "the file's text encoding, e.g. utf-8, latin-1, cp1252, utf-16"))
JSONL_PARAMS = (N_PARAM, SEED_PARAM, *_COLUMNS,
                Param("encoding", str, "utf-8", "the file's text encoding, e.g. utf-8, latin-1, utf-16"))
HFDISK_PARAMS = (N_PARAM, SEED_PARAM, *_COLUMNS,
                 Param("split", str, None, "the split of a saved DatasetDict (train when it has one)"))


# ------------------------------------------------------------------------------------------------ reading


def _file(body: str, what: str) -> Path:
    path = checked_path(body, what, allow_uploads=True)
    if not path.exists():
        raise DatasetError(f"{what} {body!r} does not exist")
    if not path.is_file():
        raise DatasetError(f"{what} {body!r} is not a regular file")
    return path


def read_text_file(path: Path, encoding: str, what: str) -> str:
    """The whole file decoded: refused past the size cap (unread), a BOM dropped, an undecodable byte reported
    with its line number and the encoding to declare instead."""
    cap = config.max_text_bytes()
    size = path.stat().st_size
    if size > cap:
        raise SecurityError(f"{what} refused: {size:,} bytes is over the cap of {cap:,} bytes (DA_MAX_TEXT_BYTES); "
                            "nothing was read")
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise DatasetError(f"{what}: unknown encoding {encoding!r}; e.g. utf-8, latin-1, cp1252, utf-16") from None
    data = path.read_bytes()
    if codec.name == "utf-8":
        codec = codecs.lookup("utf-8-sig")  # a byte-order mark is not part of the first column's name
    try:
        return data.decode(codec.name)
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        byte = data[exc.start:exc.start + 1].hex()
        hint = "latin-1 or cp1252" if codec.name.startswith("utf") else "utf-8"
        raise DatasetError(f"{what}: line {line} cannot be decoded as {encoding} (byte 0x{byte} at offset "
                           f"{exc.start}); declare the file's encoding, e.g. ?encoding={hint.split()[0]} "
                           f"({hint})") from None


def _frame_to_dataset(frame: pd.DataFrame, spec: DatasetSpec, what: str, report: LoadReport,
                      rows: list[str] | None = None) -> Dataset:
    """Columns checked, empty texts and missing labels skipped and listed, labels to classes, uids, ``n``."""
    opts = spec.options
    text_col, label_col, id_col = opts.get("text", "text"), opts.get("label", "label"), opts.get("id")
    columns = [str(c) for c in frame.columns]
    for role, col in (("text", text_col), ("label", label_col), ("id", id_col)):
        if col is not None and col not in columns:
            raise DatasetError(f"{what} has no {role} column {col!r}; its columns are: "
                               f"{', '.join(repr(c) for c in columns) or 'none'} (choose one with ?{role}=NAME)")
    if len(frame) == 0:
        raise DatasetError(f"{what} has a header but no rows: no texts to load")
    rows = rows or [f"row {i + 1}" for i in range(len(frame))]
    texts = frame[text_col].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    labels = frame[label_col].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    texts, labels = texts.str.strip(), labels.str.strip()
    keep = []
    for i in range(len(frame)):
        if not texts.iat[i]:
            report.skip(rows[i], "empty text")
        elif not labels.iat[i]:
            report.skip(rows[i], f"no label in column {label_col!r}")
        else:
            keep.append(i)
    if not keep:
        raise DatasetError(f"{what}: every row was skipped ({len(report.skipped)} empty texts or missing labels)")
    keep_idx = np.asarray(keep)
    names = sorted(set(labels.iloc[keep_idx]), key=_natural)
    if len(names) < 2:
        raise DatasetError(f"{what}: the label column {label_col!r} has a single value ({names[0]!r} for all "
                           f"{len(keep)} texts); domain comparison and training need at least two classes")
    if id_col is not None:
        uids = frame[id_col].astype(str).iloc[keep_idx].tolist()
        repeated = pd.Series(uids)[pd.Series(uids).duplicated()].tolist()
        if repeated:
            raise DatasetError(f"{what}: the id column {id_col!r} repeats {repeated[0]!r}; ids must be unique")
    else:
        uids = [f"row:{i + 1}" for i in keep]
    index = {name: k for k, name in enumerate(names)}
    y = np.array([index[v] for v in labels.iloc[keep_idx]], dtype=np.int64)
    chosen = stratified_subset(y, opts.get("n"), opts.get("seed", 0))
    if opts.get("n") is not None and opts["n"] > len(y):
        report.notes.append(f"asked for n={opts['n']} but the file holds {len(y)} usable texts; using all")
    if report.skipped:
        report.notes.append(f"{len(report.skipped)} rows skipped (empty text or no label); the load report lists them")
    meta = pd.DataFrame({"uid": [uids[i] for i in chosen], "row": [rows[keep[i]] for i in chosen]})
    return Dataset.from_texts([texts.iat[keep[i]] for i in chosen], y[chosen], names, meta, str(spec), report)


def _natural(value: str) -> tuple[int, float, str]:
    """Sort key putting numeric labels in numeric order (2 before 10), then the others by name."""
    try:
        return 0, float(value), value
    except ValueError:
        return 1, 0.0, value


def peek_columns(path: Path, scheme: str, encoding: str = "utf-8", sep: str = ",") -> list[str]:
    """The columns of a CSV file's header, or the keys of a JSON Lines file's first objects (for the upload's
    column choices); the same checks and messages as loading."""
    what = f"{'CSV' if scheme == 'csv' else 'JSON Lines'} file {path.name!r}"
    text = read_text_file(path, encoding, what)
    if scheme == "csv":
        sep = "\t" if sep in ("\\t", "tab") else sep
        try:
            columns = [str(c) for c in pd.read_csv(io.StringIO(text), sep=sep, nrows=0, dtype=str).columns]
        except (pd.errors.ParserError, pd.errors.EmptyDataError):
            columns = []
    else:
        keys: dict[str, None] = {}
        for line in text.splitlines()[:200]:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                keys.update(dict.fromkeys(str(k) for k in obj))
        columns = list(keys)
    if not columns:
        raise DatasetError(f"{what} has no header (columns) to choose from")
    return columns


# ------------------------------------------------------------------------------------------------ sources


@register("csv", "texts in a CSV file: one row per text, a text column and a label column", CSV_PARAMS,
          modality="text")
def load_csv(spec: DatasetSpec, progress: Progress) -> Dataset:
    """Load ``csv:PATH?text=COL&label=COL``: quoted fields may hold newlines; a BOM is dropped."""
    what = f"CSV file {spec.body!r}"
    path = _file(spec.body, "CSV file")
    progress(0.0, f"reading {path.name}")
    text = read_text_file(path, spec.options.get("encoding", "utf-8"), what)
    if not text.strip():
        raise DatasetError(f"{what} is empty: no header and no rows")
    sep = spec.options.get("sep", ",")
    sep = "\t" if sep in ("\\t", "tab") else sep
    try:
        with warnings.catch_warnings():  # a row longer than the header would silently become an index
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, index_col=False,
                                engine="python" if len(sep) > 1 else "c")
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        raise DatasetError(f"{what} is not a well-formed CSV ({str(exc).strip().splitlines()[-1]}); check the "
                           "separator (?sep=;) and the quoting") from None
    except pd.errors.EmptyDataError:
        raise DatasetError(f"{what} is empty: no header and no rows") from None
    return _frame_to_dataset(frame, spec, what, LoadReport())


@register("jsonl", "texts in a JSON Lines file: one object per line with a text key and a label key", JSONL_PARAMS,
          modality="text")
def load_jsonl(spec: DatasetSpec, progress: Progress) -> Dataset:
    """Load ``jsonl:PATH?text=KEY&label=KEY``: blank lines are ignored; a line that is not a JSON object is skipped
    and listed."""
    what = f"JSON Lines file {spec.body!r}"
    path = _file(spec.body, "JSON Lines file")
    progress(0.0, f"reading {path.name}")
    text = read_text_file(path, spec.options.get("encoding", "utf-8"), what)
    report = LoadReport()
    records: list[dict[str, Any]] = []
    rows: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            report.skip(f"line {number}", f"not JSON ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            report.skip(f"line {number}", f"a JSON {type(obj).__name__}, not an object")
            continue
        records.append(obj)
        rows.append(f"line {number}")
    if not records:
        detail = f" ({len(report.skipped)} lines are not JSON objects)" if report.skipped else ""
        raise DatasetError(f"{what} holds no JSON objects{detail}")
    keys: list[str] = list(dict.fromkeys(k for r in records for k in r))
    frame = pd.DataFrame.from_records(records, columns=keys)
    return _frame_to_dataset(frame, spec, what, report, rows)


@register("hfdisk", "a dataset saved by Hugging Face datasets (save_to_disk), when datasets is installed",
          HFDISK_PARAMS, modality="text")
def load_hfdisk(spec: DatasetSpec, progress: Progress) -> Dataset:
    """Load ``hfdisk:PATH?split=...``: a saved ``Dataset`` or one split of a saved ``DatasetDict``; a
    ``ClassLabel`` label column gives its class names."""
    what = f"saved dataset {spec.body!r}"
    try:
        import datasets as hf
    except ImportError:
        raise DatasetError("hfdisk: needs the Hugging Face 'datasets' package, which is not installed here "
                           "(pip install datasets); or export the data as CSV or JSON Lines and use csv: or "
                           "jsonl:") from None
    path = checked_path(spec.body, "saved dataset", allow_uploads=False)
    if not path.is_dir():
        raise DatasetError(f"{what} is not a folder saved with save_to_disk")
    progress(0.0, f"opening {path.name}")
    try:
        saved = hf.load_from_disk(str(path))
    except Exception as exc:  # FileNotFoundError, arrow errors: not a saved dataset
        raise DatasetError(f"{what} cannot be opened with datasets.load_from_disk ({type(exc).__name__}: "
                           f"{str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''})") from None
    split = spec.options.get("split")
    if isinstance(saved, hf.DatasetDict):
        names = list(saved)
        if split is None:
            split = "train" if "train" in saved else (names[0] if len(names) == 1 else None)
        if split not in saved:
            raise DatasetError(f"{what} has splits {', '.join(names)}; choose one with ?split=NAME")
        saved = saved[split]
    elif split is not None:
        raise DatasetError(f"{what} is a single dataset without splits; leave out ?split=")
    label_col = spec.options.get("label", "label")
    frame = saved.to_pandas()
    feature = saved.features.get(label_col)
    if feature is not None and hasattr(feature, "int2str"):  # ClassLabel: ints -> names
        frame[label_col] = [feature.int2str(int(v)) if v is not None and int(v) >= 0 else "" for v in frame[label_col]]
    return _frame_to_dataset(frame, spec, what, LoadReport())
