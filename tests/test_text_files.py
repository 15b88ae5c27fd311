"""Text from the user's files (csv:, jsonl:, hfdisk:) and every bad input the issue names: undecodable bytes (the
line reported, the declared encoding tried), a BOM, quoted newlines, empty texts (skipped and listed), missing
columns (the message lists the columns there are), a label column with one value, a file past the size cap, a
header-only file; plus paths outside DA_DATA_ROOT and the upload."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from da_core.cli import main
from da_core.data import load_dataset
from da_core.data.files import save_upload
from da_core.data.textfiles import peek_columns
from da_core.errors import DatasetError, SecurityError, SpecError


def _write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


GOOD = "text,label\nI loved it,pos\nterrible film,neg\nwonderful acting,pos\nboring plot,neg\n"


def test_a_csv_loads_with_its_columns_uids_and_n(tmp_path: Path) -> None:
    path = _write(tmp_path, "r.csv", "id,review,stars\n" + "".join(f"r{i},text number {i},{i % 3 + 1}\n"
                                                                   for i in range(30)))
    ds = load_dataset(f"csv:{path}?text=review&label=stars&id=id")
    assert ds.modality == "text" and ds.classes == ["1", "2", "3"] and len(ds) == 30
    assert ds.uids[:2] == ["r0", "r1"] and ds.texts[0] == "text number 0" and ds.counts == {"1": 10, "2": 10, "3": 10}
    small = load_dataset(f"csv:{path}?text=review&label=stars&n=9&seed=4")
    assert len(small) == 9 and small.counts == {"1": 3, "2": 3, "3": 3} and small.uids[0].startswith("row:")
    tsv = _write(tmp_path, "r.tsv", "text\tlabel\na, b\tx\nc; d\ty\n")
    assert load_dataset(f"csv:{tsv}?sep=%5Ct").texts == ["a, b", "c; d"]


def test_undecodable_bytes_name_the_line_and_the_declared_encoding_is_used(tmp_path: Path) -> None:
    path = _write(tmp_path, "latin.csv", b"text,label\ngood,pos\nbad,neg\n" + "caf\xe9 noir,pos\n".encode(
        "latin-1"))
    with pytest.raises(DatasetError, match=r"line 4 cannot be decoded as utf-8 \(byte 0xe9.*\?encoding=latin-1"):
        load_dataset(f"csv:{path}")
    ds = load_dataset(f"csv:{path}?encoding=latin-1")
    assert ds.texts[-1] == "café noir"
    with pytest.raises(DatasetError, match="unknown encoding 'klingon'"):
        load_dataset(f"csv:{path}?encoding=klingon")


def test_a_bom_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "bom.csv", b"\xef\xbb\xbf" + GOOD.encode())
    ds = load_dataset(f"csv:{path}")
    assert len(ds) == 4 and not ds.texts[0].startswith("\ufeff")
    utf16 = _write(tmp_path, "u16.csv", GOOD.encode("utf-16"))  # BOM-led UTF-16
    assert load_dataset(f"csv:{utf16}?encoding=utf-16").texts == ds.texts


def test_quoted_newlines_stay_inside_their_text(tmp_path: Path) -> None:
    path = _write(tmp_path, "q.csv", 'text,label\n"first line\nsecond line, with a comma",pos\n"said ""no""",neg\n')
    ds = load_dataset(f"csv:{path}")
    assert ds.texts == ["first line\nsecond line, with a comma", 'said "no"'] and ds.classes == ["neg", "pos"]


def test_empty_texts_are_skipped_and_listed(tmp_path: Path) -> None:
    path = _write(tmp_path, "e.csv", "text,label\ngood,pos\n,neg\n   ,pos\nbad,neg\nfine,\n")
    ds = load_dataset(f"csv:{path}")
    assert ds.texts == ["good", "bad"]
    assert [(s.path, s.reason) for s in ds.report.skipped] == [
        ("row 2", "empty text"), ("row 3", "empty text"), ("row 5", "no label in column 'label'")]
    assert any("3 rows skipped" in n for n in ds.report.notes)


def test_missing_columns_list_the_columns_there_are(tmp_path: Path) -> None:
    path = _write(tmp_path, "m.csv", "sentence,sentiment\nx,a\ny,b\n")
    with pytest.raises(DatasetError, match=r"no text column 'text'; its columns are: 'sentence', 'sentiment'"):
        load_dataset(f"csv:{path}")
    with pytest.raises(DatasetError, match=r"no label column 'stars'.*\?label=NAME"):
        load_dataset(f"csv:{path}?text=sentence&label=stars")
    assert len(load_dataset(f"csv:{path}?text=sentence&label=sentiment")) == 2


def test_a_label_column_with_one_value_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "one.csv", "text,label\na,pos\nb,pos\nc,pos\n")
    with pytest.raises(DatasetError, match=r"label column 'label' has a single value \('pos' for all 3 texts\)"):
        load_dataset(f"csv:{path}")


def test_a_file_past_the_size_cap_is_refused_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "big.csv", GOOD * 50)
    monkeypatch.setenv("DA_MAX_TEXT_BYTES", "1000")
    with pytest.raises(SecurityError, match=r"bytes is over the cap of 1,000 bytes \(DA_MAX_TEXT_BYTES\)"):
        load_dataset(f"csv:{path}")
    with pytest.raises(SecurityError, match="DA_MAX_TEXT_BYTES"):
        load_dataset(f"jsonl:{_write(tmp_path, 'big.jsonl', '{}' * 600)}")


def test_header_only_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="has a header but no rows"):
        load_dataset(f"csv:{_write(tmp_path, 'h.csv', 'text,label' + chr(10))}")
    with pytest.raises(DatasetError, match="is empty"):
        load_dataset(f"csv:{_write(tmp_path, 'z.csv', '')}")
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(f"csv:{tmp_path / 'nope.csv'}")
    with pytest.raises(DatasetError, match="not a regular file"):
        load_dataset(f"csv:{tmp_path}")
    with pytest.raises(DatasetError, match="not a well-formed CSV"):
        load_dataset(f"csv:{_write(tmp_path, 'bad.csv', 'text,label' + chr(10) + 'a,b,c,d' + chr(10))}")
    with pytest.raises(SpecError, match="unknown option 'colour'"):
        load_dataset(f"csv:{tmp_path / 'x.csv'}?colour=red")


def test_jsonl_loads_and_lists_bad_lines(tmp_path: Path) -> None:
    lines = [json.dumps({"text": "great", "label": "pos"}), "", "{broken", json.dumps([1, 2]),
             json.dumps({"text": "", "label": "neg"}), json.dumps({"text": "awful", "label": "neg"}),
             json.dumps({"text": "meh"})]
    ds = load_dataset(f"jsonl:{_write(tmp_path, 'd.jsonl', chr(10).join(lines))}")
    assert ds.texts == ["great", "awful"] and ds.classes == ["neg", "pos"]
    assert [s.path for s in ds.report.skipped] == ["line 3", "line 4", "line 5", "line 7"]
    assert "not JSON" in ds.report.skipped[0].reason and "list, not an object" in ds.report.skipped[1].reason
    with pytest.raises(DatasetError, match=r"no text column 'body'; its columns are: 'text', 'label'"):
        load_dataset(f"jsonl:{tmp_path / 'd.jsonl'}?text=body")
    with pytest.raises(DatasetError, match="holds no JSON objects"):
        load_dataset(f"jsonl:{_write(tmp_path, 'n.jsonl', 'nope' + chr(10))}")


def test_text_paths_obey_the_data_root(tmp_path: Path, data_root: Path) -> None:
    outside = _write(tmp_path, "out.csv", GOOD)
    with pytest.raises(SecurityError, match="outside DA_DATA_ROOT"):
        load_dataset(f"csv:{outside}")
    inside = _write(data_root, "in.csv", GOOD)
    assert len(load_dataset("csv:in.csv")) == 4 and len(load_dataset(f"csv:{inside}")) == 4
    stored = save_upload(GOOD.encode(), suffix=".csv")  # uploads live in the cache and may be read
    assert stored.suffix == ".csv" and len(load_dataset(f"csv:{stored}")) == 4


def test_the_upload_offers_the_file_s_columns(tmp_path: Path) -> None:
    assert peek_columns(_write(tmp_path, "p.csv", "a;b;text\n1;2;3\n"), "csv", sep=";") == ["a", "b", "text"]
    jl = _write(tmp_path, "p.jsonl", '{"t": 1}\n{"t": 2, "y": 3}\n')
    assert peek_columns(jl, "jsonl") == ["t", "y"]
    with pytest.raises(DatasetError, match="no header"):
        peek_columns(_write(tmp_path, "e.jsonl", "[1]\n"), "jsonl")


def test_hfdisk_without_datasets_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if not installed
    with pytest.raises(DatasetError, match=r"needs the Hugging Face 'datasets' package.*pip install datasets"):
        load_dataset(f"hfdisk:{tmp_path}")


def test_hfdisk_reads_a_saved_dataset(tmp_path: Path) -> None:
    hf = pytest.importorskip("datasets")
    features = hf.Features({"sentence": hf.Value("string"), "label": hf.ClassLabel(names=["neg", "pos"])})
    part = hf.Dataset.from_dict({"sentence": ["good", "bad", "fine", "awful"], "label": [1, 0, 1, 0]}, features)
    hf.DatasetDict({"train": part, "test": part}).save_to_disk(str(tmp_path / "saved"))
    ds = load_dataset(f"hfdisk:{tmp_path / 'saved'}?text=sentence&split=test")
    assert ds.classes == ["neg", "pos"] and ds.texts == ["good", "bad", "fine", "awful"]
    assert ds.labels.tolist() == [1, 0, 1, 0]
    with pytest.raises(DatasetError, match="has splits train, test"):
        load_dataset(f"hfdisk:{tmp_path / 'saved'}?text=sentence&split=dev")


def test_describe_reports_a_text_file_and_a_bad_one_in_one_line(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "g.csv", GOOD)
    assert main(["describe", f"csv:{path}", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["modality"] == "text" and info["n"] == 4 and info["counts"] == {"neg": 2, "pos": 2}
    assert info["words_mean"] == (3 + 2 + 2 + 2) / 4
    assert main(["describe", f"csv:{path}?text=body"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "its columns are: 'text', 'label'" in err
