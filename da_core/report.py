"""A comparison study's report: one self-contained HTML file that opens offline.

:func:`build_report` writes, from the stored records of a study (its spec, its set-up and its runs), the pair,
the gap metrics with baselines and intervals, the augmentation lab's sweet spot, a sweep of the pair from the
history, the selection, the comparison study (per-arm table, paired differences, the recommendation, the Study
page's figures and the map when the study has a grid), the validator table and a reproducibility block (the
exact spec as JSON and the commands that rerun it).  Only the pair and its gap metrics are recomputed when the
report is built (the datasets from their specs; the embeddings come from the disk cache) and the report says
so.  A part without data is left out with one sentence saying why.

plotly.js is embedded once, inline and unchanged (in a ``<script id="plotly-js">``); nothing is fetched (no remote
script, stylesheet, font or image; the sample grid is an inline ``data:`` PNG) and a Content-Security-Policy
forbids any request.  The bundle's own code holds URL strings (map tile styles, the topojson default, attribution
links) for trace types the report never draws: they are data inside the library, never loaded (the browser test
blocks the network and records every attempted request).
"""

from __future__ import annotations

import base64
import functools
import html
import io
import math
import re
import shlex
import time
from collections.abc import Callable, Sequence
from typing import Any

from da_core.errors import DAError, SpecError
from da_core.jsonio import dumps
from da_core.study.analysis import arm_rows, span_text
from da_core.warmup import GAP_DEFAULTS

Progress = Callable[[float, str], None]

GAP_MAX_SAMPLES = GAP_DEFAULTS["max_samples"]  # the Gap page's default cap per domain and seed
GAP_SEED = GAP_DEFAULTS["seed"]
GAP_BOOTSTRAPS = 200  # the Gap page's bootstrap resamples and permutations (measure_gap's defaults)
GAP_PERMUTATIONS = 200
GRID_MAX_CLASSES = 20  # a sample grid past this many classes would be a poster, not a figure
AUGMENT_ON_WORDS = {"both": "the source and the labelled target", "source": "the source only",
                    "target": "the labelled target only"}
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
       "font-src 'none'; connect-src 'none'; frame-src 'none'; base-uri 'none'; form-action 'none'")
SECTIONS = {"pair": "The pair", "gap": "Gap metrics", "augmentation": "The augmentation lab's sweet spot",
            "sweep": "The sweep", "selection": "The selection", "study": "The comparison study",
            "validators": "Validators", "reproduce": "Reproducibility"}

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:0 auto;
max-width:1180px;padding:1.5rem 2rem 4rem;color:#1f2430;line-height:1.45}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{margin-top:2.4rem;border-bottom:1px solid #d8dce4;padding-bottom:.25rem}
h3{margin-top:1.6rem}table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #d8dce4;padding:.25rem .55rem;text-align:left;vertical-align:top}th{background:#f1f3f7}
td.n{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f6f7f9;border:1px solid #d8dce4;padding:.7rem;overflow-x:auto;font-size:.82rem;white-space:pre}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
.note{color:#5a6070;font-size:.9rem}.missing{color:#7a5a00;background:#fff8e1;padding:.4rem .7rem;border-radius:4px}
.rec{background:#e8f5ee;border-left:4px solid #2a9d8f;padding:.6rem .9rem}figure{margin:1rem 0}
img.grid{image-rendering:pixelated;max-width:100%;border:1px solid #d8dce4}
nav a{margin-right:.9rem}.two{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
@media (max-width:900px){.two{grid-template-columns:1fr}}
"""


# --------------------------------------------------------------------------------------------- small helpers


def _e(value: Any) -> str:
    """HTML-escaped text of any value (every string from a user or a record goes through it)."""
    return html.escape(str(value), quote=True)


def _md(text: str) -> str:
    """Escape, then ``**bold**`` and ```code``` (the library's sentences use both) as HTML."""
    out = _e(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _pct(v: Any) -> str:
    return f"{v:.1%}" if _finite(v) else "—"


def _fmt(v: Any, spec: str) -> str:
    return format(v, spec) if _finite(v) else "—"


def _missing(text: str) -> str:
    """A part left out, with the one sentence that says why."""
    return f'<p class="missing">{_e(text)}</p>'


def _table(rows: Sequence[dict[str, Any]], formats: dict[str, Callable[[Any], str]] | None = None,
           table_id: str | None = None) -> str:
    """An HTML table of ``rows`` (columns in the first row's order); numbers right-aligned, cells escaped."""
    if not rows:
        return ""
    formats = formats or {}
    cols = list(rows[0])
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = []
    for row in rows:
        cells = []
        for c in cols:
            v = row.get(c)
            text = formats[c](v) if c in formats else ("—" if v is None else
                                                       _fmt(v, ".4g") if isinstance(v, float) else str(v))
            cls = ' class="n"' if _finite(v) else ""
            cells.append(f"<td{cls}>{_e(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{_e(table_id)}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _pre(text: str, ident: str) -> str:
    return f'<pre id="{_e(ident)}">{_e(text)}</pre>'


def _png(image: Any) -> str:
    """An H×W×3 uint8 array as a ``data:`` PNG URI."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@functools.lru_cache(maxsize=1)
def _plotly_js() -> str:
    """plotly.js, to inline (a ``</script`` inside it is written ``<\\/script``, so it cannot end the tag)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().replace("</script", "<\\/script")


def _share(share: Any) -> str:
    return f"{float(share):.0%}"


class _Page:
    """The report's body as it is written, and its figures (counted: the report says how many it holds)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.figures = 0
        self.recomputed: list[str] = []

    def add(self, *chunks: str) -> None:
        self.parts.extend(c for c in chunks if c)

    def figure(self, fig: Any) -> str:
        """A plotly figure as a div (plotly.js is in the page once)."""
        self.figures += 1
        height = fig.layout.height or 420
        div = fig.to_html(include_plotlyjs=False, full_html=False, include_mathjax=False, config=PLOTLY_CONFIG,
                          div_id=f"figure-{self.figures}", default_width="100%", default_height=f"{height}px")
        return f'<figure class="plot">{div}</figure>'

    def section(self, key: str, *chunks: str) -> None:
        self.add(f'<section id="{key}"><h2>{_e(SECTIONS[key])}</h2>', *chunks, "</section>")


# --------------------------------------------------------------------------------------------- the records


def _study(store: Any, study_id: int) -> Any:
    study = store.get_sweep(int(study_id))
    if study is None or study.kind != "study":
        what = "" if study is None else f" (#{study_id} is a {study.kind})"
        raise SpecError(f"--study {study_id}: there is no study #{study_id} in the run history{what}")
    return study


def _result(spec: Any, study: Any, store: Any) -> dict[str, Any]:
    """The study's result as the Study page shows it, analysed again from its runs' records (pure and cheap, so
    a study whose stored result lags its runs still reports every finished run)."""
    from da_core.study.runner import Setup, StudyResult, analyse, study_records

    stored = study.result or {}
    records = study_records(store, study.id)
    setup = Setup.from_dict(stored.get("setup") or {})
    result = StudyResult(study.status, study.id, spec, setup, records, analyse(spec, records),
                         float(stored.get("seconds") or 0.0), study.message or "")
    return result.to_dict()


# --------------------------------------------------------------------------------------------- sections


def _pair_section(page: _Page, spec: Any) -> tuple[Any, Any] | None:
    """The pair: specs, sizes, classes, fingerprints, a sample of each domain; returns the aligned pair."""
    from da_core.data import align_pair, describe_alignment
    from da_core.train.data import load_cached

    base = spec.base
    try:
        source, target = load_cached(base.source), load_cached(base.target)
        src, tgt, alignment = align_pair(source, target)
    except DAError as exc:
        page.section("pair", f"<p>Source <code>{_e(base.source)}</code> → target <code>{_e(base.target)}</code>.</p>",
                     _missing(f"The pair cannot be loaded now ({exc}), so its sizes, fingerprints and gap metrics are "
                              "left out."))
        return None
    page.recomputed.append(f"the pair, loaded from its specs now ({len(source)} source and {len(target)} target "
                           "samples)")
    rows = [{"domain": name, "spec": ds_spec, "name": ds.domain, "modality": ds.modality, "samples": len(ds),
             "classes": len(ds.classes), "fingerprint": ds.fingerprint}
            for name, ds_spec, ds in (("source", base.source, source), ("target", base.target, target))]
    shared = list(alignment.shared)
    if not alignment.only_source and not alignment.only_target:
        classes = f"both domains have the same {len(shared)} classes: {', '.join(shared)}."
    else:
        classes = (f"they share {len(shared)} classes ({', '.join(shared)}), which the study uses"
                   + (f"; only the source has {', '.join(alignment.only_source)}" if alignment.only_source else "")
                   + (f"; only the target has {', '.join(alignment.only_target)}" if alignment.only_target else "")
                   + ".")
    chunks = [f"<p>Source <code>{_e(base.source)}</code> → target <code>{_e(base.target)}</code>; "
              f"{_e(classes)}</p>", _table(rows, table_id="pair-table")]
    converted = describe_alignment(alignment)
    if converted:
        chunks.append(f'<p class="note">{_e(converted)}</p>')
    chunks.append(_samples(src, tgt))
    page.section("pair", *chunks)
    return src, tgt


def _samples(src: Any, tgt: Any) -> str:
    """A seeded sample of each domain: a contact sheet per domain for images, a few texts for text."""
    if src.modality == "text":
        import numpy as np

        rows = []
        for name, ds in (("source", src), ("target", tgt)):
            rng = np.random.default_rng(GAP_SEED)
            for i in sorted(rng.choice(len(ds), size=min(3, len(ds)), replace=False).tolist()):
                text = ds.texts[i]
                rows.append({"domain": name, "uid": ds.uids[i], "class": ds.classes[int(ds.labels[i])],
                             "text": text if len(text) <= 240 else text[:239] + "…"})
        return "<h3>Samples</h3>" + _table(rows)
    if len(src.classes) > GRID_MAX_CLASSES:
        return _missing(f"No sample grid: the pair has {len(src.classes)} classes, more than the "
                        f"{GRID_MAX_CLASSES} a grid shows legibly.")
    from da_core.viz import sample_grid

    cells = []
    for name, ds in (("source", src), ("target", tgt)):
        cells.append(f'<div><h3>{_e(name)}: {_e(ds.domain)}</h3><img class="grid" alt="{_e(name)} samples, one row '
                     f'per class" src="{_png(sample_grid(ds, per_class=6, seed=GAP_SEED))}"></div>')
    return '<div class="two">' + "".join(cells) + "</div>"


def _gap_section(page: _Page, pair: tuple[Any, Any] | None, progress: Progress) -> None:
    """The gap metrics of the pair, recomputed (embeddings from the disk cache) with the Gap page's defaults."""
    if pair is None:
        page.section("gap", _missing("The gap metrics are left out: the pair could not be loaded."))
        return
    from da_core.embed import default_embedder
    from da_core.gap_workflow import fmt_acc, gap_verdict, metric_rows, probe_change

    src, tgt = pair
    embedder = default_embedder(src.modality)
    try:
        gap = _gap(src, tgt, embedder, progress)
    except DAError as exc:
        page.section("gap", _missing(f"The gap metrics could not be computed ({exc})."))
        return
    where = "embeddings from the disk cache" if gap.device == "cache" else f"embedded on {gap.device}"
    page.recomputed.append(f"the gap metrics ({embedder}, at most {GAP_MAX_SAMPLES} samples per domain, seed "
                           f"{GAP_SEED}, {GAP_BOOTSTRAPS} bootstrap resamples, {GAP_PERMUTATIONS} permutations; "
                           f"{where})")
    rows = metric_rows(gap.metrics)
    chunks = [f"<p>Embedder <code>{_e(gap.embedder)}</code>, {_e(where)}: {len(gap.xs)} source × {len(gap.xt)} target "
              "samples (a seeded, class-stratified cap of "
              f"{GAP_MAX_SAMPLES} per domain, as on the Gap page). The baseline is the same metric between two "
              "random halves of the source; the interval is a bootstrap 95% interval.</p>",
              _table(rows, {"value": lambda v: _fmt(v, ".3g"), "baseline": lambda v: _fmt(v, ".2g")},
                     table_id="gap-table")]
    verdict = gap_verdict(gap.metrics)
    if verdict is not None:
        chunks.append(f"<p>{_md(verdict[1])}</p>")
    probe = gap.probe
    if probe.get("source_acc") is not None and probe.get("target_acc") is not None:
        chunks.append(f"<p>A linear probe trained on the source embeddings: held-out source accuracy "
                      f"{fmt_acc(probe['source_acc'])}, target accuracy {fmt_acc(probe['target_acc'])} "
                      f"({probe_change(probe['source_acc'], probe['target_acc'])}).</p>")
    page.section("gap", *chunks)


def _gap(src: Any, tgt: Any, embedder: str, progress: Progress) -> Any:
    """The pair's gap analysis with the Gap page's defaults: its embeddings (disk cache) and metrics through the
    warm-up's disk cache of exact inputs (:func:`da_core.warmup.cached_measure_gap`), so a pair the app or an
    earlier report measured is read back, not measured again."""
    from da_core.gap_workflow import embed_for_gap
    from da_core.warmup import cached_measure_gap

    pair = embed_for_gap(src, tgt, embedder, GAP_MAX_SAMPLES, GAP_SEED, progress=lambda f, m: progress(0.4 * f, m))
    return cached_measure_gap(pair, GAP_SEED, GAP_PERMUTATIONS, GAP_BOOTSTRAPS,
                              progress=lambda f, m: progress(0.4 + 0.6 * f, m))


def _augmentation_section(page: _Page, spec: Any, setup: dict[str, Any], arms: list[str]) -> None:
    from da_core.study.arms import get_arm

    augmenting = [a for a in arms if get_arm(a).augment]
    if not augmenting:
        page.section("augmentation", _missing("No arm of this study augments, so the lab's sweet spot was not "
                                              "measured."))
        return
    if not setup:
        page.section("augmentation", _missing("The study's set-up is not stored (it has not started yet, or its "
                                              "set-up failed), so there is no strength to show."))
        return
    strength, pipeline = setup.get("strength"), setup.get("pipeline") or {}
    measured = spec.strength is None
    note = setup.get("strength_note") or ""
    chunks = [f"<p>{_e(note)}.</p>"] if note else []
    on = AUGMENT_ON_WORDS.get(spec.augment_on, spec.augment_on)
    chunks.append(f"<p>The augmenting arms ({_e(', '.join(augmenting))}) trained at s = {_fmt(strength, '.2f')} on "
                  f"{_e(on)}; "
                  + ("the strength was measured when the study started, as the augmentation lab measures it."
                     if measured else "the strength was given with the study, so the lab's sweet spot was not "
                                      "measured.") + "</p>")
    ops = [op.get("name") for op in pipeline.get("ops") or []]
    described = _describe_pipeline(pipeline, strength)
    chunks.append(f"<p>Pipeline: {_e(', '.join(map(str, ops)) or 'no ops')}"
                  + (f"; at this strength: {_e(described)}" if described else "") + ".</p>")
    page.section("augmentation", *chunks)


def _describe_pipeline(pipeline: dict[str, Any], strength: Any) -> str:
    """What the strength means per op (images: the concrete values; texts: on a 14-word text)."""
    try:
        from da_core.augment import Pipeline

        pipe = Pipeline.from_dict(pipeline)
        if pipe.modality == "text":
            from da_core.augment.text_ops import describe_text

            return describe_text(pipe, strength)
        return pipe.describe(strength)
    except (DAError, ValueError, KeyError, TypeError):
        return ""


def _canonical(spec: Any) -> str:
    """A dataset spec with its options in canonical form (a sweep may write the same dataset differently)."""
    from da_core.data import resolve

    try:
        return str(resolve(str(spec))[1])
    except DAError:
        return str(spec)


def _sweep_section(page: _Page, spec: Any, store: Any) -> None:
    """The newest finished sweep of this pair in the history (a study runs no sweep of its own)."""
    from da_core.train import figures
    from da_core.train.sweep import peak

    base = spec.base
    pair = (_canonical(base.source), _canonical(base.target))
    found = None
    for sweep in store.list_sweeps(limit=200, kind="sweep"):
        cfg = sweep.config.get("base") or {}
        if (sweep.result or {}).get("summary") and (_canonical(cfg.get("source")),
                                                     _canonical(cfg.get("target"))) == pair:
            found = sweep
            break
    if found is None:
        page.section("sweep", _missing(f"A study runs no sweep, and the run history holds no sweep with results for "
                                       f"this pair ({base.source} → {base.target}); run one on the Training page or "
                                       "with python -m da_core sweep."))
        return
    result = found.result or {}
    summary = result["summary"]
    strengths = sorted({row["strength"] for row in summary})
    seeds = found.config.get("seeds") or []
    ops = [op.get("name") for op in (found.config.get("pipeline") or {}).get("ops") or []]
    chunks = [f"<p>Sweep #{found.id} ({_e(found.status)}) of this pair from the run history: "
              f"{_e(', '.join(map(str, ops)) or 'no ops')} at strengths {_e(', '.join(f'{s:g}' for s in strengths))}"
              f" × {_count(len(seeds), 'seed')}.</p>",
              page.figure(figures.sweep_strength_figure(summary, result.get("results", [])))]
    if any(_finite(r.get("diversity")) and _finite(r.get("affinity")) for r in summary):
        chunks.append(page.figure(figures.affinity_diversity_figure(summary)))
    if any(r.get("adv_acc") is not None for r in summary):
        chunks.append(page.figure(figures.sweep_robustness_figure(summary)))
    top = peak(result)
    if top is not None:
        chunks.append(f"<p>Target accuracy peaks at strength {top.strength:g} ({top.target_acc:.1%}); at the highest "
                      f"strength it is {top.at_highest:.1%} ({top.change * 100:+.1f} points).</p>")
    cols = ("strength", "lr", "schedule", "n", "target_acc", "target_acc_low", "target_acc_high", "source_acc",
            "affinity", "diversity", "best")
    chunks.append(_table([{c: row.get(c) for c in cols} for row in summary],
                         {c: _pct for c in ("target_acc", "target_acc_low", "target_acc_high", "source_acc")}
                         | {"best": _yes, "affinity": lambda v: _fmt(v, ".3f"), "diversity": lambda v: _fmt(v, ".3f")},
                         table_id="sweep-table"))
    page.section("sweep", *chunks)


def _selection_section(page: _Page, spec: Any, setup: dict[str, Any], arms: list[str]) -> None:
    from da_core.study.arms import get_arm

    selecting = [a for a in arms if get_arm(a).select]
    if not selecting:
        page.section("selection", _missing("No arm of this study selects source data, so no selection was made."))
        return
    selections = setup.get("selections") or {}
    if not selections:
        page.section("selection", _missing("The study's set-up is not stored (it has not started yet, or its "
                                           "set-up failed), so there is no selection to show."))
        return
    rows, lines = [], []
    for share, sel in selections.items():
        rows.append({"source pool": _share(share), "method": sel.get("method"), "fraction": sel.get("fraction"),
                     "embedder": sel.get("embedder"), "kept": sel.get("n_selected"), "of": sel.get("n_pool"),
                     "MMD² before": sel.get("gap_before"), "MMD² after": sel.get("gap_after"),
                     "random subsets": sel.get("random_gap"),
                     "ESS": sel.get("ess") if sel.get("ess") is not None else "not stored"})
        before, after, rand = sel.get("gap_before"), sel.get("gap_after"), sel.get("random_gap")
        if _finite(before) and _finite(after) and _finite(rand):
            lines.append(f"On {_share(share)} of the source the selection kept {sel.get('n_selected')} of "
                         f"{sel.get('n_pool')} samples; the input-space MMD² to the target went from {before:.3f} "
                         f"to {after:.3f}, against {rand:.3f} for random subsets of that size ("
                         + ("closer than random" if after < rand else "not closer than random") + ").")
    params = next(iter(selections.values())).get("params") or spec.params
    chunks = [f"<p>The selecting arms ({_e(', '.join(selecting))}) trained on the {spec.fraction:.0%} of each source "
              f"pool that {_e(spec.method)} weights highest"
              + (f" (parameters {_e(dumps(params))})" if params else "") + ".</p>",
              _table(rows, {c: lambda v: _fmt(v, ".3f") for c in ("MMD² before", "MMD² after", "random subsets")}
                     | {"fraction": lambda v: _fmt(v, ".0%")}, table_id="selection-table")]
    chunks += [f"<p>{_e(line)}</p>" for line in lines]
    if not any(sel.get("ess") is not None for sel in selections.values()):
        chunks.append('<p class="note">A study stores no effective sample size with its selection; the Selection '
                      "page shows it for the same method.</p>")
    page.section("selection", *chunks)


def _study_section(page: _Page, study: Any, spec: Any, result: dict[str, Any]) -> None:
    from da_core.study import figures

    arms = result.get("arms") or []
    head = (f"<p>Study #{study.id} <strong>{_e(study.status)}</strong>"
            + (f" ({_e(study.message)})" if study.message else "")
            + f": {result.get('runs_done', 0)} of {result.get('runs_total', spec.run_count())} runs finished "
              f"({_count(len(spec.arms), 'arm')} × {_count(len(spec.seeds), 'seed')}"
            + (f" × {_count(len(spec.cells()), 'cell')}" if spec.is_grid else "") + ").</p>")
    records = result.get("records") or []
    steps = sorted({int(r["steps"]) for r in records if r.get("status") == "finished" and r.get("steps")})
    if steps:
        head += (f"<p>Every finished run trained {steps[0]} steps (the equal budget).</p>" if len(steps) == 1 else
                 f"<p>The runs trained {steps[0]} to {steps[-1]} steps.</p>")
    if not arms:
        page.section("study", head, _missing("No run of the study has finished yet, so there is no per-arm table, "
                                             "recommendation or figure."))
        return
    main = result.get("main_cell") or {}
    chunks = [head]
    if spec.is_grid:
        chunks.append(f"<p>The table and the recommendation are for the cell k = {_e(main.get('k'))}, "
                      f"{_share(main.get('source_share', 1))} of the source.</p>")
    rows = arm_rows(arms)
    chunks.append(_table(rows, {"target accuracy": _pct, "feature MMD²": lambda v: _fmt(v, ".3f"),
                                "s per run": lambda v: _fmt(v, ".1f")}, table_id="arms-table"))
    diffs = [a for a in arms if a["name"] != "source-only" and a.get("paired_diff_vs_source_only")]
    if diffs:
        chunks.append("<h3>Paired differences vs source only</h3>")
        chunks.append(_table([{"arm": a["title"], "seeds paired": a["paired_diff_vs_source_only"]["n"],
                               "mean (points)": _points(a["paired_diff_vs_source_only"]["mean"]),
                               "paired 95% interval (points)": span_text(a["paired_diff_vs_source_only"]["ci"], 100,
                                                                     "{:+.1f}"),
                               "interval excludes zero": _excludes(a["paired_diff_vs_source_only"])}
                              for a in diffs], table_id="paired-table"))
    if result.get("recommendation"):
        chunks.append(f'<p class="rec" id="recommendation">{_e(result["recommendation"])}</p>')
    order = [a["name"] for a in arms]
    chunks.append('<div class="two">' + page.figure(figures.accuracy_figure(arms, order))
                  + page.figure(figures.paired_figure(arms)) + "</div>")
    chunks.append(page.figure(figures.cost_figure(arms, order)))
    if result.get("cells"):
        cells = result["cells"]
        titles = {a["name"]: a["title"] for c in cells for a in c["arms"]}
        chunks.append("<h3>When does each win</h3>")
        chunks.append(page.figure(figures.map_figure(cells, order, titles)))
        chunks.append("<ul>" + "".join(f"<li>{_e(line)}</li>" for line in result.get("map_summary") or []) + "</ul>")
        chunks.append(_table([{"k": c["k"], "source share": _share(c["source_share"]),
                               "winner": titles.get(c["winner"], c["winner"]) if c["winner"] else "not run yet",
                               "runner-up": titles.get(c["runner_up"], c["runner_up"]) if c["runner_up"] else "",
                               "margin (points)": _points(c["margin"]), "tie": c["tie"]} for c in cells],
                             {"tie": _yes}, table_id="cells-table"))
    elif spec.is_grid:
        chunks.append(_missing("The study has a grid, but no cell has a finished run yet: there is no map."))
    notes = (result.get("setup") or {}).get("notes") or []
    chunks += [f'<p class="note">{_e(n)}</p>' for n in notes]
    page.section("study", *chunks)


def _points(v: Any) -> str:
    return f"{v * 100:+.1f}" if _finite(v) else "—"


def _excludes(diff: dict[str, Any]) -> str:
    ci = diff.get("ci") or [None, None]
    if (diff.get("n") or 0) < 2 or not _finite(ci[0]) or not _finite(ci[1]):
        return "no interval (one seed)"
    return "yes" if ci[0] > 0 or ci[1] < 0 else "no"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _yes(v: Any) -> str:
    return "yes" if v else "no"


def _validators_section(page: _Page, result: dict[str, Any], store: Any) -> None:
    """The validator table of the recommended arm's first run (how it looked without target labels)."""
    from da_core.train.validators import validator_rows

    arms = result.get("arms") or []
    detail = result.get("recommendation_detail") or {}
    best = next((a for a in arms if a["name"] == detail.get("best")), arms[0] if arms else None)
    if best is None or not best.get("runs"):
        page.section("validators", _missing("No run of the study has finished, so there is no validator table."))
        return
    run_id = int(best["runs"][0])
    run = store.get_run(run_id)
    rows = validator_rows((run.final if run is not None else None) or {})
    if not rows:
        page.section("validators", _missing(f"Run #{run_id} stored no validator scores, so there is no validator "
                                            "table."))
        return
    seeds = sorted(int(s) for s in best.get("target_acc_by_seed") or {})
    seed = seeds[0] if seeds else "?"  # the runs are in seed order
    page.section("validators",
                 f"<p>Run #{run_id} ({_e(best['title'])}, seed {_e(seed)}), the recommended arm's first run: each "
                 "validator's final score on the held-out source and target (target labels only for the oracle), "
                 "the evaluation it would pick and the target accuracy the run really had there.</p>",
                 _table(rows, {"final score": lambda v: _fmt(v, ".4f"), "target accuracy there": _pct,
                               "oracle": _yes},
                        table_id="validators-table"))


def command_args(spec: Any, study_id: int) -> tuple[list[str], list[str]]:
    """The ``python -m da_core compare`` arguments that rerun ``spec`` (with its base config in
    ``study-ID-base.json`` and its pipeline, if any, in ``study-ID-pipeline.json``), and the sentences naming
    what the command cannot set."""
    from da_core.study.spec import DEFAULT_FRACTION, DEFAULT_METHOD

    args = ["python", "-m", "da_core", "compare", "--config", f"study-{study_id}-base.json",
            "--arms", ",".join(spec.arms), "--seeds", str(len(spec.seeds))]
    if spec.method != DEFAULT_METHOD:
        args += ["--method", spec.method]
    if spec.fraction != DEFAULT_FRACTION:
        args += ["--fraction", f"{spec.fraction:g}"]
    if spec.pipeline is not None:
        args += ["--pipeline", f"study-{study_id}-pipeline.json"]
    if spec.strength is not None:
        args += ["--strength", f"{spec.strength:g}"]
    if spec.adv_strength != 0.25:
        args += ["--adv-strength", f"{spec.adv_strength:g}"]
    if spec.augment_on != "both":
        args += ["--augment-on", spec.augment_on]
    if spec.is_grid:
        args += ["--grid", "k=" + ",".join(str(k) for k in spec.ks), "--source-share",
                 ",".join(f"{s:g}" for s in spec.shares)]
    if spec.name:
        args += ["--name", spec.name]
    cannot = []
    if list(spec.seeds) != list(range(len(spec.seeds))):
        cannot.append(f"seeds {spec.seeds}: --seeds N runs seeds 0 to N-1")
    if spec.params:
        cannot.append(f"the selector's parameters {dumps(spec.params)}: compare has no flag for them (it uses the "
                      "selector's defaults)")
    if spec.embedder is not None:
        cannot.append(f"embedder {spec.embedder!r}: compare has no flag for it (it selects with the backbone)")
    return args, cannot


def _reproduce_section(page: _Page, study: Any, spec: Any) -> None:
    args, cannot = command_args(spec, study.id)
    command = shlex.join(args)
    chunks = ["<h3>The study (StudySpec, as stored)</h3>", _pre(dumps(spec.to_dict(), indent=2), "spec-json"),
              f"<h3>The base training config (TrainConfig): save as <code>study-{study.id}-base.json</code></h3>",
              _pre(dumps(spec.base.to_dict(), indent=2), "base-json")]
    if spec.pipeline is not None:
        chunks += [f"<h3>The pipeline: save as <code>study-{study.id}-pipeline.json</code></h3>",
                   _pre(dumps(spec.pipeline, indent=2), "pipeline-json")]
    chunks += ["<h3>The command that reruns it (a new study in the run history)</h3>", _pre(command, "command")]
    if cannot:
        chunks.append("<p>The command cannot set " + _e("; ".join(cannot)) + ". The exact study is rerun from the "
                      "spec JSON above (saved as <code>study-" + str(study.id) + ".json</code>) in Python:</p>")
    else:
        chunks.append("<p>It makes the same spec as above. Or, exactly from the spec JSON (saved as "
                      f"<code>study-{study.id}.json</code>), in Python:</p>")
    chunks.append(_pre(f"from pathlib import Path\nfrom da_core.jsonio import loads_strict\n"
                       f"from da_core.study import StudySpec, run_study\n\n"
                       f"spec = StudySpec.from_dict(loads_strict(Path('study-{study.id}.json').read_text()))\n"
                       f"print(run_study(spec).recommendation)", "python"))
    if study.status in ("stopped", "interrupted", "failed"):
        chunks.append(f"<p>Study #{study.id} is {_e(study.status)}: "
                      f"<code>python -m da_core compare --resume {study.id}</code> goes on with it in this run "
                      "history, training only the runs that are missing.</p>")
    chunks.append(f"<p>This report again: <code>python -m da_core report --study {study.id} --out "
                  f"study-{study.id}-report.html</code>.</p>")
    page.section("reproduce", *chunks)


# --------------------------------------------------------------------------------------------- the report


def build_report(study_id: int, store: Any = None, progress: Progress | None = None) -> str:
    """The self-contained HTML report of study ``study_id`` (see the module docstring).

    Raises :class:`SpecError` when the history holds no study with that id.  ``progress(fraction, message)``
    follows the work (the gap metrics take most of it).
    """
    from da_core.study import StudySpec
    from da_core.train.store import get_store

    report = progress or (lambda _f, _m: None)
    store = store or get_store()
    study = _study(store, study_id)
    spec = StudySpec.from_dict(study.config)
    report(0.0, "reading the study")
    result = _result(spec, study, store)
    setup = result.get("setup") or {}
    page = _Page()
    report(0.05, "loading the pair")
    pair = _pair_section(page, spec)
    _gap_section(page, pair, lambda f, m: report(0.1 + 0.8 * f, f"gap metrics: {m}"))
    report(0.9, "the study's figures")
    _augmentation_section(page, spec, setup, spec.arms)
    _sweep_section(page, spec, store)
    _selection_section(page, spec, setup, spec.arms)
    _study_section(page, study, spec, result)
    _validators_section(page, result, store)
    _reproduce_section(page, study, spec)
    report(1.0, "report ready")
    return _document(page, study, spec)


def _document(page: _Page, study: Any, spec: Any) -> str:
    title = f"Study #{study.id}" + (f": {spec.name}" if spec.name else "")
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(study.created))
    recomputed = ("Recomputed for this report: " + "; ".join(page.recomputed) + ". Everything else comes from "
                  "the study's stored records (its spec, set-up and runs).") if page.recomputed else \
        "Nothing was recomputed: everything comes from the study's stored records (its spec, set-up and runs)."
    nav = "".join(f'<a href="#{k}">{_e(v)}</a>' for k, v in SECTIONS.items())
    header = (f"<header><h1>{_e(title)}</h1><p>{_e(spec.base.source)} → {_e(spec.base.target)} · "
              f"{_e(study.status)} · created {_e(created)} · report written "
              f"{_e(time.strftime('%Y-%m-%d %H:%M'))}</p>"
              f'<p class="note" id="figure-count">This report holds {page.figures} figures; plotly.js is embedded, '
              "so it opens offline and fetches nothing.</p>"
              f'<p class="note" id="recomputed">{_e(recomputed)}</p><nav>{nav}</nav></header>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)} · Domain Shift Studio report</title><style>{STYLE}</style>"
            "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>"
            f'<script id="plotly-js">{_plotly_js()}</script></head>\n'
            f'<body data-figures="{page.figures}">{header}<main>{"".join(page.parts)}</main></body></html>\n')
