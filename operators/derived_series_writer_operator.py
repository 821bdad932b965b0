"""Writes each derived series with its report into ``OUT/<derived SeriesInstanceUID>/``, all or nothing; a
series the domain gate or the guard refused gets no DICOM, only its report in ``OUT/rejected/<source
SeriesInstanceUID>/``. Beside each derived series' slices: its lung SEG, TID 1500 SR and QA figure as
Secondary Capture (``results_objects``), in the same all-or-nothing folder."""
from __future__ import annotations

import itertools
import logging
import time
from pathlib import Path

from monai.deploy.core import ConditionType, Fragment, Operator, OperatorSpec

from common.atomic_folder import write_folder

from .conformance import repair
from .derived_series import APP_NAME, APP_VERSION, derived_datasets, derived_uid, header_copy, write_series
from .input_measures import input_lungs
from .jobs_operator import record_stage
from .qa_report_operator import report_bytes
from .results_objects import results_files, results_to_write

log = logging.getLogger(__name__)


class DerivedSeriesWriterOperator(Operator):
    """Input ``jobs``; output ``series_folders`` (list of written folders, for an optional sender)."""

    def __init__(self, fragment: Fragment, *args, output_folder: Path, results=("seg", "sr", "sc"), **kwargs):
        self.output_folder = Path(output_folder)
        self.results = set(results)
        self.written: list[Path] = []
        self.rejected: list[tuple[str, str, Path]] = []      # (series label, why, report folder)
        super().__init__(fragment, *args, **kwargs)

    @staticmethod
    def _results(job, headers: list, kinds: set) -> dict:
        """The derived series' SEG (lungs), TID 1500 SR and QA figure (``results_objects``), those of ``kinds``."""
        if not kinds:
            return {}

        def uid(kind: str) -> str:
            return derived_uid(job.series_uid, job.uid_basis, kind)

        sources = []
        for ds in job.datasets:       # as the derived series references them: invalid UIDs repaired the same way
            copy = header_copy(ds)
            repair(copy, job.series_uid)
            sources.append(copy)
        made = results_files(sources, headers, input_lungs(job), job.report, job.figure_png, job.model, uid,
                             APP_NAME, APP_VERSION)
        return {name: obj for name, obj in made.items() if name.split(".")[0].lower() in kinds}

    def setup(self, spec: OperatorSpec):
        spec.input("jobs")
        spec.output("series_folders").condition(ConditionType.NONE)

    def compute(self, op_input, op_output, context):
        jobs = op_input.receive("jobs")
        start = time.perf_counter()
        folders = []
        for job in jobs:
            files = {"report.json": report_bytes(job.report), "report.png": job.figure_png}
            if job.rejection:
                def fill(folder, files=files):
                    for name, data in files.items():
                        (folder / name).write_bytes(data)

                folder = write_folder(self.output_folder / "rejected" / job.series_uid, fill)
                log.info("rejected %s: %s", job.label, job.rejection)
                self.rejected.append((job.label, job.rejection, folder))
                continue
            kinds, not_written = results_to_write(job.datasets, self.results)
            if not_written:
                job.report["results_not_written"] = not_written
            repairs: list[str] = []
            datasets = derived_datasets(job.datasets, job.harmonized_hu, job.model, job.mtf["source"],
                                        note=job.derivation_note, padding=job.padding, padding_hu=job.padding_hu,
                                        repairs=repairs, basis=job.uid_basis)
            first = next(datasets)          # made, and so repaired: its repairs go into the report
            job.report["conformance_repairs"] = repairs
            files["report.json"] = report_bytes(job.report)
            folder = write_series(itertools.chain([first], datasets), self.output_folder, files,
                                  after=lambda headers, job=job, kinds=kinds: self._results(job, headers, kinds))
            log.info("wrote %s (%d slices)", folder, len(job.datasets))
            folders.append(folder)
        self.written.extend(folders)
        record_stage(self.name, start)
        op_output.emit(folders, "series_folders")
