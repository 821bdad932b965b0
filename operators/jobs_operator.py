"""Base of the operators that work series by series on the list of ``SeriesJob`` passed along ``jobs``."""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from monai.deploy.core import Operator, OperatorSpec

if TYPE_CHECKING:
    from .series_job import SeriesJob

log = logging.getLogger(__name__)

STAGE_SECONDS: dict[str, float] = {}    # each stage's wall time in the latest run (app.__main__.run_study)


class JobsOperator(Operator):
    """Input and output ``jobs`` (list of ``SeriesJob``); subclasses implement ``process(job)``."""

    def setup(self, spec: OperatorSpec):
        spec.input("jobs")
        spec.output("jobs")

    def compute(self, op_input, op_output, context):
        jobs = op_input.receive("jobs")
        start = time.perf_counter()
        for job in jobs:
            self.process(job)
        record_stage(self.name, start)
        op_output.emit(jobs, "jobs")

    def process(self, job: SeriesJob) -> None:
        raise NotImplementedError


def record_stage(name: str, start: float) -> None:
    """Log a stage's wall time (``timing <name> <seconds>`` at INFO; benchmarks/app_end_to_end.py reads it)."""
    seconds = time.perf_counter() - start
    STAGE_SECONDS[name] = seconds
    log.info("timing %s %.3f", name, seconds)
