"""Base of the operators that work series by series on the list of ``SeriesJob`` passed along ``jobs``."""
from __future__ import annotations

from monai.deploy.core import Operator, OperatorSpec


class JobsOperator(Operator):
    """Input and output ``jobs`` (list of ``SeriesJob``); subclasses implement ``process(job)``."""

    def setup(self, spec: OperatorSpec):
        spec.input("jobs")
        spec.output("jobs")

    def compute(self, op_input, op_output, context):
        jobs = op_input.receive("jobs")
        for job in jobs:
            self.process(job)
        op_output.emit(jobs, "jobs")

    def process(self, job) -> None:
        raise NotImplementedError
