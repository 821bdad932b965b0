"""Faults around the output: a read-only output folder, a disk too small or filling up while writing, and the
app killed with SIGKILL while it writes. Each case: one line, exit != 0, no partial series, input unchanged.

Read-only and full-disk cases use real mounts (a read-only bind mount, a small tmpfs) where this process may
mount (root, as in CI's container); elsewhere they are skipped, never faked.
"""
from __future__ import annotations

import contextlib
import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from app_helpers import ROOT, make_study, read_folder, run_app, tree_digest, write_datasets
from pydicom.uid import generate_uid

SLICES = 96        # large enough that writing the series takes a while


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One series of SLICES slices: four simulated slices repeated along z with fresh UIDs."""
    src = make_study(tmp_path_factory.mktemp("src") / "study", seed=43, renditions=((6.5, "Br49f"),))
    four = sorted(read_folder(src), key=lambda d: float(d.ImagePositionPatient[2]))
    thickness = float(four[1].ImagePositionPatient[2]) - float(four[0].ImagePositionPatient[2])
    out = []
    for i in range(SLICES):
        ds = copy.deepcopy(four[i % 4])
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        x, y, _ = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, float(four[0].ImagePositionPatient[2]) + i * thickness]
        ds.InstanceNumber = i + 1
        out.append(ds)
    return write_datasets(out, tmp_path_factory.mktemp("study") / "in")


@contextlib.contextmanager
def _mount(*args):
    target = Path(args[-1])
    target.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    if proc.returncode:
        pytest.skip(f"cannot mount here: {proc.stderr.strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def _one_line_error(proc, code: int):
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    return lines[0]


def _series_folders(out: Path) -> list[Path]:
    return [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")] if out.exists() else []


def test_read_only_output_folder(study, tmp_path):
    before = tree_digest(study)
    (tmp_path / "src").mkdir()
    with _mount("--bind", str(tmp_path / "src"), str(tmp_path / "ro")) as ro:
        if subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], capture_output=True).returncode:
            pytest.skip("cannot remount read-only here")
        for out in (ro, ro / "new"):
            line = _one_line_error(run_app(study, out), 2)
            assert "not writable" in line
            assert list(ro.iterdir()) == []
    assert tree_digest(study) == before


def test_output_disk_too_small_is_refused_before_any_work(study, tmp_path):
    before = tree_digest(study)
    with _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(tmp_path / "small")) as small:
        line = _one_line_error(run_app(study, small / "out"), 2)
        assert "MB free" in line
        assert not (small / "out").exists()
    assert tree_digest(study) == before


@pytest.mark.slow      # 45-90 s: make test-slow
def test_disk_filling_up_while_writing_leaves_no_partial_series(study, tmp_path):
    """The disk has room when the run starts (the pre-flight check passes); a ballast file takes half of it
    once the study has been scanned, so the write runs out of space."""
    from operators.study_scan import scan_study

    before = tree_digest(study)
    need = sum(s.derived_bytes for s in scan_study(study).eligible)      # what the pre-flight check asks for
    with _mount("-t", "tmpfs", "-o", f"size={need + (4 << 20)}", "tmpfs", str(tmp_path / "disk")) as disk:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        proc = subprocess.Popen([sys.executable, "-m", "app", "-i", str(study), "-o", str(disk / "out"), "-l", "INFO"],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if "timing startup_and_scan" in line:       # pre-flight done, nothing written yet
                break
        assert not (disk / "out").exists() or list((disk / "out").iterdir()) == [], "written before the check"
        (disk / "ballast").write_bytes(b"\0" * (need // 2))
        stdout, rest = proc.communicate(timeout=300)
        errors = [ln for ln in (seen + rest.splitlines()) if ln.startswith("error:")]
        assert proc.returncode == 1, rest
        assert len(errors) == 1 and "No space left on device" in errors[0], errors
        assert "Traceback" not in "".join(seen) + rest + stdout
        assert list((disk / "out").iterdir()) == []      # no partial series, visible or hidden
    assert tree_digest(study) == before


def _mid_write(proc: subprocess.Popen, out: Path, timeout: float = 300) -> bool:
    """Wait until the app has written two files of a series into its hidden partial folder (False if it ends
    first)."""
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        partial = list(out.glob(".*.partial-*")) if out.exists() else []
        if partial and len(list(partial[0].glob("CT*.dcm"))) >= 2:
            return True
        time.sleep(0.002)
    return False


@pytest.mark.slow      # 45-90 s: make test-slow
def test_sigkill_while_writing_leaves_no_partial_series(study, tmp_path):
    out = tmp_path / "out"
    before = tree_digest(study)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "app", "-i", str(study), "-o", str(out)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    caught = _mid_write(proc, out)
    if caught:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert caught, "the app finished before it could be killed mid-write"
    assert _series_folders(out) == []                   # nothing visible: the series never appeared
    proc = run_app(study, out)                          # the next run cleans up and writes the whole series
    assert proc.returncode == 0, proc.stderr
    folders = _series_folders(out)
    assert len(folders) == 1 and len(list(folders[0].glob("CT*.dcm"))) == SLICES
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
    assert tree_digest(study) == before


@pytest.mark.slow      # 40-150 s: make test-slow
def test_sigterm_while_writing_removes_partial_output_and_staging(study, tmp_path):
    """What docker and Kubernetes send to stop a container: handled like Ctrl-C, exit 128 + 15."""
    out, tmpdir = tmp_path / "out", tmp_path / "tmp"
    tmpdir.mkdir()
    before = tree_digest(study)
    env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmpdir))
    proc = subprocess.Popen([sys.executable, "-m", "app", "-i", str(study), "-o", str(out)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sent = _mid_write(proc, out)
    if sent:
        proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert sent, "the app finished before the signal could be sent mid-write"
    assert proc.returncode == 143, stderr
    errors = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert errors == ["error: terminated by SIGTERM; no partial series was left"], stderr
    assert "Traceback" not in stderr and "wrote" not in stdout
    assert list(out.iterdir()) == []                     # nothing, visible or hidden
    assert list(tmpdir.iterdir()) == []                  # no staging folder left behind
    assert tree_digest(study) == before
