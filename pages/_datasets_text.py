"""The Datasets page's text parts: the default text pair, the CSV/JSONL upload, samples per class as tables, text
lengths beside the class balance, and the vocabulary overlap between the loaded domains.  The numbers come from
``da_core.data.textstats`` and the figures from ``da_core.viz``."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from da_core import viz
from da_core.config import DEFAULT_TEXT_SOURCE, DEFAULT_TEXT_TARGET
from da_core.data import textstats
from pages import _ui

UPLOAD_KIND = "Text file upload (CSV/JSONL)"


def _use_text_pair() -> None:
    for role, spec in (("source", DEFAULT_TEXT_SOURCE), ("target", DEFAULT_TEXT_TARGET)):
        st.session_state[f"{role}_spec"] = spec
        _ui.keep(f"{role}_kind", "Built-in")
        _ui.keep(f"{role}_builtin_name", spec.split(":", 1)[1])


def default_pair_button() -> None:
    """A button that makes the default text pair (movie reviews -> tweets) the session's pair."""
    st.button(f"Use the text pair: {DEFAULT_TEXT_SOURCE} → {DEFAULT_TEXT_TARGET}", key="text_pair",
              on_click=_use_text_pair, help="Human-rated sentiment in two genres (the VADER corpora, fetched at "
                                            "set-up); the digits pair is the image default.")


def upload_spec(role: str, shared: dict[str, Any]) -> str | None:
    """An uploaded CSV, TSV or JSON Lines file with its text and label columns chosen from its header, as a spec."""
    from da_core.data.files import save_upload
    from da_core.data.textfiles import peek_columns
    from da_core.errors import DAError

    upload = st.file_uploader("CSV, TSV or JSON Lines file (one text per row)", type=["csv", "tsv", "jsonl"],
                              key=f"{role}_text_upload")
    if upload is None:
        st.info("Upload a file with a text column and a label column (size capped by DA_MAX_TEXT_BYTES).")
        return None
    suffix = "." + upload.name.rsplit(".", 1)[-1].lower()
    scheme = "jsonl" if suffix == ".jsonl" else "csv"
    c1, c2 = st.columns(2)
    encoding = _ui.widget(c1.text_input, "Encoding", f"{role}_text_encoding", "utf-8",
                          help="utf-8 by default; latin-1 or cp1252 for older files")
    sep = _ui.widget(c2.text_input, "Separator", f"{role}_text_sep", "\\t" if suffix == ".tsv" else ",",
                     disabled=scheme == "jsonl", help="\\t for tab-separated files")
    try:
        stored = save_upload(upload.getvalue(), suffix=".jsonl" if scheme == "jsonl" else ".csv")
        columns = peek_columns(stored, scheme, encoding, sep)
    except DAError as exc:
        st.error(str(exc))
        return None
    guess = {role_: next((c for c in columns if c.lower() in names), columns[min(i, len(columns) - 1)])
             for i, (role_, names) in enumerate((("text", ("text", "sentence", "review", "content")),
                                                 ("label", ("label", "labels", "class", "sentiment"))))}
    c1, c2 = st.columns(2)
    text_col = c1.selectbox("Text column", columns, index=columns.index(guess["text"]), key=f"{role}_text_col")
    label_col = c2.selectbox("Label column", columns, index=columns.index(guess["label"]), key=f"{role}_label_col")
    options: dict[str, Any] = {"text": text_col, "label": label_col, "seed": shared.get("seed")}
    if encoding.strip().lower() not in ("", "utf-8", "utf8"):
        options["encoding"] = encoding.strip()
    if scheme == "csv" and sep not in ("", ","):
        options["sep"] = sep
    from da_core.data import DatasetSpec

    return str(DatasetSpec(scheme, str(stored), {}).with_options(**options))


def samples(datasets: dict[str, Any], seed: int) -> None:
    """A few texts of every class of both domains, as tables."""
    st.subheader("Samples per class")
    per_class = _ui.widget(st.slider, "Texts per class", "text_per_class", 4, min_value=1, max_value=20)
    cols = st.columns(2, gap="large")
    for (role, ds), col in zip(datasets.items(), cols):
        col.caption(f"{role}: {ds.domain}")
        col.dataframe(textstats.samples_per_class(ds, per_class, seed), hide_index=True, width="stretch",
                      column_config={"text": st.column_config.TextColumn(width="large")})


def class_balance(datasets: dict[str, Any]) -> None:
    """Both domains' class counts on one chart (label shift), as shares or counts: for images and texts alike."""
    st.subheader("Class balance")
    normalise = st.toggle("Show shares instead of counts", value=True, key="counts_normalise")
    st.plotly_chart(viz.class_count_figure(datasets, normalise=normalise), width="stretch")


def lengths_and_balance(datasets: dict[str, Any]) -> None:
    """Class balance beside the text-length histograms of both domains."""
    c1, c2 = st.columns(2, gap="large")
    with c1:
        class_balance(datasets)
    with c2:
        st.subheader("Text lengths")
        unit = st.radio("Count", ["words", "chars"], horizontal=True, key="text_length_unit",
                        format_func={"words": "words", "chars": "characters"}.get)
        st.plotly_chart(viz.text_length_figure(datasets, unit), width="stretch")


def vocabulary(datasets: dict[str, Any]) -> None:
    """The vocabulary overlap of the loaded domains (and any other text built-ins chosen), with the words only one
    side uses often."""
    from da_core.data import sources

    st.subheader("Vocabulary overlap")
    more = [f"builtin:{s.name}" for s in sources("builtin") if s.modality == "text"]
    more = [m for m in more if m not in {ds.domain for ds in datasets.values()}]
    extra = st.multiselect("Compare with more text domains", more, key="vocab_more",
                           help="Loaded in full; each adds a row and a column.")
    top = _ui.widget(st.slider, "Top words per domain", "vocab_top", textstats.TOP_WORDS, min_value=50,
                     max_value=1000, step=50)
    domains = dict(datasets)
    for spec in extra:
        domains[spec.split(":", 1)[1]] = _ui.load(spec, spec)
    c1, c2 = st.columns([3, 2], gap="large")
    c1.plotly_chart(viz.vocabulary_overlap_figure(textstats.vocabulary_overlap(domains, top)), width="stretch")
    c1.caption(f"Share of each row's {top} most frequent words (English stop words removed) that are among the "
               f"column's {top}: a low share means the domains talk about different things.")
    src, tgt = datasets["source"], datasets["target"]
    c2.dataframe(pd.DataFrame({"only the source's": pd.Series(textstats.distinctive_words(src, tgt, top)),
                               "only the target's": pd.Series(textstats.distinctive_words(tgt, src, top))}),
                 hide_index=True, width="stretch")
    c2.caption("Frequent words of one domain that are not among the other's top words.")
