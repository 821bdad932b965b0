"""``python -m simulation``: valid DICOM (dciodvfy's verdict), reproducible, one-line errors, dataset layout."""
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_sim(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "simulation", *map(str, args)], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    if check:
        assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    run_sim("study", "--out", out, "--seed", 5, "--slices", 2, "--dose", 1.3, "--kernel", "Br64f", "--kernel", "Br40f(3)")
    return out


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.rglob("*.dcm")):
        h.update(f.read_bytes())
    return h.hexdigest()


def test_series_pass_dciodvfy_with_zero_errors(study):
    if shutil.which("dciodvfy") is None:
        pytest.fail("dciodvfy (Debian dicom3tools) is not installed: run `make system-deps`")
    files = sorted(study.rglob("*.dcm"))
    assert len(files) == 4
    for f in files:
        r = subprocess.run(["dciodvfy", str(f)], capture_output=True, text=True)
        report = r.stdout + r.stderr
        assert "Error" not in report, report


def test_dicom_holds_the_acquisition_and_the_ground_truth_lines_up(study):
    series = sorted((study / "DICOM").iterdir())
    datasets = [[pydicom.dcmread(f) for f in sorted(s.glob("*.dcm"))] for s in series]
    assert len({d.StudyInstanceUID for s in datasets for d in s}) == 1
    assert len({s[0].SeriesInstanceUID for s in datasets}) == 2
    first = datasets[0][0]
    assert first.ConvolutionKernel == "Br64f" and list(datasets[1][0].ConvolutionKernel) == ["Br40f", "3"]
    assert float(first.CTDIvol) == 1.3 and float(first.KVP) == 120 and first.Exposure > 0
    assert [float(v) for v in first.PixelSpacing] == pytest.approx([500 / 512] * 2)
    gt = np.load(study / "ground_truth.npz")
    assert gt["hu"].shape == (2, 512, 512)
    zs = [float(d.ImagePositionPatient[2]) for d in datasets[0]]
    assert zs == pytest.approx(list(gt["z_mm"]))
    hu = first.pixel_array * float(first.RescaleSlope) + float(first.RescaleIntercept)
    body = gt["body"][0] > 0
    assert np.corrcoef(hu[body], gt["hu"][0][body])[0, 1] > 0.8
    assert abs(np.median(hu[~body & (gt["hu"][0] < -990)]) + 1000) < 30  # air reads -1000


def test_same_seed_gives_identical_files(study, tmp_path):
    run_sim("study", "--out", tmp_path, "--seed", 5, "--slices", 2, "--dose", 1.3, "--kernel", "Br64f", "--kernel", "Br40f(3)")
    assert _digest(tmp_path) == _digest(study)


@pytest.mark.parametrize("args, words", [
    (["--kernel", "B99x"], "unknown kernel"),
    (["--dose", "0"], "positive"),
    (["--dose", "-1"], "positive"),
])
def test_bad_arguments_exit_nonzero_with_one_line(tmp_path, args, words):
    r = run_sim("study", "--out", tmp_path / "x", *args, check=False)
    assert r.returncode != 0
    assert words in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists()


def test_unwritable_output_folder_is_refused():
    r = run_sim("study", "--out", "/proc/ct-harmonizer-test", "--slices", 1, check=False)  # /proc: never writable
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "cannot write" in r.stderr


@pytest.mark.slow      # a small dataset simulated twice: make test-slow
def test_dataset_is_split_by_phantom_and_resumes(tmp_path):
    from simulation.dataset import make_dataset

    kernels, doses = ["Br32f", "Br69f(3)"], [1.3, 6.5]
    m = make_dataset(tmp_path, 3, n_slices=1, first_seed=40, kernels=kernels, doses=doses, show_progress=False)
    assert {p["split"] for p in m["phantoms"]} <= {"train", "val", "test"}
    for p in m["phantoms"]:
        folder = tmp_path / p["folder"]
        assert (folder / "DONE").exists()
        r = np.load(folder / "renditions.npy", mmap_mode="r")
        assert r.shape == (4, 1, 512, 512) and r.dtype == np.int16
        meta = json.loads((folder / "renditions.json").read_text())
        assert [(x["dose_mgy"], x["kernel"]) for x in meta] == [(d, k) for d in doses for k in kernels]
    stamp = (tmp_path / "phantom_0040" / "gt.npy").stat().st_mtime_ns
    (tmp_path / "phantom_0041" / "DONE").unlink()   # an interrupted phantom
    make_dataset(tmp_path, 3, n_slices=1, first_seed=40, kernels=kernels, doses=doses, show_progress=False)
    assert (tmp_path / "phantom_0040" / "gt.npy").stat().st_mtime_ns == stamp
    assert (tmp_path / "phantom_0041" / "DONE").exists()
