"""The gap workflow the page and the command line share: sample -> embed -> metrics -> per-class table."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from da_core.data import Dataset, stratified_split
from da_core.data.dataset import stratified_subset
from da_core.probe import fit_linear_probe

Progress = Any


@dataclass
class GapAnalysis:
    """Everything the gap page shows, computed once."""

    embedder: str
    device: str
    source: Dataset
    target: Dataset
    xs: np.ndarray
    xt: np.ndarray
    metrics: dict[str, Any]
    per_class: list[dict[str, Any]]
    probe: dict[str, float | None]
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON the ``gap`` command prints."""
        return {
            "embedder": self.embedder,
            "device": self.device,
            "n_source": len(self.source),
            "n_target": len(self.target),
            "metrics": {name: result.to_dict() for name, result in self.metrics.items()},
            "per_class": self.per_class,
            "probe": self.probe,
            "seconds": self.seconds,
        }




def gap_key(source: Dataset, target: Dataset, embedder: str, max_samples: int | None, seed: int) -> str:
    """The key of one pair's embeddings and gap analysis in a cache (the Gap page's, the warm-up's)."""
    return f"{source.fingerprint}|{target.fingerprint}|{embedder}|{max_samples}|{seed}"


def map_key(key: str, n_components: int, n_neighbors: int, min_dist: float, engine: str) -> str:
    """The key of one map of the embeddings under ``key`` (:func:`gap_key`)."""
    return f"{key}|{n_components}|{n_neighbors}|{min_dist}|{engine}"


def pca_map_key(key: str, n_components: int) -> str:
    """The key of the PCA stand-in the Gap page draws while the UMAP map of ``key``'s embeddings is computed."""
    return f"{key}|{n_components}|pca"


def embeddings_npz(analysis: GapAnalysis) -> bytes:
    """The vectors the metrics used, as ``.npz`` bytes: ``source``/``target`` with their ``*_labels`` and
    ``*_uids`` (each row's sample identity, so the rows can be joined back to the datasets)."""
    import io

    buffer = io.BytesIO()  # np.savez on a path would append ".npz" to a name without it
    np.savez(buffer, source=analysis.xs, target=analysis.xt, source_labels=analysis.source.labels.numpy(),
             target_labels=analysis.target.labels.numpy(), source_uids=np.asarray(analysis.source.uids),
             target_uids=np.asarray(analysis.target.uids))
    return buffer.getvalue()


def selection_table(analysis: EmbeddedPair | GapAnalysis, rows: Any, origins: dict[str, str],
                    fingerprints: dict[str, str]) -> Any:
    """The samples at map ``rows`` (source rows first, then target rows) as a table to show and download:
    ``domain``, ``uid``, ``class``, ``origin`` (the dataset's spec) and ``fingerprint`` (of the dataset as
    loaded), so an import can map each row back to its sample and refuse a selection from another dataset."""
    import pandas as pd

    datasets = {"source": analysis.source, "target": analysis.target}
    uids = {"source": analysis.source.uids, "target": analysis.target.uids}  # once, not once per row
    out = []
    for domain, i in map_samples(analysis, rows):
        ds = datasets[domain]
        out.append({"domain": domain, "uid": uids[domain][i], "class": ds.classes[int(ds.labels[i])],
                    "origin": origins.get(domain, ds.domain), "fingerprint": fingerprints.get(domain, "")})
    return pd.DataFrame(out, columns=["domain", "uid", "class", "origin", "fingerprint"])


def probe_change(source_acc: float, target_acc: float) -> str:
    """How the source-trained probe's accuracy moves from the source to the target, in words:
    ``"68.3 points lower on the target"`` (or higher, or "the same on both")."""
    drop = (source_acc - target_acc) * 100
    if drop == 0:
        return "the same on both"
    return f"{abs(drop):.1f} points {'lower' if drop > 0 else 'higher'} on the target"


def fmt_acc(value: float | None) -> str:
    """An accuracy for a sentence or a table: three decimals, or "n/a" when it could not be measured."""
    return "n/a" if value is None or value != value else f"{value:.3f}"


def linear_probe(xs: np.ndarray, ys: np.ndarray, xt: np.ndarray, yt: np.ndarray, n_classes: int,
                 seed: int = 0) -> tuple[dict[str, float | None], np.ndarray, np.ndarray]:
    """Train the linear probe (:func:`da_core.probe.fit_linear_probe`) on source embeddings (the "source-trained
    model").

    Returns overall accuracies (held-out source, target), per-class target accuracy and per-class
    held-out source accuracy (NaN where a class has no sample).  With a class too small to hold a sample out,
    the held-out source accuracy covers the other classes (None when nothing could be held out).
    """
    tr, te = stratified_split(ys, 0.25, seed)  # every class keeps a training sample, however small
    probe = fit_linear_probe(xs[tr], ys[tr], n_classes)
    pred_s, pred_t = probe.predict(xs[te]), probe.predict(xt)

    def per_class(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
        out = np.full(n_classes, np.nan)
        for c in range(n_classes):
            mask = truth == c
            if mask.any():
                out[c] = float((pred[mask] == c).mean())
        return out

    overall = {"source_acc": float((pred_s == ys[te]).mean()) if len(te) else None,
               "target_acc": float((pred_t == yt).mean()) if len(yt) else None}
    return overall, per_class(pred_t, yt), per_class(pred_s, ys[te])


@dataclass
class EmbeddedPair:
    """Both domains (capped) and their embeddings: what the map is drawn from."""

    embedder: str
    device: str
    source: Dataset
    target: Dataset
    xs: np.ndarray
    xt: np.ndarray
    seconds: float


def embed_for_gap(source: Dataset, target: Dataset, embedder: str | None = None, max_samples: int | None = 2000,
                  seed: int = 0, device: str = "auto", progress: Progress | None = None) -> EmbeddedPair:
    """Cap each domain (seeded, class-stratified) and embed both with one embedder (the modality's default when
    None: digits-cnn for images, minilm for text)."""
    from da_core.embed import default_embedder, embed_pair

    embedder = embedder or default_embedder(source.modality)
    t = time.perf_counter()
    src, tgt = source.capped(max_samples, seed), target.capped(max_samples, seed)
    xs, xt, info = embed_pair(src, tgt, embedder, device, progress=progress)
    return EmbeddedPair(info.embedder, info.device, src, tgt, xs, xt, time.perf_counter() - t)


def measure_gap(pair: EmbeddedPair, seed: int = 0, n_permutations: int = 200, n_boot: int = 200,
                device: str = "auto", progress: Progress | None = None) -> GapAnalysis:
    """Every gap metric with its baseline, interval and (MMD²) p-value, and the per-class table."""
    from da_core.gap import gap_report, median_bandwidth, per_class_mmd2

    report = progress or (lambda _f, _m: None)
    timings: dict[str, float] = {"embed": pair.seconds}
    xs, xt, src, tgt = pair.xs, pair.xt, pair.source, pair.target
    t = time.perf_counter()
    metrics = gap_report(xs, xt, n_boot=n_boot, n_permutations=n_permutations, seed=seed, device=device,
                         progress=lambda f, m: report(0.9 * f, m))
    timings["metrics"] = time.perf_counter() - t
    report(0.92, "per-class table")
    t = time.perf_counter()
    ys, yt = src.labels.numpy(), tgt.labels.numpy()
    bandwidth = metrics["mmd2"].bandwidth if "mmd2" in metrics else median_bandwidth(np.concatenate([xs, xt]))
    rows = per_class_mmd2(xs, xt, ys, yt, src.classes, seed=seed, bandwidth=bandwidth, device=device)
    probe, target_acc, source_acc = linear_probe(xs, ys, xt, yt, len(src.classes), seed)
    index = {name: i for i, name in enumerate(src.classes)}
    for row in rows:
        i = index[row["class"]]
        row["target_acc"] = None if np.isnan(target_acc[i]) else round(float(target_acc[i]), 4)
        row["source_acc"] = None if np.isnan(source_acc[i]) else round(float(source_acc[i]), 4)
    timings["per_class"] = time.perf_counter() - t
    report(1.0, "done")
    return GapAnalysis(pair.embedder, pair.device, src, tgt, xs, xt, metrics, rows, probe,
                       {k: round(v, 3) for k, v in timings.items()})


def analyse_gap(source: Dataset, target: Dataset, embedder: str | None = None, max_samples: int | None = 2000,
                seed: int = 0, n_permutations: int = 200, n_boot: int = 200, device: str = "auto",
                progress: Progress | None = None) -> GapAnalysis:
    """Embed both domains (capped at ``max_samples`` each), then :func:`measure_gap`."""
    report = progress or (lambda _f, _m: None)
    pair = embed_for_gap(source, target, embedder, max_samples, seed, device, lambda f, m: report(0.4 * f, m))
    return measure_gap(pair, seed, n_permutations, n_boot, device, lambda f, m: report(0.4 + 0.6 * f, m))


# ------------------------------------------------------------------------------------------ what the Gap page shows


def map_points(pair: EmbeddedPair | GapAnalysis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The map's input: both domains' vectors stacked (source rows first), each row's domain and its label."""
    points = np.concatenate([pair.xs, pair.xt])
    domains = np.array(["source"] * len(pair.xs) + ["target"] * len(pair.xt))
    labels = np.concatenate([pair.source.labels.numpy(), pair.target.labels.numpy()])
    return points, domains, labels


SHOW_ALL_PER_DOMAIN = 50_000  # up to here every point is drawn; beyond, a seeded subsample and a density overview
SHOWN_PER_DOMAIN = 20_000
METRICS_PER_DOMAIN = 20_000  # the metrics, per-class table and probe run on a seeded subsample past this


def shown_rows(domains: np.ndarray, seed: int = 0) -> np.ndarray | None:
    """The map rows to draw as points: None (all of them) while no domain has more than
    :data:`SHOW_ALL_PER_DOMAIN`; else a seeded subsample of :data:`SHOWN_PER_DOMAIN` per domain (fewer where a
    domain has fewer), in row order, so a box or lasso still gives map rows (and so uids)."""
    names, counts = np.unique(domains, return_counts=True)
    if counts.max(initial=0) <= SHOW_ALL_PER_DOMAIN:
        return None
    rng = np.random.default_rng(seed)
    rows = [rng.choice(np.flatnonzero(domains == d), size=min(SHOWN_PER_DOMAIN, c), replace=False)
            for d, c in zip(names, counts, strict=True)]
    return np.sort(np.concatenate(rows))


def map_notes(domains: np.ndarray, shown: np.ndarray | None, params: dict[str, Any]) -> list[str]:
    """What the page says about a large map: how many points it draws of how many, and how it was fitted."""
    notes = []
    if shown is not None:
        per = ", ".join(f"{int((domains[shown] == d).sum()):,} of {int((domains == d).sum()):,} {d}"
                        for d in ("source", "target"))
        notes.append(f"Showing {len(shown):,} of {len(domains):,} points ({per}; a seeded subsample); the density "
                     "overview below counts all of them.")
    if params.get("placed"):
        notes.append(f"UMAP fitted on {params['fitted']:,} points (each domain's share, seeded); the other "
                     f"{params['placed']:,} placed at the {params['placement']}.")
    return notes


def for_metrics(pair: EmbeddedPair, seed: int = 0, per_domain: int | None = None) -> EmbeddedPair:
    """``pair`` itself while each domain has at most ``per_domain`` (default :data:`METRICS_PER_DOMAIN`) samples,
    else a seeded class-stratified subsample of that many per domain, on which :func:`measure_gap` runs (its
    intervals are for that sample)."""
    per_domain = METRICS_PER_DOMAIN if per_domain is None else per_domain
    if max(len(pair.xs), len(pair.xt)) <= per_domain:
        return pair
    parts = []
    for ds, x in ((pair.source, pair.xs), (pair.target, pair.xt)):
        keep = np.asarray(stratified_subset(ds.labels.numpy(), per_domain, seed))
        parts.append((ds.take(keep), np.asarray(x)[keep]))
    return EmbeddedPair(pair.embedder, pair.device, parts[0][0], parts[1][0], parts[0][1], parts[1][1],
                        pair.seconds)


def map_samples(analysis: EmbeddedPair | GapAnalysis, rows: Any) -> list[tuple[str, int]]:
    """Map ``rows`` (source rows first, then target rows; see :func:`map_points`) as sorted, unique
    ``(domain, index in that domain)`` pairs."""
    n_src = len(analysis.source)
    return [("source", row) if row < n_src else ("target", row - n_src) for row in sorted({int(r) for r in rows})]


def selection_images(analysis: EmbeddedPair | GapAnalysis, rows: Any, limit: int = 120) -> np.ndarray:
    """The images of the first ``limit`` samples at map ``rows`` (:func:`map_samples`), uint8 N×C×H×W; grey
    images are replicated to RGB when the selection mixes grey and colour."""
    datasets = {"source": analysis.source, "target": analysis.target}
    images = [datasets[domain].images[i].numpy() for domain, i in map_samples(analysis, rows)[:limit]]
    if not images:
        return analysis.source.images[:0].numpy()
    channels = max(im.shape[0] for im in images)
    return np.stack([np.repeat(im, 3, 0) if im.shape[0] < channels else im for im in images])


def selection_texts(analysis: EmbeddedPair | GapAnalysis, rows: Any, limit: int = 120) -> Any:
    """The texts of the first ``limit`` samples at map ``rows`` (:func:`map_samples`) as a table: ``domain``,
    ``uid``, ``class``, ``text`` (what the Gap page lists for a selection on a text pair)."""
    import pandas as pd

    datasets = {"source": analysis.source, "target": analysis.target}
    out = []
    for domain, i in map_samples(analysis, rows)[:limit]:
        ds = datasets[domain]
        out.append({"domain": domain, "uid": ds.uids[i], "class": ds.classes[int(ds.labels[i])],
                    "text": ds.texts[i] if ds.texts is not None else ""})
    return pd.DataFrame(out, columns=["domain", "uid", "class", "text"])


def map_hover_texts(pair: Any, width: int = 60, limit: int = 280) -> list[str] | None:
    """Per map point of ``pair`` (anything holding the ``source`` and ``target`` datasets of a map: an embedded
    pair, a gap analysis, a selection; source rows first), its text shortened to ``limit`` characters and wrapped
    at about ``width`` (``<br>`` line breaks, HTML escaped) for the map's hover; None for images."""
    import html
    import textwrap

    if pair.source.texts is None:
        return None
    out = []
    for text in [*pair.source.texts, *(pair.target.texts or [])]:
        short = text if len(text) <= limit else text[:limit - 1].rstrip() + "…"
        out.append("<br>".join(html.escape(line) for line in textwrap.wrap(short, width) or [""]))
    return out


def metric_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The metric table: per metric its label, value, same-domain baseline, 95% interval, MMD²'s p-value and
    whether it finds a gap (interval and p-value as text, "—" where a metric has no p-value)."""
    from da_core.gap import METRICS

    return [{"metric": METRICS[name].label, "value": res.value, "baseline": res.baseline,
             "95% CI": f"[{res.ci[0]:.3g}, {res.ci[1]:.3g}]",
             "p": "—" if res.p_value is None else f"{res.p_value:.2g}",
             "gap?": "yes" if res.significant else "no"} for name, res in metrics.items()]


def gap_verdict(metrics: dict[str, Any]) -> tuple[bool, str] | None:
    """Whether MMD²'s permutation test finds a significant gap, and the sentence that says so with its numbers
    (None when MMD² was not measured)."""
    mmd = metrics.get("mmd2")
    if mmd is None:
        return None
    if mmd.significant:
        return True, (f"**The gap is significant.** MMD² = {mmd.value:.4g} against {mmd.baseline:.2g} between two "
                      f"halves of the source; permutation p = {mmd.p_value:.3g}.")
    return False, (f"**No significant gap.** MMD² = {mmd.value:.4g} (baseline {mmd.baseline:.2g}); "
                   f"permutation p = {mmd.p_value:.3g}.")
