"""The consistency guard: does each harmonized series still explain its input (``physics.consistency``)?"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from monai.deploy.core import Fragment

from physics.consistency import guard_slices, series_behaviour

from .harmonize import read_card
from .input_measures import input_lungs, input_noise
from .jobs_operator import JobsOperator

if TYPE_CHECKING:
    from .series_job import SeriesJob

log = logging.getLogger(__name__)


def guard(job: SeriesJob, limits: dict | None = None) -> None:
    """Set ``job.guard`` (every check's value, limit, verdict) and, when a check fails, ``job.rejection``.
    ``limits``: the model card's calibrated ones (``guard.limits``), else ``physics.consistency``'s. After the
    harmonizer, on a series it harmonized."""
    assert job.mtf is not None and job.harmonized_hu is not None, "the guard checks a harmonized series"
    noise = input_noise(job)
    lungs = input_lungs(job) if job.domain is None or job.domain.get("lungs_in_field", True) else None
    spacing = job.slice_geometry["slice_spacing_mm"]
    checks = series_behaviour(job.volume_hu, job.harmonized_hu, job.spacing_mm,
                              np.asarray(job.mtf["frequencies_per_mm"], float), np.asarray(job.mtf["mtf"], float),
                              noise["sd_hu"], lungs, spacing, noise["nps_frequencies_per_mm"], noise["nps_1d"],
                              limits=limits)
    failed = [f"{name} {c.value:.3g} > {c.limit:g}" if np.isfinite(c.value) else f"{name} not measurable"
              for name, c in checks.items() if not c.holds]
    job.guard = {"passed": not failed, "limits_from": "model card" if limits else "provisional defaults",
                 "checks": {name: c.to_json() for name, c in checks.items()},
                 "slices_checked": [int(k) + 1 for k in guard_slices(len(job.volume_hu), spacing)]}
    if failed and job.rejection is None:
        job.rejection = "the harmonized series does not explain its input: " + "; ".join(failed)


class GuardOperator(JobsOperator):
    """Sets ``job.guard``, and ``job.rejection`` for a series that fails it; series not harmonized pass by."""

    def __init__(self, fragment: Fragment, *args, model_path: Path, **kwargs):
        self.limits = (read_card(Path(model_path)).get("guard") or {}).get("limits")
        super().__init__(fragment, *args, **kwargs)

    def process(self, job: SeriesJob) -> None:
        if job.harmonized_hu is None:
            return
        guard(job, self.limits)
        log.info("%s: guard %s", job.label, "passed" if (job.guard or {}).get("passed") else "failed")
