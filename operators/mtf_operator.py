"""Body segmentation + skin-air ESF -> MTF input of every series (``mtf_input``)."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .jobs_operator import JobsOperator
from .mtf_input import mtf_input

if TYPE_CHECKING:
    from .series_job import SeriesJob

log = logging.getLogger(__name__)


class MTFOperator(JobsOperator):
    """Sets ``job.mtf`` (physics CLI keys + source) and ``job.mtf2d``."""

    def process(self, job: SeriesJob) -> None:
        job.mtf, job.mtf2d = mtf_input(job.volume_hu, job.spacing_mm, job.datasets[0].get("ConvolutionKernel"),
                                       job.orientation, job.slice_geometry)
        log.info("series %s: MTF %s, f50 %s/mm", job.series_uid, job.mtf["source"], job.mtf["f50_per_mm"])
