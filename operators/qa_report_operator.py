"""QA report (numbers and picture) of every series, harmonized or refused, before it is written."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .derived_series import APP_VERSION, derived_uid
from .jobs_operator import JobsOperator
from .qa_report import qa_report, report_figure

if TYPE_CHECKING:
    from .series_job import SeriesJob


class QAReportOperator(JobsOperator):
    """Sets ``job.report`` and ``job.figure_png``."""

    def process(self, job: SeriesJob) -> None:
        uid = None if job.rejection else derived_uid(job.series_uid, job.uid_basis)
        job.report = qa_report(job, uid, APP_VERSION)
        job.figure_png = report_figure(job, job.report)


def report_bytes(report: dict) -> bytes:
    return (json.dumps(report, indent=1, allow_nan=False) + "\n").encode()
