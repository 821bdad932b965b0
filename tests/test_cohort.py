"""The cohort runner without Ray (its serial engine: the same worker in one process) and its table."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from app_helpers import ROOT, make_study

from cohort.manifest import Study, read_manifest
from cohort.table import add_bland_altman, choose_references, summary
from common.errors import InputError


def test_a_manifest_names_studies_relative_to_itself_and_refuses_a_key_twice(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b c").mkdir()
    csv = tmp_path / "cohort.csv"
    csv.write_text("path,subject\na,P1\nb c,\n")
    studies = read_manifest(csv)
    assert studies == [Study("a", tmp_path / "a", "P1"), Study("b_c", tmp_path / "b c", None)]
    assert [s.key for s in read_manifest(tmp_path)] == ["a", "b_c"]      # a folder: its sub-folders
    csv.write_text("path,study\na,x\nb c,x\n")
    with pytest.raises(InputError, match="'x' is given twice"):
        read_manifest(csv)
    csv.write_text("folder\na\n")
    with pytest.raises(InputError, match="no 'path' column"):
        read_manifest(csv)


def _row(subject, uid, dose, f50, laa_in, laa_out, kernel="K"):
    return {"study": "s", "patient_id": subject, "series_uid": uid, "status": "written", "ctdivol_mgy": dose,
            "mtf_f50_per_mm": f50, "kernel": kernel, "laa950_percent_input": laa_in,
            "laa950_percent_output": laa_out}


def test_the_reference_is_the_highest_dose_then_the_smoothest_and_differences_are_to_its_input():
    rows = [_row("P1", "sharp-high", 10.0, 0.70, 9.0, 5.5), _row("P1", "smooth-high", 10.0, 0.35, 5.0, 5.2),
            _row("P1", "smooth-low", 2.0, 0.30, 7.0, 4.0), _row("P2", "only", 1.0, 0.5, 3.0, 3.0),
            {"study": "t", "status": "failed", "reason": "x"}]
    refs = choose_references(rows)
    assert refs["P1"]["series_uid"] == "smooth-high" and refs["P2"]["series_uid"] == "only"
    add_bland_altman(rows, refs)
    by_uid = {r.get("series_uid"): r for r in rows}
    assert by_uid["sharp-high"]["ba_laa950_percent_input"] == pytest.approx(4.0)       # 9 - 5
    assert by_uid["sharp-high"]["ba_laa950_percent_output"] == pytest.approx(0.5)      # 5.5 - 5 (its input)
    assert by_uid["smooth-low"]["ba_laa950_percent_output"] == pytest.approx(-1.0)
    assert by_uid["smooth-high"]["ba_laa950_percent_input"] is None                    # not against itself
    assert by_uid["only"]["ba_laa950_percent_input"] is None
    assert choose_references(rows, reference_kernel="nothing") == {}
    s = summary(rows)
    # P1's input LAA 9, 5, 7: population SD sqrt(8/3); its output 5.5, 5.2, 4.0: SD 0.648
    p1 = next(e for e in s["subjects"] if e["subject"] == "P1")
    assert p1["sd_laa950_percent_input"] == pytest.approx((8 / 3) ** 0.5)
    assert p1["sd_laa950_percent_output"] == pytest.approx(0.6481, abs=1e-4)
    assert s["cohort"]["ba_laa950_percent_input"]["bias"] == pytest.approx(3.0)        # (4 + 2) / 2
    assert s["cohort"]["series"]["failed"] == 1


def _cohort(args, timeout=600):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = ["bash", "-c", 'ulimit -s 32768 2>/dev/null; exec "$@"', "run", sys.executable, "-m", "cohort", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def serial_cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    make_study(root / "studies" / "chest", seed=31, slices=4)
    (root / "studies" / "broken").mkdir()
    (root / "studies" / "broken" / "notes.txt").write_text("not DICOM")
    out = root / "out"
    first = _cohort(["-i", str(root / "studies"), "-o", str(out), "--engine", "serial"])
    return root, out, first


def test_a_cohort_writes_every_good_series_and_a_table_whose_numbers_are_the_reports(serial_cohort):
    root, out, run = serial_cohort
    assert run.returncode == 4, run.stderr          # one study failed, the cohort went on
    assert "failed broken: no DICOM files" in run.stderr
    table = pd.read_parquet(out / "cohort.parquet")
    assert list(pd.read_csv(out / "cohort.csv").series_uid.fillna("")) == list(table.series_uid.fillna(""))
    broken = table[table.study == "broken"].iloc[0]
    assert broken.status == "failed" and "no DICOM files" in broken.reason
    written = table[table.status == "written"]
    assert len(written) == 2 and set(written.kernel) == {"Br64f", "Br40f"}
    for _, row in written.iterrows():
        report = json.loads((out / row.folder / "report.json").read_text())
        assert row.derived_series_uid == report["derived_series_uid"] == (out / row.folder).name
        assert row.series_uid == report["source_series_uid"]
        for marker in ("laa950_percent", "perc15_hu", "lung_mass_g"):
            assert row[f"{marker}_input"] == report["lung"]["input"][marker]
            assert row[f"{marker}_output"] == report["lung"]["output"][marker]
        assert row.mtf_f50_per_mm == report["mtf_input"]["f50_per_mm"]
        assert row.model_sha256 == report["model"]["sha256"]
    # the one subject's reference: the 6.5 mGy Br40f series; the 1.3 mGy Br64f one is compared to it
    sharp = written[written.kernel == "Br64f"].iloc[0]
    smooth = written[written.kernel == "Br40f"].iloc[0]
    assert sharp.reference_series_uid == smooth.series_uid
    assert sharp.ba_perc15_hu_input == pytest.approx(sharp.perc15_hu_input - smooth.perc15_hu_input)
    assert (out / "bland_altman.png").stat().st_size > 0
    assert json.loads((out / "summary.json").read_text())["cohort"]["subjects"] == 1


def test_a_rerun_skips_the_finished_study_and_writes_nothing_again(serial_cohort):
    root, out, _ = serial_cohort
    folders = sorted(p for p in (out / "studies" / "chest").iterdir())
    stamps = {p: p.stat().st_mtime_ns for p in folders}
    again = _cohort(["-i", str(root / "studies"), "-o", str(out), "--engine", "serial"])
    assert again.returncode == 4 and "(1 already done)" in again.stdout, again.stdout + again.stderr
    assert sorted((out / "studies" / "chest").iterdir()) == folders
    assert {p: p.stat().st_mtime_ns for p in folders} == stamps
