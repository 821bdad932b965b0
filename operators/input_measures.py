"""What the domain gate, the guard and the QA report measure on a series' input, each computed once per job."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from physics.masks import lung_mask
from physics.noise import nps

if TYPE_CHECKING:
    from .series_job import SeriesJob


def input_lungs(job: SeriesJob) -> np.ndarray:
    """The lung mask of the input series (K, rows, cols) bool."""
    if job.lungs is None:
        job.lungs = lung_mask(job.volume_hu, pixel_mm=min(job.spacing_mm))
    return job.lungs


def input_noise(job: SeriesJob) -> dict:
    """The input's global noise SD (HU) and radial NPS (``physics.noise``) in soft tissue."""
    if job.noise is None:
        spectrum = nps(job.volume_hu, job.spacing_mm)
        job.noise = {"sd_hu": spectrum.global_noise_sd_hu,
                     "nps_frequencies_per_mm": spectrum.frequencies_per_mm, "nps_1d": spectrum.nps_1d}
    return job.noise
