"""The Tuning page's "Run on" choice as data, free of any UI toolkit: each widget's session key and first value, as
the sweep's and the study's forms declare theirs (:func:`da_core.train.form.backend_choice` reads them back).  The
search settings above it keep the page's own ``tu_*`` keys."""

from __future__ import annotations

from da_core.train.form import FormField

TUNE_FORM: dict[str, FormField] = {
    "backend": FormField("tu_backend", "local"),
    "ray_cpus": FormField("tu_ray_cpus", 1.0),
    "ray_gpus": FormField("tu_ray_gpus", 0.0),
}
