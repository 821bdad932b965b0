"""The SDK's DICOM loader, made to load every legal file the study scan accepts."""
from __future__ import annotations

from monai.deploy.operators.dicom_data_loader_operator import DICOMDataLoaderOperator

EMPTY = (None, "")
SERIES_NUMBER = 0x00200011


class DICOMLoaderOperator(DICOMDataLoaderOperator):
    """``DICOMDataLoaderOperator`` that takes an empty SeriesNumber (Type 2 in the CT Image IOD: present, may be
    empty), on which the SDK's ``populate_series_attributes`` calls ``int(None)`` and the whole study fails to
    load. The element is left out while the SDK reads the series' attributes, and put back: the dataset the
    derived series is built from stays as the file holds it."""

    def populate_series_attributes(self, series, sop_instance):
        element = sop_instance.get(SERIES_NUMBER)
        if element is None or element.value not in EMPTY:
            return super().populate_series_attributes(series, sop_instance)
        del sop_instance[SERIES_NUMBER]
        try:
            return super().populate_series_attributes(series, sop_instance)
        finally:
            sop_instance[SERIES_NUMBER] = element
