"""Derived UIDs: the same input through the same app, model and options gives the same UIDs; each thing that
could change the output (the app's version, the model, its format and arithmetic, the MTF input, the
outside-domain note) gives new ones."""
from __future__ import annotations

import pydicom
import pytest
from pydicom.data import get_testdata_file

import operators.derived_series as derived_series
from operators.derived_series import derived_datasets, uid_basis
from operators.series_job import hu_slice

MODEL = {"name": "m", "version": "1", "sha256": "0" * 64, "format": "torchscript", "precision": "float32"}
MTF = {"source": "measured", "f50_per_mm": 0.41}


def _uids(model=MODEL, mtf=MTF, note=None) -> tuple[str, str]:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    out = next(derived_datasets([ds], hu_slice(ds)[None], model, mtf["source"], note=note,
                                basis=uid_basis(model, mtf, note)))
    return str(out.SeriesInstanceUID), str(out.SOPInstanceUID)


def test_the_same_input_app_model_and_options_give_the_same_uids():
    first, again = _uids(), _uids()
    assert first == again
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    assert first[0] != str(ds.SeriesInstanceUID) and first[1] != str(ds.SOPInstanceUID)
    assert first[0] != first[1]


@pytest.mark.parametrize("change", [
    {"model": dict(MODEL, sha256="1" * 64)},
    {"model": dict(MODEL, format="exported")},
    {"model": dict(MODEL, precision="bfloat16")},
    {"mtf": dict(MTF, source="kernel-table")},
    {"mtf": dict(MTF, f50_per_mm=0.42)},
    {"note": "outside the model's validated domain: kvp 80 outside 120-120"},
], ids=["model sha256", "model format", "arithmetic", "MTF source", "MTF f50", "outside-domain note"])
def test_each_thing_that_could_change_the_output_changes_every_uid(change):
    base, changed = _uids(), _uids(**change)
    assert base[0] != changed[0] and base[1] != changed[1]


def test_a_new_app_version_changes_every_uid(monkeypatch):
    base = _uids()
    monkeypatch.setattr(derived_series, "APP_VERSION", "99.0.0")
    changed = _uids()
    assert base[0] != changed[0] and base[1] != changed[1]
