"""Bad and awkward input through the real command line: one line and exit 2 with nothing written, or a
correct derived series for inputs real scanners produce (compressed, single slice, flipped, stray files)."""
from __future__ import annotations

import copy
import json
import subprocess

import numpy as np
import pydicom
import pytest
from app_helpers import dciodvfy_errors, hu, make_study, read_folder, run_app, tree_digest, write_datasets
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Four slices of one simulated series, as pydicom datasets (copied by each case)."""
    folder = make_study(tmp_path_factory.mktemp("base") / "study", seed=41, renditions=((6.5, "Br49f"),))
    return sorted(read_folder(folder), key=lambda d: float(d.ImagePositionPatient[2]))


def _copy(datasets):
    return [copy.deepcopy(d) for d in datasets]


def _expect_refusal(input_dir, tmp_path, words):
    out = tmp_path / "out"
    before = tree_digest(input_dir) if input_dir.exists() else None
    proc = run_app(input_dir, out)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for w in words:
        assert w in lines[0], lines[0]
    assert not out.exists(), "something was written for bad input"
    if before is not None:
        assert tree_digest(input_dir) == before


def test_missing_folder(tmp_path):
    _expect_refusal(tmp_path / "nowhere", tmp_path, ["does not exist"])


def test_empty_folder(tmp_path):
    (tmp_path / "in").mkdir()
    _expect_refusal(tmp_path / "in", tmp_path, ["empty"])


def test_no_dicom(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("hello")
    (tmp_path / "in" / "image.dcm").write_bytes(b"\x00" * 300)
    _expect_refusal(tmp_path / "in", tmp_path, ["no DICOM"])


def test_only_scouts(base, tmp_path):
    ds = _copy(base)[:1]
    ds[0].ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    _expect_refusal(write_datasets(ds, tmp_path / "in"), tmp_path, ["no eligible", "localizer"])


def test_secondary_series_is_not_harmonized(base, tmp_path):
    ds = _copy(base)
    for d in ds:
        d.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    _expect_refusal(write_datasets(ds, tmp_path / "in"), tmp_path, ["no eligible", "not ORIGINAL or DERIVED, PRIMARY"])


def test_own_output_is_not_harmonized_again_even_marked_primary(base, tmp_path):
    """A PACS that rewrote the ImageType of a harmonized series still holds its DerivationDescription."""
    ds = _copy(base)
    for d in ds:
        d.ImageType = ["DERIVED", "PRIMARY", "AXIAL"]
        d.DerivationDescription = "Harmonized by CT Harmonizer 0.2.0 with model ct-harmonizer 2.5.0"
    _expect_refusal(write_datasets(ds, tmp_path / "in"), tmp_path, ["no eligible", "own harmonized output"])


def test_derived_primary_axial_series_is_harmonized(base, tmp_path):
    """DERIVED\\PRIMARY\\AXIAL: what many scanners and PACS store for reconstructed axial series."""
    ds = _copy(base)
    for d in ds:
        d.ImageType = ["DERIVED", "PRIMARY", "AXIAL"]
    proc = run_app(write_datasets(ds, tmp_path / "in"), tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert len([p for p in (tmp_path / "out").iterdir() if p.is_dir()]) == 1


@pytest.mark.parametrize("keyword, words", [("PixelSpacing", ["PixelSpacing"]),
                                            ("ImagePositionPatient", ["ImagePositionPatient"])])
def test_missing_geometry(base, tmp_path, keyword, words):
    ds = _copy(base)
    delattr(ds[1], keyword)
    _expect_refusal(write_datasets(ds, tmp_path / "in"), tmp_path, words)


def test_gantry_tilt(base, tmp_path):
    ds = _copy(base)
    c, s = np.cos(np.radians(15)), np.sin(np.radians(15))
    for d in ds:
        d.ImageOrientationPatient = [1, 0, 0, 0, c, -s]
    _expect_refusal(write_datasets(ds, tmp_path / "in"), tmp_path, ["not axial"])


def test_tilt_by_positions(base, tmp_path):
    ds = _copy(base)
    for i, d in enumerate(ds):
        x, y, z = (float(v) for v in d.ImagePositionPatient)
        d.ImagePositionPatient = [x, y + 0.4 * i, z]     # positions drift in y: a tilted acquisition
    _expect_refusal(write_datasets(ds, tmp_path / "in"), tmp_path, ["drift"])


def test_inconsistent_slice_spacing(base, tmp_path):
    ds = _copy(base)
    x, y, z = (float(v) for v in ds[3].ImagePositionPatient)
    ds[3].ImagePositionPatient = [x, y, z + 2.5]
    _expect_refusal(write_datasets(ds, tmp_path / "in"), tmp_path, ["spacing"])


def test_mixed_studies(base, tmp_path):
    ds = _copy(base)
    for d in ds[2:]:
        d.StudyInstanceUID = d.StudyInstanceUID + ".1"
    _expect_refusal(write_datasets(ds, tmp_path / "in"), tmp_path, ["2 studies"])


def test_not_ct(base, tmp_path):
    ds = _copy(base)
    for d in ds:
        d.Modality = "MR"
    _expect_refusal(write_datasets(ds, tmp_path / "in"), tmp_path, ["modality MR"])


def test_output_is_a_file(base, tmp_path):
    src = write_datasets(_copy(base), tmp_path / "in")
    (tmp_path / "file").write_text("x")
    proc = run_app(src, tmp_path / "file")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "not a folder" in proc.stderr


def _run_ok(input_dir, tmp_path, *extra):
    out = tmp_path / "out"
    before = tree_digest(input_dir)
    proc = run_app(input_dir, out, *extra)
    assert proc.returncode == 0, proc.stderr
    assert tree_digest(input_dir) == before
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == 1
    for f in folders[0].glob("*.dcm"):
        assert dciodvfy_errors(f) == [], f
    return folders[0]


def test_stray_corrupt_and_truncated_files_are_skipped(base, tmp_path):
    src = write_datasets(_copy(base), tmp_path / "in")
    (src / "junk.dcm").write_bytes(b"DICM" * 50)
    other = copy.deepcopy(base[0])
    other.SeriesInstanceUID = other.SeriesInstanceUID + ".7"
    other.SOPInstanceUID = other.SOPInstanceUID + ".7"
    other.save_as(src / "other.dcm", enforce_file_format=True)
    data = (src / "other.dcm").read_bytes()
    (src / "other.dcm").write_bytes(data[: len(data) // 2])            # truncated in its pixel data
    folder = _run_ok(src, tmp_path)
    assert len(list(folder.glob("CT*.dcm"))) == 4


def test_single_slice(base, tmp_path):
    folder = _run_ok(write_datasets(_copy(base)[1:2], tmp_path / "in"), tmp_path)
    assert len(list(folder.glob("CT*.dcm"))) == 1
    assert json.loads((folder / "report.json").read_text())["slices"] == 1


@pytest.mark.parametrize("syntax", [RLELossless, JPEGLSLossless,
                                    pytest.param(JPEG2000Lossless, marks=pytest.mark.slow)],   # J2K: 26 s
                         ids=lambda u: u.name)
def test_compressed_input(base, tmp_path, syntax):
    ds = _copy(base)
    for d in ds:
        d.compress(syntax)
    folder = _run_ok(write_datasets(ds, tmp_path / "in"), tmp_path)
    out = read_folder(folder)
    assert len(out) == 4 and not out[0].file_meta.TransferSyntaxUID.is_compressed


def test_flipped_orientation_gives_the_flipped_result(base, tmp_path):
    """Rows stored bottom-up (ImageOrientationPatient 1,0,0,0,-1,0): the derived series keeps that geometry and
    its pixels equal the flipped result of the usual orientation, exactly."""
    plain = _run_ok(write_datasets(_copy(base), tmp_path / "plain"), tmp_path / "a")
    flipped = _copy(base)
    for d in flipped:
        rows = int(d.Rows)
        x, y, z = (float(v) for v in d.ImagePositionPatient)
        d.ImageOrientationPatient = [1, 0, 0, 0, -1, 0]
        d.ImagePositionPatient = [x, y + (rows - 1) * float(d.PixelSpacing[0]), z]
        d.PixelData = np.ascontiguousarray(d.pixel_array[::-1]).tobytes()
    (tmp_path / "b").mkdir()
    out = _run_ok(write_datasets(flipped, tmp_path / "flipped"), tmp_path / "b")
    a = sorted(read_folder(plain), key=lambda d: float(d.ImagePositionPatient[2]))
    b = sorted(read_folder(out), key=lambda d: float(d.ImagePositionPatient[2]))
    for da, db, src in zip(a, b, flipped):
        assert list(db.ImageOrientationPatient) == list(src.ImageOrientationPatient)
        assert list(db.ImagePositionPatient) == list(src.ImagePositionPatient)
        assert np.array_equal(hu(da)[::-1], hu(db))        # the MTF too is measured in the usual view
    # and the report measures both series' MTFs as it would the same patient stored the usual way
    ra, rb = (json.loads((folder / "report.json").read_text()) for folder in (plain, out))
    for key in ("mtf_input", "mtf_output"):
        assert ra[key]["mtf"] == rb[key]["mtf"], key


def test_tampered_model_is_refused(base, tmp_path):
    import shutil

    from app_helpers import ROOT

    model = tmp_path / "model"
    shutil.copytree(ROOT / "models" / "physics_baseline", model)
    with open(model / "model.ts", "ab") as f:
        f.write(b"\0")
    src = write_datasets(_copy(base), tmp_path / "in")
    proc = run_app(src, tmp_path / "out", "-m", str(model))
    assert proc.returncode == 2 and "integrity" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_small_field_of_view_falls_back_to_the_kernel(base, tmp_path):
    """A 150 mm reconstruction inside the body: no skin-air edge, so the MTF comes from the kernel name. The
    mediastinum it shows has no lungs: it is harmonized outside the model's domain, as asked, and the guard
    may still refuse it; either way its report says where the MTF came from."""
    ds = _copy(base)
    for d in ds:
        x, y, z = (float(v) for v in d.ImagePositionPatient)
        sp = float(d.PixelSpacing[0])
        d.PixelData = np.ascontiguousarray(d.pixel_array[180:334, 180:334]).tobytes()
        d.Rows = d.Columns = 154
        d.ImagePositionPatient = [x + 180 * sp, y + 180 * sp, z]
    out = tmp_path / "out"
    proc = run_app(write_datasets(ds, tmp_path / "in"), out, "--outside-domain")
    assert proc.returncode in (0, 4), proc.stderr
    (report_path,) = out.rglob("report.json")
    report = json.loads(report_path.read_text())
    assert report["mtf_input"]["source"] == "kernel-table" and report["mtf_input"]["f50_per_mm"] == 0.49
    assert not report["mtf_input"]["quality"]["usable"]


def test_the_next_write_removes_a_dead_writers_hidden_partial_folder(tmp_path):
    """What a writer killed mid-series leaves (its hidden partial folder: test_app_faults kills a real one) is
    removed by the next write into that folder, once its process is gone; a live writer's is kept."""
    import os

    from common.atomic_folder import write_folder

    out = tmp_path / "out"
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = out / f".2.25.1.partial-{dead.pid}"
    live = out / f".2.25.2.partial-{os.getpid()}"       # this process: alive
    for folder in (stale, live):
        folder.mkdir(parents=True)
        (folder / "CT00001.dcm").write_bytes(b"half")
    final = write_folder(out / "2.25.3", lambda f: (f / "CT00001.dcm").write_bytes(b"whole"))
    assert not stale.exists() and live.exists()
    assert (final / "CT00001.dcm").read_bytes() == b"whole"


def _mutate(base, tmp_path, change):
    ds = _copy(base)
    change(ds)
    return write_datasets(ds, tmp_path / "in")


def _no_pixels(ds):
    del ds[2].PixelData


def _huge(ds):
    for d in ds:
        d.Rows = d.Columns = 60000


def _negative_spacing(ds):
    for d in ds:
        d.PixelSpacing = [-0.9765625, 0.9765625]


def _nan_rescale(ds):
    for d in ds:
        d.RescaleSlope = "NaN"


def _duplicate_uid(ds):
    ds[3].SOPInstanceUID = ds[2].SOPInstanceUID


def _mixed_sizes(ds):
    d = ds[1]
    d.PixelData = np.ascontiguousarray(d.pixel_array[:256, :256]).tobytes()
    d.Rows = d.Columns = 256


@pytest.mark.parametrize("change, words", [
    (_no_pixels, ["no pixel data"]), (_huge, ["too large"]), (_negative_spacing, ["PixelSpacing"]),
    (_nan_rescale, ["Rescale"]), (_duplicate_uid, ["duplicate SOPInstanceUID"]), (_mixed_sizes, ["different sizes"]),
], ids=["no-pixel-data", "huge-dimensions", "negative-spacing", "nan-rescale", "duplicate-sop-uid", "mixed-sizes"])
def test_malformed_series(base, tmp_path, change, words):
    _expect_refusal(_mutate(base, tmp_path, change), tmp_path, words)


def test_symlink_loop_in_the_input_is_not_followed(base, tmp_path):
    src = write_datasets(_copy(base), tmp_path / "in")
    (src / "loop").symlink_to(src, target_is_directory=True)
    folder = _run_ok(src, tmp_path)
    assert len(list(folder.glob("CT*.dcm"))) == 4


def test_empty_series_number_is_harmonized(base, tmp_path):
    """SeriesNumber is Type 2 (present, may be empty): the SDK's loader called int(None) on it."""
    ds = _copy(base)
    for d in ds:
        d.SeriesNumber = None
    proc = run_app(write_datasets(ds, tmp_path / "in"), tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    folders = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    assert len(folders) == 1
    files = sorted(folders[0].glob("CT*.dcm"))
    assert len(files) == len(ds) and dciodvfy_errors(files[0]) == []


def test_a_series_that_does_not_decode_is_set_aside_and_the_other_written(base, tmp_path):
    """A JPEG 2000 stream corrupted inside (complete, so the study scan passes it): that series is refused by
    name (exit 4) and the study's good series is still written."""
    from pydicom.encaps import encapsulate, generate_frames

    good = write_datasets(_copy(base), tmp_path / "in" / "good")
    bad = _copy(base)
    for d in bad:
        d.SeriesInstanceUID, d.SOPInstanceUID = d.SeriesInstanceUID + ".8", d.SOPInstanceUID + ".8"
        d.SeriesNumber = 8
        d.compress(JPEG2000Lossless)
        frame = bytearray(next(generate_frames(d.PixelData, number_of_frames=1)))
        frame[len(frame) // 2:] = bytes(len(frame) - len(frame) // 2)   # its second half zeroed, same length
        d.PixelData = encapsulate([bytes(frame)])
    write_datasets(bad, tmp_path / "in" / "bad")
    out = tmp_path / "out"
    proc = run_app(tmp_path / "in", out)
    assert proc.returncode == 4, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("rejected series 8") and "cannot be decoded" in line and "Traceback" not in line
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == 1 and len(list(folders[0].glob("CT*.dcm"))) == len(base)
    assert good.exists()


def test_sop_uids_emptied_in_the_dataset_are_read_from_the_file_meta(base, tmp_path):
    """De-identification that empties SOPClassUID/SOPInstanceUID in the dataset but keeps them in the file
    meta: the series is harmonized, its sources referenced by the file meta's UIDs."""
    src = _copy(base)
    folder = tmp_path / "in"
    folder.mkdir()
    for i, d in enumerate(src):
        d.file_meta.MediaStorageSOPClassUID, d.file_meta.MediaStorageSOPInstanceUID = d.SOPClassUID, d.SOPInstanceUID
        d.SOPClassUID, d.SOPInstanceUID = "", ""
        d.save_as(folder / f"IM{i}.dcm", enforce_file_format=False)
    out = read_folder(_run_ok(folder, tmp_path))
    referenced = {str(d.SourceImageSequence[0].ReferencedSOPInstanceUID) for d in out}
    assert referenced == {str(d.SOPInstanceUID) for d in base}


def test_bare_datasets_without_preamble_or_file_meta_are_harmonized(base, tmp_path):
    """Datasets written as they are (no 128-byte preamble, no DICM, no file meta: what some old exports
    write): read in their encoding, staged as conforming copies, harmonized like the files they came from."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    folder = tmp_path / "in"
    folder.mkdir()
    for i, d in enumerate(_copy(base)):
        fp = DicomBytesIO()
        fp.is_little_endian, fp.is_implicit_VR = True, True
        write_dataset(fp, pydicom.Dataset({tag: elem for tag, elem in d.items()}))
        (folder / f"IM{i}").write_bytes(fp.getvalue())
    bare = read_folder(_run_ok(folder, tmp_path / "a"))
    (tmp_path / "b").mkdir()
    plain = read_folder(_run_ok(write_datasets(_copy(base), tmp_path / "plain"), tmp_path / "b"))
    by_z = lambda ds: sorted(ds, key=lambda d: float(d.ImagePositionPatient[2]))  # noqa: E731
    for a, b in zip(by_z(bare), by_z(plain)):
        assert np.array_equal(a.pixel_array, b.pixel_array)
