"""Pixel padding (PixelPaddingValue outside a circular field of view, as GE and Siemens write it) is air to the
app: a padded series is harmonized exactly as the same series with air there, and the derived series writes
the padding back, with its PixelPaddingValue."""
from __future__ import annotations

import json

import numpy as np
import pytest
from app_helpers import dciodvfy_errors, make_study, read_folder, run_app, write_datasets

RADIUS_PX = 236
# (name, stored value outside the field, RescaleIntercept, PixelRepresentation, PixelPaddingValue or None, HU)
CONVENTIONS = [
    ("siemens", -2000, -1024, 1, -2000, -3024),          # signed, intercept -1024
    ("ge", -3024, 0, 1, -3024, -3024),                   # signed, intercept 0
    ("unsigned", 0, -8192, 0, 0, -8192),                 # unsigned with a -8192 intercept
    ("undeclared", -3024, 0, 1, None, -3024),            # a field's outside written, not declared
]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """One study: the series with air outside a 236-pixel circle, and the same series in each padding
    convention (its own series UID)."""
    study = make_study(tmp_path_factory.mktemp("study") / "study", renditions=((1.3, "Br64f"),))
    source = read_folder(study / "series_1")
    yy, xx = np.mgrid[:512, :512]
    outside = np.hypot(yy - 255.5, xx - 255.5) > RADIUS_PX
    folder = tmp_path_factory.mktemp("padded")
    variants = [("air", None, -1024, 1, None, None)] + CONVENTIONS
    for number, (variant, stored_value, intercept, representation, declared, _) in enumerate(variants, start=1):
        datasets = []
        for ds in read_folder(study / "series_1"):
            hu = ds.pixel_array.astype(np.int32) + int(ds.RescaleIntercept)
            px = hu - intercept
            px[outside] = -1024 - intercept if stored_value is None else stored_value
            ds.PixelRepresentation, ds.RescaleIntercept = representation, intercept
            ds.PixelData = px.astype(np.int16 if representation else np.uint16).tobytes()
            if declared is not None:
                ds.add_new("PixelPaddingValue", "SS" if representation else "US", declared)
            ds.SeriesInstanceUID, ds.SOPInstanceUID = ds.SeriesInstanceUID + f".{number}", ds.SOPInstanceUID + f".{number}"
            ds.SeriesDescription = variant
            datasets.append(ds)
        write_datasets(datasets, folder / variant)
    out = tmp_path_factory.mktemp("out") / "out"
    proc = run_app(folder, out)
    assert proc.returncode == 0, proc.stderr
    by_variant = {}
    for f in (p for p in out.iterdir() if p.is_dir()):
        series = read_folder(f)
        by_variant[str(series[0].SeriesDescription).replace(" harmonized", "")] = (
            series, json.loads((f / "report.json").read_text()))
    return by_variant, outside, str(source[0].SeriesInstanceUID)


def _by_z(series):
    return sorted(series, key=lambda d: float(d.ImagePositionPatient[2]))


@pytest.mark.parametrize("convention", [c[0] for c in CONVENTIONS])
def test_every_padding_convention_is_harmonized_as_air(outputs, convention):
    by_variant, outside, _ = outputs
    padded, air = _by_z(by_variant[convention][0]), _by_z(by_variant["air"][0])
    for p, a in zip(padded, air):
        assert np.array_equal(p.pixel_array[~outside], a.pixel_array[~outside])
    rp, ra = by_variant[convention][1], by_variant["air"][1]
    for key in ("mtf_input", "mtf_output"):
        assert rp[key]["f50_per_mm"] == ra[key]["f50_per_mm"]
    assert rp["lung"]["output"] == ra["lung"]["output"] and rp["noise_sd_hu"] == ra["noise_sd_hu"]


@pytest.mark.parametrize("convention", CONVENTIONS, ids=[c[0] for c in CONVENTIONS])
def test_the_derived_series_restores_and_declares_the_padding(outputs, convention, tmp_path):
    by_variant, outside, _ = outputs
    padding_hu = convention[-1]
    for ds in by_variant[convention[0]][0]:
        hu = ds.pixel_array.astype(float) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        assert ds.PixelPaddingValue == padding_hu and ds["PixelPaddingValue"].VR == "SS"
        assert np.all(hu[outside] == padding_hu) and hu[~outside].min() >= -1024
    ds.save_as(tmp_path / "one.dcm", enforce_file_format=True)
    assert dciodvfy_errors(tmp_path / "one.dcm") == []
    assert "PixelPaddingValue" not in by_variant["air"][0][0]
