"""Every real CT image that pydicom and the pydicom-data wheel ship, through the real command line: each is
harmonized (every output passing dciodvfy) or refused with its specific reason, never a traceback or an
unexplained failure, and the input is left byte for byte as it was. Asked to harmonize outside the model's
domain, so that what the guard lets through is written and checked."""
from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import pydicom
import pytest
from app_helpers import dciodvfy_errors, run_app, tree_digest


def _real_ct_files() -> dict[str, Path]:
    import pydicom.data

    paths = sorted((Path(pydicom.data.__file__).parent / "test_files").rglob("*"))   # local: nothing downloaded
    try:
        import data_store
        paths += sorted((Path(os.path.dirname(data_store.__file__)) / "data").rglob("*"))
    except ImportError:
        pass
    out, kinds = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in paths:
            if not p.is_file():
                continue
            try:
                ds = pydicom.dcmread(p, stop_before_pixels=True)
            except Exception:  # noqa: BLE001 - not DICOM, or not readable: not part of the corpus
                continue
            if str(ds.get("Modality", "")) == "CT":
                out[p.name] = p
                kind = (str(ds.get("SOPClassUID", "")), str(ds.file_meta.get("TransferSyntaxUID", "")),
                        ds.get("Rows"), ds.get("BitsAllocated"), str(ds.get("ImageType", "")), str(ds.get("StudyInstanceUID")))
                kinds.setdefault(kind, p.name)
    return out, set(kinds.values())


CORPUS, ONE_OF_EACH_KIND = _real_ct_files()     # kind: SOP class, transfer syntax, size, bits, image type, study
REASONS = ("no eligible axial CT series", "not CT Image Storage", "the harmonized series does not explain",
           "outside the model's validated domain", "pixel data cannot be decoded", "studies; give the app one")


def _check(proc, out: Path):
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text
    assert proc.returncode in (0, 2, 4), (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    if proc.returncode == 2:
        assert len(lines) == 1 and lines[0].startswith("error: ") and any(r in lines[0] for r in REASONS), lines
        assert not out.exists()
    if proc.returncode == 4:
        assert lines and all(line.startswith("rejected series") and any(r in line for r in REASONS)
                              for line in lines), lines
    if proc.returncode == 0:
        assert not lines, lines
    for f in out.rglob("*.dcm") if out.exists() else []:
        assert dciodvfy_errors(f) == [], f


@pytest.mark.skipif(not CORPUS, reason="neither pydicom's test files nor pydicom-data is installed")
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CORPUS))
def test_each_real_ct_file_is_harmonized_or_refused_by_name(name, tmp_path):
    """Every file alone (``make test-slow``; ``make test`` runs one file of each kind in one study, below)."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(CORPUS[name], folder / name)
    before = tree_digest(folder)
    out = tmp_path / "out"
    _check(run_app(folder, out, "--outside-domain"), out)
    assert tree_digest(folder) == before


@pytest.mark.skipif(not CORPUS, reason="neither pydicom's test files nor pydicom-data is installed")
def test_the_corpus_made_one_study_is_harmonized_or_refused_series_by_series(tmp_path):
    """Every file given one StudyInstanceUID (in copies): one run, in which each series is harmonized or
    refused with its reason on its own line, whatever the others are."""
    folder = tmp_path / "in"
    folder.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in sorted(ONE_OF_EACH_KIND):
            ds = pydicom.dcmread(CORPUS[name])
            ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
            ds.save_as(folder / name)
    before = tree_digest(folder)
    out = tmp_path / "out"
    proc = run_app(folder, out, "--outside-domain")
    _check(proc, out)
    assert tree_digest(folder) == before


@pytest.mark.skipif(not CORPUS, reason="neither pydicom's test files nor pydicom-data is installed")
def test_the_whole_corpus_as_one_folder_is_refused_by_name(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name, path in CORPUS.items():
        shutil.copy(path, folder / name)
    before = tree_digest(folder)
    proc = run_app(folder, tmp_path / "out")
    _check(proc, tmp_path / "out")
    assert proc.returncode == 2 and "studies" in proc.stderr
    assert tree_digest(folder) == before
