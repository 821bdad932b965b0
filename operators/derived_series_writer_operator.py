"""Writes each derived series with its report into ``OUT/<derived SeriesInstanceUID>/``, all or nothing."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from monai.deploy.core import ConditionType, Fragment, Operator, OperatorSpec

from .derived_series import derived_datasets, write_series
from .jobs_operator import record_stage
from .qa_report_operator import report_bytes

log = logging.getLogger(__name__)


class DerivedSeriesWriterOperator(Operator):
    """Input ``jobs``; output ``series_folders`` (list of written folders, for an optional sender)."""

    def __init__(self, fragment: Fragment, *args, output_folder: Path, **kwargs):
        self.output_folder = Path(output_folder)
        self.written: list[Path] = []
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec):
        spec.input("jobs")
        spec.output("series_folders").condition(ConditionType.NONE)

    def compute(self, op_input, op_output, context):
        jobs = op_input.receive("jobs")
        start = time.perf_counter()
        folders = []
        for job in jobs:
            datasets = derived_datasets(job.datasets, job.harmonized_hu, job.model, job.mtf["source"])
            folder = write_series(datasets, self.output_folder,
                                  {"report.json": report_bytes(job.report), "report.png": job.figure_png})
            log.info("wrote %s (%d slices)", folder, len(job.datasets))
            folders.append(folder)
        self.written.extend(folders)
        record_stage(self.name, start)
        op_output.emit(folders, "series_folders")
