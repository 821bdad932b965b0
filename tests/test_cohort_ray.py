"""The cohort runner on a local Ray cluster of two workers (opt-in: ``make test-ray``)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from app_helpers import RESULT_FILES, ROOT, make_study

pytestmark = pytest.mark.ray


def _start(args) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = ["bash", "-c", 'ulimit -s 32768 2>/dev/null; exec "$@"', "run", sys.executable, "-m", "cohort", *args]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """Six studies, one broken: five simulated chests (the fifth longer, so that its write can be caught)."""
    root = tmp_path_factory.mktemp("ray_cohort")
    for i, seed in enumerate((41, 42, 43, 44)):
        make_study(root / f"study_{i}", seed=seed, slices=4, renditions=((1.3, "Br64f"),))
    make_study(root / "study_long", seed=45, slices=16)
    (root / "study_broken").mkdir()
    (root / "study_broken" / "x.dcm").write_bytes(b"DICM but not really")
    return root


def _series_folders(out):
    return sorted(p for p in (out / "studies").glob("*/*") if p.is_dir() and p.name != "rejected")


def _complete(folder) -> bool:
    slices = [p for p in folder.glob("*.dcm") if p.name not in RESULT_FILES]
    import json

    report = json.loads((folder / "report.json").read_text())
    return len(slices) == report["slices"] and all((folder / name).is_file() for name in RESULT_FILES)


def test_two_workers_write_every_good_series_once_and_table_the_broken_study(studies, tmp_path):
    out = tmp_path / "out"
    run = _start(["-i", str(studies), "-o", str(out), "--workers", "2"])
    stdout, stderr = run.communicate(timeout=900)
    assert run.returncode == 4, stderr
    table = pd.read_parquet(out / "cohort.parquet")
    assert set(table[table.status == "failed"].study) == {"study_broken"}
    written = table[table.status == "written"]
    assert len(written) == 6 and written.derived_series_uid.is_unique      # 4 x 1 + 2 series
    assert len(set(written.worker)) == 2                                   # both workers took studies
    folders = _series_folders(out)
    assert len(folders) == 6 and all(_complete(f) for f in folders)


def test_a_worker_killed_mid_study_leaves_no_partial_series_and_the_rerun_completes(studies, tmp_path):
    out = tmp_path / "out"
    run = _start(["-i", str(studies), "-o", str(out), "--workers", "2", "--retries", "1"])
    killed = None
    deadline = time.monotonic() + 600
    while killed is None and run.poll() is None and time.monotonic() < deadline:
        for partial in (out / "studies").glob("study_long/.*.partial-*") if (out / "studies").exists() else []:
            pid = int(partial.name.rpartition("-")[2])
            os.kill(pid, signal.SIGKILL)           # the worker writing the long study's series, mid-write
            killed = pid
            break
        time.sleep(0.002)
    stdout, stderr = run.communicate(timeout=900)
    assert killed is not None, "the long study's write was never seen"
    table = pd.read_parquet(out / "cohort.parquet")
    long = table[table.study == "study_long"]
    assert list(long.status) == ["written", "written"] and set(long.attempts) == {2}, stderr
    assert not list((out / "studies").rglob(".*partial*"))                   # nothing half written is left
    folders = _series_folders(out)
    assert len(folders) == 6 and all(_complete(f) for f in folders)
    # the rerun: the five finished studies are skipped, no series is written twice or left partial
    stamps = {f: f.stat().st_mtime_ns for f in folders}
    again = _start(["-i", str(studies), "-o", str(out), "--workers", "2"])
    stdout, stderr = again.communicate(timeout=900)
    assert again.returncode == 4 and "(5 already done)" in stdout, stdout + stderr
    assert {f: f.stat().st_mtime_ns for f in _series_folders(out)} == stamps
