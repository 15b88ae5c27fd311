"""The Tuning page's figures, Optuna's own plotly figures of a stored search (they fit the page as they are):
the optimisation history, parallel coordinates (log axes where a range is logarithmic), parameter importance and
slice plots; and the validator agreement table."""

from __future__ import annotations

from typing import Any

from da_core.train.validators import validators


def search_figures(study_name: str) -> dict[str, Any]:
    """The figures of the stored search ``study_name`` that its finished trials allow (importance needs two)."""
    import optuna
    import optuna.visualization as vis

    from da_core.tune.runner import optuna_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=optuna_storage())
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        return {}
    figures = {"history": vis.plot_optimization_history(study), "parallel": vis.plot_parallel_coordinate(study),
               "slice": vis.plot_slice(study)}
    if len(done) >= 2 and len(study.best_trial.params) > 0:
        import warnings

        with warnings.catch_warnings():  # "too few trials": the figure then says the importances are equal
            warnings.simplefilter("ignore")
            figures["importance"] = vis.plot_param_importances(study)
    for fig in figures.values():
        fig.update_layout(margin={"l": 40, "r": 20, "t": 50, "b": 40}, height=380)
    return figures


def agreement_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per validator of a search's ``agreement``: Spearman with target accuracy, regret in points, and
    the target accuracy of the trial it would pick."""
    rows = []
    for name, v in validators().items():
        a = (result.get("agreement") or {}).get(name)
        if a is None:
            continue
        pick = (result.get("best") or {}).get(name, {})
        rows.append({"validator": v.label, "Spearman with target accuracy": a["spearman"],
                     "regret (points)": None if a["regret"] is None else round(100 * a["regret"], 1),
                     "picks trial": pick.get("trial"), "its target accuracy": pick.get("target_acc"),
                     "oracle": v.oracle})
    return rows


def trial_rows(result: dict[str, Any], validator: str) -> list[dict[str, Any]]:
    """One row per trial: number, state, parameters, the chosen validator's score, target accuracy, run id."""
    return [{"trial": t["number"], "state": t["state"].lower(), **t["params"],
             validator: t["validators"].get(validator), "target accuracy": t.get("target_acc"), "run": t["run_id"]}
            for t in result.get("trials") or []]
