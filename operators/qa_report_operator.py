"""QA report (numbers and picture) of every harmonized series, before it is written."""
from __future__ import annotations

import json

from monai.deploy.core import Operator, OperatorSpec

from .derived_series import APP_VERSION, derived_uid
from .qa_report import qa_report, report_figure


class QAReportOperator(Operator):
    """Input/output ``jobs``: sets ``job.report`` and ``job.figure_png``."""

    def setup(self, spec: OperatorSpec):
        spec.input("jobs")
        spec.output("jobs")

    def compute(self, op_input, op_output, context):
        jobs = op_input.receive("jobs")
        for job in jobs:
            uid = derived_uid(job.series_uid, job.model["sha256"], APP_VERSION)
            job.report = qa_report(job, uid, APP_VERSION)
            job.figure_png = report_figure(job, job.report)
        op_output.emit(jobs, "jobs")


def report_bytes(report: dict) -> bytes:
    return (json.dumps(report, indent=1, allow_nan=False) + "\n").encode()
