"""The results beside each derived series, as a PACS would read them: its SEG, TID 1500 SR and Secondary
Capture pass dciodvfy; read back with highdicom, the SR's values are report.json's and the SEG's mask is the
lung mask the biomarkers were measured in; they reference the derived series and are sent with it."""
from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from app_helpers import dciodvfy_errors, hu, make_study, read_folder, run_app


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    study = make_study(tmp_path_factory.mktemp("study") / "study", renditions=((6.5, "Br40f"),))
    out = tmp_path_factory.mktemp("out") / "out"
    proc = run_app(study, out)
    assert proc.returncode == 0, proc.stderr
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    return study, folder


@pytest.mark.parametrize("name", ["SEG.dcm", "SR.dcm", "SC.dcm"])
def test_each_results_object_passes_dciodvfy(written, name):
    assert dciodvfy_errors(written[1] / name) == []


def test_the_segmentation_is_the_lung_mask_of_the_input_on_the_derived_series(written):
    import highdicom as hd

    from physics.masks import lung_mask

    study, folder = written
    seg = hd.seg.segread(folder / "SEG.dcm")
    derived = read_folder(folder)
    assert {str(d.SOPInstanceUID) for d in derived} == {
        str(item.ReferencedSOPInstanceUID) for s in seg.ReferencedSeriesSequence for item in s.ReferencedInstanceSequence}
    source = sorted(read_folder(study), key=lambda d: float(d.ImagePositionPatient[2]))
    expected = lung_mask(np.stack([hu(d) for d in source]).astype(np.float32), float(source[0].PixelSpacing[0]))
    by_uid = {str(d.SOPInstanceUID): d for d in derived}
    order = sorted(by_uid, key=lambda u: float(by_uid[u].ImagePositionPatient[2]))
    mask = seg.get_pixels_by_source_instance(source_sop_instance_uids=order, segment_numbers=[1])[..., 0]
    assert np.array_equal(mask.astype(bool), expected)


def test_the_report_holds_report_json_values_for_both_series(written):
    import highdicom as hd

    _, folder = written
    report = json.loads((folder / "report.json").read_text())
    sr = hd.sr.srread(folder / "SR.dcm")
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == 2
    values = {}
    for group, which in zip(groups, ("input", "output")):
        for m in group.get_measurements():
            values[(which, m.name.meaning)] = (m.value, m.unit.value)
    lung_in, lung_out = report["lung"]["input"], report["lung"]["output"]
    for which, lung in (("input", lung_in), ("output", lung_out)):
        assert values[(which, "Low attenuation area below -950 HU")] == (pytest.approx(lung["laa950_percent"]), "%")
        assert values[(which, "15th percentile of lung density")][0] == pytest.approx(lung["perc15_hu"])
        assert values[(which, "Volume")] == (pytest.approx(lung["lung_volume_ml"]), "ml")
        assert values[(which, "Mass")] == (pytest.approx(lung["lung_mass_g"]), "g")
    assert values[("output", "Frequency at 50 % modulation transfer")] == (
        pytest.approx(report["mtf_output"]["f50_per_mm"]), "/mm")
    assert values[("input", "Image noise standard deviation")][0] == pytest.approx(report["noise_sd_hu"]["input"])
    derived_uid = str(read_folder(folder)[0].SeriesInstanceUID)
    assert str(pydicom.dcmread(folder / "SR.dcm").StudyInstanceUID) == str(read_folder(folder)[0].StudyInstanceUID)
    assert derived_uid in json.dumps([str(e) for e in pydicom.dcmread(folder / "SR.dcm").CurrentRequestedProcedureEvidenceSequence])


def test_the_qa_figure_is_a_secondary_capture_of_report_png(written):
    from io import BytesIO

    from PIL import Image

    _, folder = written
    sc = pydicom.dcmread(folder / "SC.dcm")
    png = np.asarray(Image.open(BytesIO((folder / "report.png").read_bytes())).convert("RGB"))
    assert np.array_equal(sc.pixel_array, png)
    derived = read_folder(folder)
    assert sc.StudyInstanceUID == derived[0].StudyInstanceUID
    assert str(sc.ReferencedImageSequence[0].ReferencedSOPInstanceUID) in {str(d.SOPInstanceUID) for d in derived}


def test_outputs_chooses_which_results_are_written(tmp_path):
    study = make_study(tmp_path / "study", slices=2, renditions=((6.5, "Br40f"),))
    proc = run_app(study, tmp_path / "out", "--outputs", "sc")
    assert proc.returncode == 0, proc.stderr
    (folder,) = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    assert {p.name for p in folder.glob("S*.dcm")} == {"SC.dcm"}
    proc = run_app(study, tmp_path / "out2", "--outputs", "sr")
    assert proc.returncode == 2 and "sr needs seg" in proc.stderr and not (tmp_path / "out2").exists()


def test_an_independent_reader_lays_the_segmentation_over_the_series(written):
    """SimpleITK (GDCM) reads the SEG's frames and the derived CT series on its own; each frame, placed by the
    position its per-frame functional groups state, lies on the CT slice at that position, on the lungs of
    that CT's source (Dice 1 with their lung mask). (GDCM takes the first frame's position as the volume's
    origin; highdicom stores the frames head first, so the frames are placed by their own positions.)"""
    import SimpleITK as sitk

    from physics.masks import lung_mask

    study, folder = written
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder), str(read_folder(folder)[0].SeriesInstanceUID)))
    ct = reader.Execute()
    ct_z = [ct.TransformIndexToPhysicalPoint((0, 0, k))[2] for k in range(ct.GetSize()[2])]
    seg = sitk.ReadImage(str(folder / "SEG.dcm"))
    frames = sitk.GetArrayFromImage(seg) > 0
    assert seg.GetSize()[:2] == ct.GetSize()[:2] and np.allclose(seg.GetSpacing()[:2], ct.GetSpacing()[:2])
    frame_z = [float(f.PlanePositionSequence[0].ImagePositionPatient[2])
               for f in pydicom.dcmread(folder / "SEG.dcm").PerFrameFunctionalGroupsSequence]
    mask = np.stack([frames[frame_z.index(z)] for z in ct_z])       # every CT slice has its frame
    source = sorted(read_folder(study), key=lambda d: float(d.ImagePositionPatient[2]))
    assert [float(d.ImagePositionPatient[2]) for d in source] == pytest.approx(ct_z)
    expected = lung_mask(np.stack([hu(d) for d in source]).astype(np.float32), float(source[0].PixelSpacing[0]))
    dice = 2 * (mask & expected).sum() / (mask.sum() + expected.sum())
    assert mask.any() and dice == 1.0


def test_the_results_of_a_source_that_breaks_the_standard_are_valid(tmp_path):
    """The Siemens slice (hex strings as UIDs, no Frame of Reference): its SEG, SR and SC reference it by the
    repaired UIDs its derived series uses, and pass dciodvfy."""
    import io
    import warnings

    from evaluation.real_slices import real_slice_path
    from operators.derived_series import derived_datasets
    from operators.derived_series_writer_operator import DerivedSeriesWriterOperator
    from operators.series_job import SeriesJob, hu_slice

    path = real_slice_path("bad_sequence.dcm")
    if path is None:
        pytest.skip("pydicom-data is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
        vol = hu_slice(ds)[None]
        job = SeriesJob([ds], vol, (float(ds.PixelSpacing[0]), float(ds.PixelSpacing[1])), harmonized_hu=vol,
                        model={"name": "m", "version": "1", "sha256": "0" * 64})
        job.lungs = np.zeros(vol.shape, bool)
        job.lungs[0, 200:260, 200:260] = True
        job.report = {"model": job.model, "lung": {"input": None, "output": None},
                      "noise_sd_hu": {"input": 10.0, "output": 5.0}, "mtf_output": None, "domain": None,
                      "mtf_input": {"f50_per_mm": 0.3, "f10_per_mm": 0.6, "source": "kernel-table"},
                      "guard": {"passed": True}}
        from PIL import Image
        png = io.BytesIO()
        Image.new("RGB", (64, 48), (200, 30, 30)).save(png, format="PNG")
        job.figure_png = png.getvalue()
        headers = list(derived_datasets([ds], vol, job.model, "kernel-table"))
        for h in headers:
            del h.PixelData
        made = DerivedSeriesWriterOperator._results(job, headers, {"seg", "sr", "sc"})
    for name, obj in made.items():
        obj.save_as(tmp_path / name, enforce_file_format=True)
        assert dciodvfy_errors(tmp_path / name) == [], name
    assert made["SR.dcm"].StudyInstanceUID == headers[0].StudyInstanceUID != ds.StudyInstanceUID


def test_a_series_without_slice_thickness_gets_no_seg_and_says_why(tmp_path):
    """SliceThickness is Type 2 in a CT (may be empty; the TCIA pancreas CT has none) and Type 1C in a SEG's
    Pixel Measures: the app does not invent it, so it writes no SEG and no SR (which references the SEG),
    says so in report.json, and what it writes still passes dciodvfy."""
    study = make_study(tmp_path / "study", renditions=((6.5, "Br40f"),))
    for f in study.rglob("*.dcm"):
        ds = pydicom.dcmread(f)
        ds.SliceThickness = None
        ds.save_as(f)
    proc = run_app(study, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    (folder,) = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    assert not (folder / "SEG.dcm").exists() and not (folder / "SR.dcm").exists()
    report = json.loads((folder / "report.json").read_text())
    assert "SliceThickness" in report["results_not_written"]["SEG"]
    for f in sorted(folder.glob("*.dcm"))[:2] + [folder / "SC.dcm"]:
        assert dciodvfy_errors(f) == [], f
