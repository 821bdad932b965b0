"""Fuzzing the study scan (the app's gate for input): whatever the headers say, it returns a scan or raises
the app's one-line InputError, never anything else; bounded to a fixed number of examples."""
from __future__ import annotations

import copy
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pydicom
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from common.errors import InputError
from operators.study_scan import scan_study

KEYWORDS = ["Rows", "Columns", "PixelSpacing", "ImagePositionPatient", "ImageOrientationPatient", "RescaleSlope",
            "RescaleIntercept", "BitsAllocated", "SamplesPerPixel", "PhotometricInterpretation", "ImageType",
            "Modality", "SOPClassUID", "GantryDetectorTilt", "NumberOfFrames", "PixelData", "SeriesInstanceUID"]
VALUES = st.one_of(st.none(), st.integers(-70000, 70000), st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=12), st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=7),
                   st.binary(max_size=64))


def _slice(z: float) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[str(z)])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3", "1.2.3.4"
    ds.Modality, ds.ImageType = "CT", ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.Rows = ds.Columns = 16
    ds.PixelSpacing, ds.ImageOrientationPatient = [1.0, 1.0], [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [0.0, 0.0, z]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.PixelData = np.zeros((16, 16), np.int16).tobytes()
    return ds


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(KEYWORDS), VALUES), min_size=1, max_size=4))
def test_scan_never_fails_unexpectedly(changes):
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        slices = [_slice(float(z)) for z in range(3)]
        for index, keyword, value in changes:
            ds = slices[index]
            try:
                if value is None:
                    if keyword in ds:
                        delattr(ds, keyword)
                else:
                    setattr(ds, keyword, copy.copy(value))
            except Exception:          # noqa: BLE001 - pydicom refused the value: nothing to fuzz
                continue
        for i, ds in enumerate(slices):
            try:
                ds.save_as(folder / f"{i}.dcm", enforce_file_format=False)
            except Exception:          # noqa: BLE001 - unwritable mutation: write garbage instead
                (folder / f"{i}.dcm").write_bytes(b"DICM garbage")
        try:
            scan_study(folder)
        except InputError as e:
            assert "\n" not in str(e)
    finally:
        shutil.rmtree(folder)


def test_multi_valued_numbers_are_a_reason_not_a_crash(tmp_path):
    """What the fuzzer found: NumberOfFrames (IS) and GantryDetectorTilt (DS) holding two values."""
    import pytest
    from pydicom.data import get_testdata_file

    from operators.study_scan import scan_study

    for keyword, value, reason in (("NumberOfFrames", "1\\2", "invalid NumberOfFrames"),
                                   ("GantryDetectorTilt", "0\\5", "invalid GantryDetectorTilt")):
        folder = tmp_path / keyword
        folder.mkdir()
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        setattr(ds, keyword, value)
        ds.save_as(folder / "a.dcm")
        with pytest.raises(InputError, match=reason):
            scan_study(folder)
