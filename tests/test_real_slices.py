"""Real scanners' slices (pydicom's and pydicom-data's CT files) read as CT, and the default model's behaviour
on them against the checks that need no ground truth (physics.consistency)."""
import numpy as np
import pytest

from evaluation.real_slices import REAL_SLICES, available_slices, read_real_slice


def test_every_real_slice_is_installed_and_reads_as_ct_in_hu():
    assert available_slices() == list(REAL_SLICES), "pydicom-data missing: make venv installs requirements-dev.txt"
    for name in REAL_SLICES:
        sl = read_real_slice(name)
        hu = sl.hu[0]
        assert hu.shape[0] >= 128 and sl.spacing_mm[0] > 0.2
        # air (or, in the cropped GE slice, lung) below -700 HU; soft tissue (the body's median) -150..100 HU
        assert np.percentile(hu, 2) < -700, (name, np.percentile(hu, 2))
        body = hu > -300
        assert -150 < np.median(hu[body]) < 100, (name, np.median(hu[body]))


@pytest.fixture(scope="module")
def default_on_real_slices():
    from pathlib import Path

    from evaluation.real_slices import evaluate

    return evaluate({"input": None, "default": Path(__file__).resolve().parents[1] / "models"})


def test_the_input_passes_the_checks_that_apply_to_it(default_on_real_slices):
    for row in default_on_real_slices["input"]:
        assert row["soft_tissue_shift_hu"] == 0 and row["noise_ratio"] == pytest.approx(1.0)
        assert all(row["holds"].values()), row


@pytest.mark.xfail(strict=True, reason="harmonizer_v10 was trained on one simulator only: on every real slice it "
                   "rings at edges (new over/undershoot 43-201 HU), on two it raises the noise (1.38x on the Siemens "
                   "B30s slice), on the CQ500 head it leaves structure in the re-blur residual; strict, so that a "
                   "default that passes makes this test fail until it is un-marked")
def test_default_model_keeps_real_slices_behaviour(default_on_real_slices):
    failed = {(r["slice"], k) for r in default_on_real_slices["default"] for k, ok in r["holds"].items() if not ok}
    assert not failed, sorted(failed)


def test_a_pad_under_the_back_is_not_read_as_air():
    """The Siemens neck slice (B30s, 0.29 mm pixels) holds the patient's back on a pad at about -950 HU, with no
    air in the field and no stored floor: the skin-air MTF must not read that edge as skin against air (it
    read f50 0.11/mm, a third of a B30s kernel's, when the air's level followed the image's own)."""
    from physics.mtf import estimate_mtf

    sl = read_real_slice("bad_sequence.dcm")
    r = estimate_mtf(sl.hu, sl.spacing_mm)
    assert not r.usable, (r.f50_per_mm, r.profiles)
