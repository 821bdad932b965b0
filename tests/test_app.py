"""The application end to end through its real command line, checked with independent tools: dciodvfy's
verdict, pydicom, SimpleITK and highdicom reading the output, HU of known regions, the input left untouched."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from app_helpers import ROOT, dciodvfy_errors, hu, make_study, read_folder, run_app, tree_digest, write_datasets


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = make_study(tmp_path_factory.mktemp("study") / "study")
    # a scout of the same study beside the axial series: never harmonized
    scout = read_folder(folder / "series_1")[:1]
    for ds in scout:
        ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
        ds.SeriesInstanceUID = ds.SeriesInstanceUID + ".9"
        ds.SOPInstanceUID = ds.SOPInstanceUID + ".9"
        ds.SeriesNumber, ds.SeriesDescription = 99, "Topogram"
    write_datasets(scout, folder / "scout")
    (folder / "README.txt").write_text("not DICOM\n")
    return folder


@pytest.fixture(scope="module")
def result(study, tmp_path_factory):
    before = tree_digest(study)
    out = tmp_path_factory.mktemp("out") / "out"
    proc = run_app(study, out)
    assert proc.returncode == 0, proc.stderr
    assert tree_digest(study) == before, "the input folder was modified"
    return out, proc


def _series_folders(out):
    return sorted(p for p in out.iterdir() if p.is_dir())


def test_one_derived_series_per_eligible_series(result, study):
    out, proc = result
    folders = _series_folders(out)
    assert len(folders) == 2, [p.name for p in out.iterdir()]
    sources = {str(read_folder(study / s)[0].SeriesInstanceUID) for s in ("series_1", "series_2")}
    derived_from = {json.loads((f / "report.json").read_text())["source_series_uid"] for f in folders}
    assert derived_from == sources
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary folders left behind"
    for f in folders:
        assert str(f) in proc.stdout


def test_every_file_passes_dciodvfy(result):
    out, _ = result
    files = sorted(out.rglob("*.dcm"))
    assert len(files) == 2 * (4 + 3)          # two series of 4 slices, each with its SEG, SR and SC
    for f in files:
        assert dciodvfy_errors(f) == [], f


def test_derived_attributes_reference_the_source(result, study):
    out, _ = result
    for folder in _series_folders(out):
        derived = read_folder(folder)
        report = json.loads((folder / "report.json").read_text())
        src = {str(ds.SOPInstanceUID): ds for ds in read_folder(study) if str(ds.SeriesInstanceUID) == report["source_series_uid"]}
        assert len(derived) == len(src) == 4
        assert len({str(d.SeriesInstanceUID) for d in derived}) == 1
        assert str(derived[0].SeriesInstanceUID) == folder.name == report["derived_series_uid"]
        for d in derived:
            s = src[str(d.SourceImageSequence[0].ReferencedSOPInstanceUID)]
            assert d.SOPInstanceUID != s.SOPInstanceUID and d.SeriesInstanceUID != s.SeriesInstanceUID
            assert list(d.ImageType) == ["DERIVED", "SECONDARY", "AXIAL"]
            assert "harmonized" in d.SeriesDescription
            assert report["model"]["sha256"] in d.DerivationDescription
            assert d.ReferencedSeriesSequence[0].SeriesInstanceUID == s.SeriesInstanceUID
            assert d.ContributingEquipmentSequence[0].Manufacturer == "CT Harmonizer"
            for kw in ("PatientID", "PatientName", "StudyInstanceUID", "FrameOfReferenceUID", "ImagePositionPatient",
                       "ImageOrientationPatient", "PixelSpacing", "SliceThickness"):
                assert d.get(kw) == s.get(kw), kw
            assert d.PixelRepresentation == 1 and d.BitsAllocated == 16
            assert not [t for t in d.keys() if t.is_private]


def test_hu_of_known_regions(result, study):
    """The default model keeps large-area HU: air outside the body and soft tissue keep their means."""
    out, _ = result
    from scipy import ndimage as ndi

    from physics.masks import body_mask_2d

    for folder in _series_folders(out):
        report = json.loads((folder / "report.json").read_text())
        derived = sorted(read_folder(folder), key=lambda d: float(d.ImagePositionPatient[2]))
        src = sorted((ds for ds in read_folder(study) if str(ds.SeriesInstanceUID) == report["source_series_uid"]),
                     key=lambda d: float(d.ImagePositionPatient[2]))
        a, b = hu(src[1]), hu(derived[1])
        body = body_mask_2d(a, pixel_mm=float(src[1].PixelSpacing[0]))
        air = ~ndi.binary_dilation(body, iterations=20) & (a < -900)
        tissue = ndi.binary_erosion(body, iterations=5) & (ndi.uniform_filter(a, 15) > -100) & (ndi.uniform_filter(a, 15) < 100)
        assert abs(b[air].mean() - (-1000)) < 15
        assert abs(b[tissue].mean() - a[tissue].mean()) < 5


def test_geometry_reloads_identically(result, study):
    import highdicom as hd
    import SimpleITK as sitk

    out, _ = result

    def sitk_series(folder):
        """The CT series of ``folder`` (a derived folder also holds its SEG, SR and SC series)."""
        r = sitk.ImageSeriesReader()
        files = r.GetGDCMSeriesFileNames(str(folder), str(read_folder(folder)[0].SeriesInstanceUID))
        r.SetFileNames(files)
        return r.Execute()

    for folder in _series_folders(out):
        report = json.loads((folder / "report.json").read_text())
        source_folder = next(p for p in study.iterdir() if p.is_dir() and
                             str(read_folder(p)[0].SeriesInstanceUID) == report["source_series_uid"])
        a, b = sitk_series(source_folder), sitk_series(folder)
        assert a.GetSize() == b.GetSize()
        assert np.allclose(a.GetSpacing(), b.GetSpacing()) and np.allclose(a.GetOrigin(), b.GetOrigin())
        assert np.allclose(a.GetDirection(), b.GetDirection())
        vol = hd.get_volume_from_series(read_folder(folder))
        ref = hd.get_volume_from_series(read_folder(source_folder))
        assert np.allclose(vol.affine, ref.affine)
        assert vol.shape == ref.shape


def test_report_contents(result):
    out, _ = result
    for folder in _series_folders(out):
        r = json.loads((folder / "report.json").read_text())
        for key in ("source_series_uid", "derived_series_uid", "model", "mtf_input", "mtf_output", "noise_sd_hu", "lung"):
            assert key in r
        assert set(r["model"]) >= {"name", "version", "sha256"}
        assert r["mtf_input"]["source"] == "measured" and len(r["mtf_input"]["mtf"]) == 64
        assert r["mtf_input"]["quality"]["usable"]
        for side in ("input", "output"):
            assert set(r["lung"][side]) >= {"laa950_percent", "perc15_hu", "lung_mass_g"}
        assert (folder / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rerun_into_the_same_output_replaces_not_mixes(result, study, tmp_path):
    out, _ = result
    again = tmp_path / "again"
    shutil.copytree(out, again)
    # what an earlier, longer version of the same series left: a writer that merged would keep it
    stale = _series_folders(again)[0] / "CT00099.dcm"
    shutil.copy(stale.with_name("CT00001.dcm"), stale)
    proc = run_app(study, again)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in again.iterdir()) == sorted(p.name for p in out.iterdir())
    assert not stale.exists()
    for folder in _series_folders(again):
        assert len(list(folder.glob("CT*.dcm"))) == 4


def test_a_successful_run_writes_nothing_on_stderr(study, tmp_path):
    """Libraries' warnings (Holoscan's stack-size advice under the default 8 MB stack, numpy, pydicom) are kept
    for the log at DEBUG; the user reads only the 'wrote' lines."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = ["bash", "-c", 'ulimit -s 8192 2>/dev/null; exec "$@"', "run", sys.executable, "-m", "app",
           "-i", str(study), "-o", str(tmp_path / "out")]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    assert proc.stdout.startswith("wrote ")
