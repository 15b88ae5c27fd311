"""The guided lesson: the whole story of a pair in five steps, each a prediction, a live measurement and a reveal.

Each step names its question and answers (:class:`Step`), the full page it stands for, and which library calls it
makes (the pages' own: :mod:`da_core.gap_workflow`, :mod:`da_core.augment.measure`, :mod:`da_core.select`,
:mod:`da_core.study`).  The ``reveal_*`` functions turn what was just measured into the answer that is true for it
and two or three sentences that explain it with those numbers; nothing here holds a number of its own, except
each step's typical duration on a 2-core laptop CPU (measured on this project's machines, said as such), which the
lesson replaces by its own measurement once a step has run (:func:`record_seconds`, kept under the cache folder).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from da_core import config
from da_core.gap_workflow import probe_change

MODALITIES = ("image", "text")


@dataclass(frozen=True)
class Step:
    """One step: what the class is asked, what it looks at, and the page that does it in full."""

    key: str
    title: str
    page: str
    page_label: str
    question: str
    answers: tuple[str, ...]
    typical_s: dict[str, float]  # seconds on a 2-core CPU, uncached, per modality (measured 2026-12-02; text's
    # step 5 estimated from 6 default text runs of about 2 min, each step after the one before it)


STEPS: tuple[Step, ...] = (
    Step("domains", "1 · See the two domains", "pages/datasets.py", "Datasets",
         "A model that learned only from the source: how well will it do on the target?",
         ("About as well (within 5 points)", "Worse, by 5 to 20 points", "Much worse: over 20 points lower"),
         {"image": 16.0, "text": 34.0}),
    Step("gap", "2 · Measure the gap", "pages/gap.py", "Gap map",
         "Is the difference between the domains larger than chance makes between two random halves of the "
         "source?", ("No: chance could make a difference this large", "Yes: clearly larger than chance"),
         {"image": 3.0, "text": 3.0}),
    Step("augment", "3 · Augment: where does more stop helping?", "pages/augment.py", "Augmentation lab",
         "Will the strongest augmentation bring the source nearest the target while the model still recognises "
         "its samples?", ("Yes: the stronger the better", "No: a moderate strength is best, the strongest goes "
                          "too far", "No strength helps at all"),
         {"image": 3.0, "text": 13.0}),
    Step("select", "4 · Select source data", "pages/select.py", "Selection",
         "Keep the most target-like half of the source: is it closer to the target than a random half?",
         ("Yes, clearly closer", "No clear difference", "No: it is farther"),
         {"image": 2.0, "text": 3.0}),
    Step("compare", "5 · Fine-tune and compare", "pages/study.py", "Study",
         "Fine-tuning on the source (with a few labelled target samples): which approach reaches the highest "
         "target accuracy?", ("Source only", "Augmented", "DANN (domain-adversarial)",
                              "Too close to tell apart with these seeds"),
         {"image": 44.0, "text": 780.0}),
)
STEP_KEYS = tuple(s.key for s in STEPS)
COMPARE_ARMS = ("source-only", "augmented", "dann")  # the order of step 5's answers (then "too close")
COMPARE_SEEDS = (0, 1)


def step(key: str) -> Step:
    """A step by key."""
    return next(s for s in STEPS if s.key == key)


def question(key: str) -> str:
    """A step's question as the class reads it (step 4 names the fraction the Selection page keeps)."""
    from da_core.select import DEFAULT_FRACTION

    text = step(key).question
    return text.replace("half", f"{DEFAULT_FRACTION:.0%}") if key == "select" and DEFAULT_FRACTION != 0.5 else text


@dataclass
class Reveal:
    """The measured answer (an index into the step's answers) and the sentences that explain it."""

    correct: int
    headline: str
    sentences: list[str]

    def verdict(self, guess: int | None, answers: tuple[str, ...]) -> str:
        """How the class's prediction fared."""
        if guess is None:
            return f"Measured: **{answers[self.correct]}**."
        if guess == self.correct:
            return f"The class predicted **{answers[guess]}**: right."
        return f"The class predicted **{answers[guess]}**; measured: **{answers[self.correct]}**."


# --------------------------------------------------------------------------------------------- reveals


def reveal_domains(probe: dict[str, float | None], n_classes: int) -> Reveal:
    """Step 1 from the linear probe's held-out source and target accuracy (the Gap map's "source-trained model")."""
    src, tgt = probe.get("source_acc"), probe.get("target_acc")
    if src is None or tgt is None:
        return Reveal(1, "The probe could not be scored.", ["The pair is too small to hold samples out."])
    drop = (src - tgt) * 100
    correct = 0 if drop < 5 else 1 if drop <= 20 else 2
    chance = 1 / max(n_classes, 1)
    change = probe_change(src, tgt)
    sentences = [f"A linear model on the embeddings, trained on source samples only, gets {src:.1%} of held-out "
                 f"source samples right and {tgt:.1%} of target samples: {change}."]
    if tgt < 2 * chance:
        sentences.append(f"With {n_classes} classes, guessing would score {chance:.0%}: on the target the model is "
                         f"barely better than a guess, although nothing about the task changed.")
    else:
        sentences.append(f"Guessing among {n_classes} classes would score {chance:.0%}: the model carries over part "
                         "of what it learned" + (", not all of it." if drop >= 5 else "."))
    return Reveal(correct, f"Source {src:.1%} → target {tgt:.1%}", sentences)


def reveal_gap(metrics: dict[str, Any]) -> Reveal:
    """Step 2 from the MMD² result: its value, the same between two halves of the source (what no shift looks like
    at this size; unbiased, so about 0 and possibly below) and the permutation test's p-value, which decides."""
    m = metrics["mmd2"]
    value, base, p = _get(m, "value"), _get(m, "baseline"), _get(m, "p_value")
    ci = _get(m, "ci")
    significant = p is not None and p < 0.05 and value > base
    interval = f" (95% interval {ci[0]:.3g} to {ci[1]:.3g})" if ci is not None else ""
    sentences = [f"MMD² between the domains is {value:.4g}{interval}; between two random halves of the source it is "
                 f"{base:.2g}, what no shift looks like at this sample size."]
    if p is not None:
        sentences.append(f"A permutation test (shuffling which sample belongs to which domain) gives p = {p:.3g}: "
                         + ("a difference this large almost never arises by chance." if significant else
                            "a difference like this arises by chance often enough, so no gap is shown."))
    return Reveal(1 if significant else 0, f"MMD² {value:.4g} against {base:.2g} between source halves", sentences)


def reveal_augment(report: Any) -> Reveal:
    """Step 3 from the over-augmentation measures: the gap to the target and the affinity at each strength."""
    rows = sorted(report.results, key=lambda r: r.strength)
    first, last = rows[0], rows[-1]
    spot = report.sweet_spot
    best = next((r for r in rows if spot is not None and abs(r.strength - spot) < 1e-9), None)
    if spot is None or best is None or spot == first.strength:
        correct = 2
    elif spot == last.strength:
        correct = 0
    else:
        correct = 1
    sentences = [f"Without augmentation the held-out source lies at MMD² {first.gap_to_target:.4g} from the target."]
    if best is not None and correct != 2:
        sentences.append(f"The sweet spot is s = {spot:g}: MMD² {best.gap_to_target:.4g} with affinity "
                         f"{best.affinity:.0%} (the model recognises that share of augmented samples as well as clean "
                         f"ones), the nearest to the target among the strengths keeping affinity at or above "
                         f"{report.threshold:.0%}.")
    if correct == 1 and last.affinity < report.threshold:
        nearer = " (nearer still)" if best is not None and last.gap_to_target < best.gap_to_target else ""
        sentences.append(f"Full strength reaches MMD² {last.gap_to_target:.4g}{nearer}, but there the affinity is "
                         f"{last.affinity:.0%} and {last.label_flip_rate:.0%} of the predictions change: the samples "
                         "stop looking like their class, so more stops helping.")
    elif correct == 1:
        sentences.append(f"Full strength keeps affinity {last.affinity:.0%} but lies farther from the target (MMD² "
                         f"{last.gap_to_target:.4g}): past the sweet spot, more augmentation moves the source away.")
    elif correct == 2:
        sentences.append("No strength brings the source nearer the target than the clean source while keeping the "
                         f"affinity at or above {report.threshold:.0%}.")
    return Reveal(correct, f"Sweet spot s = {spot:g}" if spot is not None else "No sweet spot", sentences)


def reveal_select(result: Any) -> Reveal:
    """Step 4 from the gap curve at the kept fraction: the selection's MMD² interval against random subsets'."""
    p, full = result.point(result.fraction), result.point(1.0)
    if p.ci[1] < p.random_low:
        correct = 0
    elif p.ci[0] > p.random_high:
        correct = 2
    else:
        correct = 1
    sentences = [f"The {p.fraction:.0%} of the source the selector ranks most target-like lies at MMD² {p.mmd2:.4g} "
                 f"(95% interval {p.ci[0]:.3g} to {p.ci[1]:.3g}) from the target; random subsets of the same size lie "
                 f"between {p.random_low:.3g} and {p.random_high:.3g}, the whole source at {full.mmd2:.4g}.",
                 ("So the selection is measurably closer than chance would make it." if correct == 0 else
                  "So choosing by similarity did no better than drawing at random here." if correct == 1 else
                  "So the selection moved away from the target.")]
    return Reveal(correct, f"MMD² {p.mmd2:.4g} vs random {p.random_mmd2:.4g}", sentences)


def reveal_compare(result: dict[str, Any]) -> Reveal:
    """Step 5 from a finished study's result: its arms, and whether the best one's paired margin over the runner-up
    excludes 0 (the study's recommendation); when it does not, "too close to tell apart" is the measured answer."""
    by_name = {a["name"]: a for a in result.get("arms") or [] if a.get("target_acc_mean") is not None}
    present = [n for n in COMPARE_ARMS if n in by_name]
    if not present:
        return Reveal(len(COMPARE_ARMS), "No finished runs", ["The study has no finished run to compare."])
    best = max(present, key=lambda n: by_name[n]["target_acc_mean"])
    detail = result.get("recommendation_detail") or {}
    apart = bool(detail.get("distinguishable")) and len(present) > 1
    sentences = ["Target accuracy: " + "; ".join(
        f"{by_name[n]['title']} {by_name[n]['target_acc_mean']:.1%}" for n in present) + "."]
    if result.get("recommendation"):
        sentences.append(str(result["recommendation"]))
    if not apart:
        return Reveal(len(COMPARE_ARMS), f"Highest mean: {by_name[best]['title']}, but not told apart", sentences)
    return Reveal(COMPARE_ARMS.index(best), f"Best: {by_name[best]['title']}", sentences)


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


# --------------------------------------------------------------------------------------------- timings


def _timings_path() -> Any:
    folder = config.cache_subdir("lesson")
    return None if folder is None else folder / "timings.json"


def record_seconds(key: str, modality: str, seconds: float) -> None:
    """Remember how long a step took when it ran uncached here (the next lesson says so instead of the typical)."""
    path = _timings_path()
    if path is None:
        return
    known = _read_timings()
    known[f"{modality}:{key}"] = round(float(seconds), 1)
    config.write_cache_file(path, lambda tmp: tmp.write_text(json.dumps(known)))


def _read_timings() -> dict[str, float]:
    path = _timings_path()
    try:
        data = json.loads(path.read_text()) if path is not None and path.exists() else {}
    except (OSError, ValueError):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, int | float)} if isinstance(data, dict) else {}


def expected(key: str, modality: str, cached: bool, estimate_s: float | None = None, basis: str = "") -> str:
    """How long the step will take, in words: instant when its results are cached; else ``estimate_s`` when the
    caller measured one (step 5: from the history's run times, said by ``basis``), the time it took here last, or
    the typical time on a 2-core CPU before it ever ran."""
    if cached:
        return "its results are cached: instant"
    if estimate_s:
        return f"about {_duration(estimate_s)}" + (f" ({basis})" if basis else "")
    measured = _read_timings().get(f"{modality}:{key}")
    if measured is not None:
        return f"about {_duration(measured)} (it took that here last time)"
    return f"about {_duration(step(key).typical_s[modality])} on a 2-core laptop CPU"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def study_spec(modality: str, source: str, target: str, quick: bool = False) -> Any:
    """Step 5's study: source only, augmented at the lab's sweet spot, and DANN, two seeds, the pair's default run
    (a text pair: MiniLM in full, as the Training page starts); ``quick``: one seed of one epoch, for a short slot
    (no interval can be measured from it, and the recommendation says so)."""
    from da_core.study.spec import StudySpec
    from da_core.train.config import config_for

    values: dict[str, Any] = {"source": source, "target": target, **({"epochs": 1} if quick else {})}
    return StudySpec(base=config_for(modality, values), arms=list(COMPARE_ARMS),
                     seeds=[COMPARE_SEEDS[0]] if quick else list(COMPARE_SEEDS))


def finished_study(store: Any, spec: Any) -> int | None:
    """The newest finished study in the history with exactly this spec (the lesson reuses it), else None."""
    wanted = json.loads(json.dumps(spec.to_dict()))  # as the store keeps it
    for record in store.list_sweeps(kind="study"):
        if record.status == "finished" and record.config == wanted:
            return int(record.id)
    return None
