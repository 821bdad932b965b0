"""Every selected series to a HU volume, on the SDK's DICOMSeriesToVolumeOperator.

The SDK operator converts only the first selected series and casts the whole volume to the first slice's
dtype; this subclass reuses its slice ordering (``prepare_series``) for every selected series, rescales each
slice with its own slope and intercept into float32, and takes pixel spacing from the source datasets (the
SDK's Image metadata swaps row and column spacing on non-square pixels).
"""
from __future__ import annotations

import logging
import os
import time

import numpy as np
from monai.deploy.core import ConditionType, OperatorSpec
from monai.deploy.operators.dicom_series_to_volume_operator import DICOMSeriesToVolumeOperator

from .jobs_operator import record_stage
from .series_job import SeriesJob, hu_slice, pixel_spacing_mm

log = logging.getLogger(__name__)


class SeriesVolumesOperator(DICOMSeriesToVolumeOperator):
    """Input ``study_selected_series_list`` (SDK selector); output ``jobs``: list of ``SeriesJob``."""

    def setup(self, spec: OperatorSpec):
        spec.input(self.input_name_series)
        spec.output("jobs").condition(ConditionType.NONE)

    def generate_voxel_data(self, series) -> np.ndarray:
        return np.stack([hu_slice(sop.get_native_sop_instance()) for sop in series.get_sop_instances()])

    def compute(self, op_input, op_output, context):
        start = time.perf_counter()
        log.info("timing load_and_select %.3f", start - float(os.environ.get("CT_HARMONIZER_RUN_START", start)))
        jobs = []
        for study_selection in op_input.receive(self.input_name_series) or []:
            for selected in study_selection.selected_series:
                series = selected.series
                self.prepare_series(series)
                datasets = [sop.get_native_sop_instance() for sop in series.get_sop_instances()]
                volume = self.generate_voxel_data(series)
                for ds in datasets:           # the volume holds the pixels now: drop the in-memory copies
                    del ds.PixelData          # (the files on disk are untouched)
                jobs.append(SeriesJob(datasets, volume, pixel_spacing_mm(datasets[0])))
                log.info("series %s: %d slices %dx%d", series.SeriesInstanceUID, *volume.shape)
        record_stage(self.name, start)
        op_output.emit(jobs, "jobs")
