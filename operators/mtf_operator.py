"""Body segmentation + skin-air ESF -> MTF input of every series (``mtf_input``)."""
from __future__ import annotations

import logging

from monai.deploy.core import Operator, OperatorSpec

from .mtf_input import mtf_input

log = logging.getLogger(__name__)


class MTFOperator(Operator):
    """Input/output ``jobs``: sets ``job.mtf`` and ``job.mtf2d``."""

    def setup(self, spec: OperatorSpec):
        spec.input("jobs")
        spec.output("jobs")

    def compute(self, op_input, op_output, context):
        jobs = op_input.receive("jobs")
        for job in jobs:
            job.mtf, job.mtf2d = mtf_input(job.volume_hu, job.spacing_mm, job.datasets[0].get("ConvolutionKernel"))
            log.info("series %s: MTF %s, f50 %s/mm", job.series_uid, job.mtf["source"], job.mtf["f50_per_mm"])
        op_output.emit(jobs, "jobs")
