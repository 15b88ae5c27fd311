"""What a study's runs say: per arm the mean target accuracy with its 95% interval over seeds, the paired
difference to source only (seed by seed), the learned feature gap and the training time; the recommendation,
written from those numbers and nothing else; and, for a grid, each cell's winner and margin.

Everything here is a pure function of the run records (dicts with ``cell``, ``arm``, ``seed``, ``status``,
``target_acc``, ...), so the Study page, ``compare --json`` and the tests read the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from da_core.stats import MAX_SEEDS, Interval, interval, paired, seeds_to_separate
from da_core.study.arms import REFERENCE, get_arm


@dataclass
class ArmResult:
    """One arm of one cell: target accuracy over seeds, its paired difference to source only, feature gap, time."""

    name: str
    title: str
    target_acc: Interval
    by_seed: dict[int, float]
    paired_vs_reference: Interval | None
    feature_mmd2: float | None
    seconds: float | None
    runs: list[int]

    @property
    def n(self) -> int:
        """Seeds with a finished run."""
        return len(self.by_seed)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of one arm (``compare --json``'s ``arms`` entries)."""
        diff = self.paired_vs_reference
        return {"name": self.name, "title": self.title, "n": self.n,
                "target_acc_mean": _num(self.target_acc.mean), "target_acc_ci": _pair(self.target_acc),
                "target_acc_sd": _num(self.target_acc.sd),
                "paired_diff_vs_source_only": None if diff is None else {"mean": _num(diff.mean), "ci": _pair(diff),
                                                                         "n": diff.n},
                "feature_mmd2_mean": self.feature_mmd2, "seconds_mean": self.seconds, "runs": list(self.runs),
                "target_acc_by_seed": {str(k): v for k, v in sorted(self.by_seed.items())}}


@dataclass
class Recommendation:
    """The best arm and how far the numbers back it: ``clauses`` are the sentences, in order; :attr:`text` all."""

    best: str
    runner_up: str | None
    margin: Interval | None  # best − runner-up, paired
    over_reference: Interval | None  # best − source only, paired (None when the best is source only)
    distinguishable: bool | None  # whether the margin's interval excludes 0 (None without a runner-up)
    seeds_needed: int | None  # seeds that would likely separate best and runner-up, when they are not yet
    clauses: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The recommendation as one paragraph."""
        return " ".join(self.clauses)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"best": self.best, "runner_up": self.runner_up, "text": self.text,
                "margin": None if self.margin is None else {"mean": _num(self.margin.mean), "ci": _pair(self.margin)},
                "over_source_only": None if self.over_reference is None else {
                    "mean": _num(self.over_reference.mean), "ci": _pair(self.over_reference)},
                "distinguishable": self.distinguishable, "seeds_needed": self.seeds_needed}


@dataclass
class CellResult:
    """One cell of a grid: its arms, winner, margin over the runner-up, and whether they tie."""

    k: int
    share: float
    arms: list[ArmResult]
    winner: str | None
    runner_up: str | None
    margin: float | None  # winner's mean − runner-up's mean
    tie: bool  # the paired interval of winner − runner-up contains 0 (always with a single seed)
    recommendation: Recommendation | None

    def to_dict(self) -> dict[str, Any]:
        """``compare --json``'s ``cells`` entries."""
        return {"k": self.k, "source_share": self.share, "winner": self.winner, "runner_up": self.runner_up,
                "margin": self.margin, "tie": self.tie, "arms": [a.to_dict() for a in self.arms],
                "recommendation": None if self.recommendation is None else self.recommendation.text}


def _num(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _pair(ci: Interval) -> list[float | None]:
    return [_num(ci.low), _num(ci.high)]


def _mean(values: Sequence[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(vals) / len(vals) if vals else None


def finished(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records that count: finished runs with a target accuracy, the latest per (cell, arm, seed)."""
    latest: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in records:
        if r.get("status") != "finished" or r.get("target_acc") is None or not math.isfinite(r["target_acc"]):
            continue
        key = (r["cell"], r["arm"], int(r["seed"]))
        if key not in latest or r.get("run_id", 0) > latest[key].get("run_id", 0):
            latest[key] = r
    return list(latest.values())


def arm_results(records: Sequence[dict[str, Any]], arms: Sequence[str]) -> list[ArmResult]:
    """Per arm (in ``arms`` order, those with results) of one cell's finished records."""
    by_arm: dict[str, list[dict[str, Any]]] = {}
    for r in finished(records):
        by_arm.setdefault(r["arm"], []).append(r)
    reference = {int(r["seed"]): float(r["target_acc"]) for r in by_arm.get(REFERENCE, [])}
    out = []
    for name in arms:
        rows = sorted(by_arm.get(name, []), key=lambda r: int(r["seed"]))
        if not rows:
            continue
        seeds = {int(r["seed"]): float(r["target_acc"]) for r in rows}
        out.append(ArmResult(
            name=name, title=rows[-1].get("title") or get_arm(name).label,
            target_acc=interval(seeds.values()).clipped(0.0, 1.0), by_seed=seeds,
            paired_vs_reference=paired(seeds, reference) if reference else None,
            feature_mmd2=_mean([r.get("feature_mmd2") for r in rows]),
            seconds=_mean([r.get("seconds") for r in rows]), runs=[int(r["run_id"]) for r in rows]))
    return out


def _capital(text: str) -> str:
    """The text with its first letter in upper case (an arm's title opens the recommendation)."""
    return text[:1].upper() + text[1:]


def _points(v: float) -> str:
    return f"{v * 100:+.1f}"


def _ci_points(ci: Interval) -> str:
    return f"{_points(ci.low)} to {_points(ci.high)} points"


def _separation(diff: Interval, what: str) -> str:
    """', which excludes zero: ...' or ': not distinguishable with N seeds; about M would ...'."""
    if diff.n < 2:
        return (f": with one seed there is no interval, so {what} are not distinguishable with 1 seed; run at "
                "least 2 seeds (3 or more to trust the interval)")
    if diff.excludes_zero:
        return f" (paired 95% interval {_ci_points(diff)}), which excludes zero"
    needed = seeds_to_separate(diff)
    if needed is None:
        more = "every seed gave them the same accuracy, so no number of seeds would separate them"
    elif needed > MAX_SEEDS:
        more = f"at the observed spread even {MAX_SEEDS} seeds would likely not separate them"
    else:
        more = f"about {needed} seeds would likely separate them (from the observed spread)"
    return (f" (paired 95% interval {_ci_points(diff)}), which contains zero: {what} are not distinguishable "
            f"with {diff.n} seeds; {more}")


def recommend(arms: Sequence[ArmResult]) -> Recommendation | None:
    """The recommendation from one cell's arm results (None without any): the arm with the highest mean target
    accuracy, its paired margin over the runner-up and over source only, and whether each interval excludes 0."""
    if not arms:
        return None
    order = sorted(range(len(arms)), key=lambda i: (-arms[i].target_acc.mean, i))
    best = arms[order[0]]
    acc = best.target_acc
    spread = f"95% interval {acc.low:.1%} to {acc.high:.1%} over {acc.n} seeds" if acc.n >= 2 else "1 seed"
    clauses = [f"{_capital(best.title)} has the highest mean target accuracy: {acc.mean:.1%} ({spread})."]
    if len(arms) == 1:
        clauses.append("No other arm has results yet, so there is nothing to compare it with.")
        return Recommendation(best.name, None, None, None, None, None, clauses)
    runner = arms[order[1]]
    margin = paired(best.by_seed, runner.by_seed)
    clauses.append(f"Over the runner-up, {runner.title} ({runner.target_acc.mean:.1%}), it gains "
                   f"{_points(margin.mean)} points{_separation(margin, 'the two')}.")
    reference = next((a for a in arms if a.name == REFERENCE), None)
    over = None
    if best.name == REFERENCE:
        clauses.append("No arm improves on source only at this budget.")
    elif reference is None:
        clauses.append("Source only has no finished run to compare with.")
    elif runner.name == REFERENCE:
        over = margin
        clauses.append("The runner-up is source only itself.")
    else:
        over = paired(best.by_seed, reference.by_seed)
        clauses.append(f"Over source only ({reference.target_acc.mean:.1%}) it gains {_points(over.mean)} points"
                       f"{_separation(over, 'it and source only')}.")
    needed = None if margin.excludes_zero else seeds_to_separate(margin)
    return Recommendation(best.name, runner.name, margin, over, margin.excludes_zero,
                          needed, clauses)


def cell_result(k: int, share: float, records: Sequence[dict[str, Any]], arms: Sequence[str]) -> CellResult:
    """One cell's arms, winner (highest mean), margin over the runner-up and whether they tie."""
    results = arm_results(records, arms)
    rec = recommend(results)
    if rec is None or rec.runner_up is None:
        return CellResult(k, share, results, rec.best if rec else None, None, None, True, rec)
    means = {a.name: a.target_acc.mean for a in results}
    return CellResult(k, share, results, rec.best, rec.runner_up, means[rec.best] - means[rec.runner_up],
                      not rec.distinguishable, rec)


def map_summary(cells: Sequence[CellResult]) -> list[str]:
    """Sentences on which ingredient wins where, from the cells' winners (ties said as ties)."""
    decided = [c for c in cells if c.winner is not None]
    if not decided:
        return []
    out = []
    for what, test in (("selection", lambda a: a.select), ("augmentation", lambda a: a.augment),
                       ("DANN", lambda a: a.dann)):
        wins = [c for c in decided if test(get_arm(c.winner))]  # type: ignore[arg-type]
        clear = [c for c in wins if not c.tie]
        if not wins:
            out.append(f"No cell is won by an arm with {what}.")
            continue
        where = ", ".join(f"k={c.k}, {c.share:.0%} of the source{' (tie)' if c.tie else ''}" for c in wins)
        out.append(f"Arms with {what} win {len(wins)} of {len(decided)} cells ({where}); {len(clear)} of them by a "
                   "margin whose paired interval excludes zero.")
    ties = sum(c.tie for c in decided)
    out.append(f"{ties} of {len(decided)} cells are ties: the winner and the runner-up cannot be told apart with "
               "these seeds.")
    return out


def arm_rows(arms: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per arm of a study result's ``arms``: mean target accuracy with its 95% interval, the paired
    gain over source only (points) with its paired interval, the learned feature gap, time and runs — the Study
    page's table and the report's."""
    rows = []
    for a in arms:
        diff = a.get("paired_diff_vs_source_only") or {}
        ci, dci = a["target_acc_ci"], diff.get("ci") or [None, None]
        reference = a["name"] == REFERENCE
        rows.append({"arm": a["title"], "seeds": a["n"], "target accuracy": a["target_acc_mean"],
                     "95% interval": span_text(ci, 1, "{:.1%}"),
                     "vs source only (points)": "" if reference or diff.get("mean") is None
                     else f"{diff['mean'] * 100:+.1f}",
                     "paired 95% interval": "" if reference else span_text(dci, 100, "{:+.1f}"),
                     "feature MMD²": a.get("feature_mmd2_mean"), "s per run": a.get("seconds_mean"),
                     "runs": ", ".join(f"#{r}" for r in a["runs"])})
    return rows


def span_text(ci: Sequence[Any] | None, scale: float, fmt: str) -> str:
    """An interval as text, ``"12.0% to 15.5%"`` (its ends times ``scale`` in ``fmt``); empty without both ends."""
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f"{fmt.format(ci[0] * scale)} to {fmt.format(ci[1] * scale)}"
