"""A derived series is valid DICOM even when its source is not: dciodvfy's verdict on the derived dataset of
every real CT slice the packages ship (119 errors in the Siemens slice's source, 4 in a CQ500 head slice's),
the repairs named, valid sources left as they are."""
from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pydicom
import pytest
from app_helpers import dciodvfy_errors

from evaluation.real_slices import REAL_SLICES, real_slice_path
from operators.conformance import repair, repaired_uid, valid_uid
from operators.derived_series import derived_datasets
from operators.series_job import hu_slice

MODEL = {"name": "m", "version": "1", "sha256": "0" * 64}


def _derived(path, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
        repairs: list[str] = []
        out = next(derived_datasets([ds], hu_slice(ds)[None], MODEL, "measured", repairs=repairs))
    file = tmp_path / "derived.dcm"
    out.save_as(file, enforce_file_format=True)
    return ds, out, repairs, file


@pytest.mark.parametrize("name", sorted(REAL_SLICES))
def test_the_derived_slice_of_every_real_slice_passes_dciodvfy(name, tmp_path):
    path = real_slice_path(name)
    if path is None:
        pytest.skip(f"{name}'s package is not installed")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    _, _, _, file = _derived(path, tmp_path)
    assert dciodvfy_errors(file) == []
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before       # the source is never touched


def test_invalid_uids_are_replaced_the_same_way_and_the_repairs_named(tmp_path):
    path = real_slice_path("bad_sequence.dcm")
    if path is None:
        pytest.skip("pydicom-data is not installed")
    src, out, repairs, _ = _derived(path, tmp_path)
    assert not valid_uid(str(src.StudyInstanceUID))
    assert out.StudyInstanceUID == repaired_uid(str(src.StudyInstanceUID)) and valid_uid(out.StudyInstanceUID)
    assert any(r.startswith("StudyInstanceUID") for r in repairs)
    assert any(r.startswith("FrameOfReferenceUID") for r in repairs)
    assert out.PatientAge == "022Y"


def test_a_valid_source_is_kept_as_it_is(tmp_path):
    from pydicom.data import get_testdata_file

    src, out, repairs, _ = _derived(get_testdata_file("CT_small.dcm"), tmp_path)
    assert repairs == [] and out.StudyInstanceUID == src.StudyInstanceUID
    assert out.FrameOfReferenceUID == src.FrameOfReferenceUID


def test_repair_fixes_each_rule_it_names():
    ds = pydicom.Dataset()
    ds.StudyID = "x" * 20
    ds.PatientAge = "5Y"
    ds.Modality = "ct"
    ds.StudyDate = "2020"
    ds.PatientIdentityRemoved = "YES"
    notes = repair(ds, "1.2.3")
    assert ds.StudyID == "x" * 16 and ds.PatientAge == "005Y" and ds.Modality == "CT" and ds.StudyDate is None
    assert ds.DeidentificationMethod and valid_uid(ds.FrameOfReferenceUID)
    assert len(notes) == 6, notes
    np.testing.assert_equal(repair(ds, "1.2.3"), [])                # repaired once, nothing left
