"""Do no harm, end to end: a model that hallucinates is caught by the consistency guard, a series outside the
model's validated domain is refused, and what a refused series gets (no DICOM, its report under rejected/,
one line on stderr, exit 4) while the study's other series are still written."""
from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
import torch
from app_helpers import ROOT, make_study, read_folder, run_app, write_datasets
from corrupted_models import disc, texture, write_corrupted

DEFAULT = ROOT / "models"
SHAPE = (512, 512)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One simulated chest series (1.3 mGy, Br64f: the noisiest rendition the model was trained on)."""
    return make_study(tmp_path_factory.mktemp("study") / "study", renditions=((1.3, "Br64f"),))


def _right_lung_centre(study) -> tuple[int, int]:
    """The deepest point of the right lung (image left) in the middle slice of the first series."""
    from scipy import ndimage as ndi

    from physics.masks import lung_mask

    ds = read_folder(study / "series_1")
    img = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in ds])
    lungs = lung_mask(img, pixel_mm=float(ds[0].PixelSpacing[0]))[len(ds) // 2]
    lungs[:, SHAPE[1] // 2:] = False
    depth = ndi.distance_transform_edt(lungs)
    return tuple(int(v) for v in np.unravel_index(np.argmax(depth), depth.shape))


def _sources(study) -> set[str]:
    return {str(read_folder(study / "series_1")[0].SeriesInstanceUID)}


def _dicom_folders(out):
    return [p for p in out.iterdir() if p.is_dir() and p.name != "rejected"]


@pytest.mark.parametrize("corruption", ["blob_800hu_9mm_right_lung", "soft_tissue_plus_40hu", "texture_60hu"])
def test_a_hallucinating_model_is_caught_and_nothing_is_written(study, tmp_path, corruption):
    if corruption.startswith("blob"):
        model = write_corrupted(DEFAULT, tmp_path / "model", disc(SHAPE, _right_lung_centre(study), 9 / 0.977, 800.0))
    elif corruption.startswith("soft"):
        model = write_corrupted(DEFAULT, tmp_path / "model", torch.zeros(SHAPE), shift_hu=40.0)
    else:
        model = write_corrupted(DEFAULT, tmp_path / "model", texture(SHAPE, 60.0), body_only=True)
    out = tmp_path / "out"
    proc = run_app(study, out, "-m", str(model))
    assert proc.returncode == 4, proc.stderr
    assert not _dicom_folders(out) and not list(out.rglob("*.dcm"))
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and all(line.startswith("rejected series") for line in lines), proc.stderr
    rejected = {p.name for p in (out / "rejected").iterdir()}
    assert rejected == _sources(study)
    for uid in rejected:
        report = json.loads((out / "rejected" / uid / "report.json").read_text())
        assert report["rejected"] and report["derived_series_uid"] is None
        failed = [name for name, c in report["guard"]["checks"].items() if not c["holds"]]
        assert failed and all(name in report["rejected"] for name in failed)
        assert report["guard"]["limits_from"] == "model card"
        assert (out / "rejected" / uid / "report.png").stat().st_size > 10_000


def test_the_default_model_passes_its_guard_with_every_check_reported(study, tmp_path):
    out = tmp_path / "out"
    proc = run_app(study, out)
    assert proc.returncode == 0, proc.stderr
    for folder in _dicom_folders(out):
        report = json.loads((folder / "report.json").read_text())
        assert report["guard"]["passed"] and report["rejected"] is None
        assert all({"value", "limit", "holds"} <= set(c) for c in report["guard"]["checks"].values())
        assert report["domain"]["inside"], report["domain"]


@pytest.fixture(scope="module")
def no_lungs(study, tmp_path_factory):
    """The study's phantom with its lungs made soft tissue in the object, scanned by the simulator (what an
    abdomen below the lungs shows: no lungs, a scan's own noise), beside the chest series 1 as it was."""
    from simulation.dicom_io import series_datasets, write_series
    from simulation.kernels import get_kernel
    from simulation.phantom import make_phantom
    from simulation.scanner import scan_volume

    folder = tmp_path_factory.mktemp("nolungs")
    ph = make_phantom(31, 4)
    lungs = np.repeat(np.repeat(ph.lung > 0, 2, axis=1), 2, axis=2)
    obj = np.where(lungs & (ph.object_hu < -300), 40.0, ph.object_hu).astype(np.float32)
    scan = scan_volume(obj, [6.5], ["Br40f"], seed=31)[(6.5, "Br40f")]
    write_series(series_datasets(scan, ph.z_mm, 31, get_kernel("Br40f"), 6.5, 2), folder / "abdomen")
    write_datasets(read_folder(study / "series_1"), folder / "chest")
    return folder


def test_a_series_without_lungs_is_refused_and_the_other_written(no_lungs, tmp_path):
    out = tmp_path / "out"
    proc = run_app(no_lungs, out)
    assert proc.returncode == 4, proc.stderr
    assert len(_dicom_folders(out)) == 1
    (line,) = proc.stderr.strip().splitlines()
    assert "no lungs in the field" in line and "--outside-domain" in line
    (folder,) = (out / "rejected").iterdir()
    report = json.loads((folder / "report.json").read_text())
    assert report["lung"]["input"] is None and "no lungs" in report["lung"]["omitted"]
    assert not report["domain"]["checks"]["lung_fraction"]["holds"]
    assert report["guard"] is None and report["mtf_output"] is None     # never harmonized


def test_outside_domain_harmonizes_it_marked_and_without_lung_numbers(no_lungs, tmp_path):
    out = tmp_path / "out"
    proc = run_app(no_lungs, out, "--outside-domain")
    assert proc.returncode == 0, proc.stderr
    marked = []
    for folder in _dicom_folders(out):
        report = json.loads((folder / "report.json").read_text())
        ds = pydicom.dcmread(next(folder.glob("CT*.dcm")))
        if report["domain"]["harmonized_outside_domain"]:
            marked.append(folder)
            assert "outside the model's validated domain" in ds.DerivationDescription
            assert report["lung"]["input"] is None and report["lung"]["output"] is None
        else:
            assert "outside" not in ds.DerivationDescription
    assert len(marked) == 1


def test_a_slice_thickness_the_model_never_saw_is_refused_by_name(study, tmp_path):
    folder = tmp_path / "thick"
    datasets = read_folder(study / "series_1")
    for d in datasets:
        d.SliceThickness = 5.0
    write_datasets(datasets, folder / "s")
    out = tmp_path / "out"
    proc = run_app(folder, out)
    assert proc.returncode == 4 and "slice_thickness_mm 5 outside" in proc.stderr, proc.stderr
