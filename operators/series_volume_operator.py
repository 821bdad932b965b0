"""Every selected series to a HU volume, on the SDK's DICOMSeriesToVolumeOperator.

The SDK operator converts only the first selected series and casts the whole volume to the first slice's
dtype; this subclass reuses its slice ordering (``prepare_series``) for every selected series, rescales each
slice with its own slope and intercept into float32, and takes pixel spacing from the source datasets (the
SDK's Image metadata swaps row and column spacing on non-square pixels). Pixel padding (PixelPaddingValue,
e.g. -2000 or -3024 outside a circular field of view) reads as air, and its mask travels with the job so
that the derived series writes the padding back. A series whose pixel data do not decode (a corrupt JPEG
2000 stream) is set aside with its reason (``undecodable``), and the study's other series go on.
"""
from __future__ import annotations

import logging
import os
import time

import numpy as np
from monai.deploy.core import ConditionType, OperatorSpec
from monai.deploy.operators.dicom_series_to_volume_operator import DICOMSeriesToVolumeOperator

from .jobs_operator import record_stage
from .series_job import SeriesJob, padded_hu_slice, pixel_spacing_mm

log = logging.getLogger(__name__)


class SeriesVolumesOperator(DICOMSeriesToVolumeOperator):
    """Input ``study_selected_series_list`` (SDK selector); output ``jobs``: list of ``SeriesJob``."""

    def __init__(self, *args, **kwargs):
        self.undecodable: list[tuple[str, str]] = []      # (series label, why)
        super().__init__(*args, **kwargs)

    def setup(self, spec: OperatorSpec):
        spec.input(self.input_name_series)
        spec.output("jobs").condition(ConditionType.NONE)

    def generate_voxel_data(self, series) -> np.ndarray:
        return self._padded_voxels(series)[0]

    @staticmethod
    def _padded_voxels(series) -> tuple[np.ndarray, np.ndarray | None, float | None]:
        """(HU volume with padding read as air, padding mask or None, padding HU)."""
        slices = [padded_hu_slice(sop.get_native_sop_instance()) for sop in series.get_sop_instances()]
        volume = np.stack([hu for hu, _, _ in slices])
        if all(mask is None for _, mask, _ in slices):
            return volume, None, None
        mask = np.stack([np.zeros(hu.shape, bool) if m is None else m for hu, m, _ in slices])
        return volume, mask, next(p for _, m, p in slices if m is not None)

    def compute(self, op_input, op_output, context):
        start = time.perf_counter()
        log.info("timing load_and_select %.3f", start - float(os.environ.get("CT_HARMONIZER_RUN_START", start)))
        jobs = []
        for study_selection in op_input.receive(self.input_name_series) or []:
            for selected in study_selection.selected_series:
                series = selected.series
                self.prepare_series(series)
                datasets = [sop.get_native_sop_instance() for sop in series.get_sop_instances()]
                try:
                    volume, padding, padding_hu = self._padded_voxels(series)
                except Exception as e:  # noqa: BLE001 - any decoder's failure sets this series aside
                    first = " ".join(line.strip() for line in str(e).strip().splitlines())[:240]
                    label = SeriesJob(datasets, np.empty(0), (1.0, 1.0)).label
                    self.undecodable.append((label, f"pixel data cannot be decoded ({type(e).__name__}: {first})"))
                    log.debug("decoding %s", label, exc_info=True)
                    continue
                for ds in datasets:           # the volume holds the pixels now: drop the in-memory copies
                    del ds.PixelData          # (the files on disk are untouched)
                jobs.append(SeriesJob(datasets, volume, pixel_spacing_mm(datasets[0]), padding=padding,
                                      padding_hu=padding_hu))
                log.info("series %s: %d slices %dx%d", series.SeriesInstanceUID, *volume.shape)
        record_stage(self.name, start)
        op_output.emit(jobs, "jobs")
