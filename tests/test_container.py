"""The MAP image, built offline here and run with no network on the sample study mounted read-only; its
output is checked as the app tests check it. Opt-in: ``make test-container`` (needs root for dockerd)."""
from __future__ import annotations

import json
import os
import subprocess

import pytest
from app_helpers import ROOT, dciodvfy_errors, make_study, read_folder, tree_digest

pytestmark = pytest.mark.container
IMAGE = "ct-harmonizer:test"


@pytest.fixture(scope="module")
def image():
    if os.geteuid() != 0:
        pytest.skip("building the image needs root (dockerd, debootstrap)")
    subprocess.run(["bash", str(ROOT / "tests" / "container_build.sh")], check=True, env=dict(os.environ, IMAGE=IMAGE))
    return IMAGE


def test_image_runs_offline_on_a_read_only_study(image, tmp_path):
    study = make_study(tmp_path / "study", seed=61, slices=2, renditions=((1.3, "Br59f"),))
    for path in [study, *study.rglob("*")]:          # the image runs as a non-root user: make the study readable
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(out, 0o777)
    before = tree_digest(study)
    proc = subprocess.run(["docker", "run", "--rm", "--network", "none",
                           "-v", f"{study}:/var/holoscan/input:ro", "-v", f"{out}:/var/holoscan/output", image],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert tree_digest(study) == before
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == 1
    files = sorted(folders[0].glob("CT*.dcm"))
    assert len(files) == 2 and all(dciodvfy_errors(f) == [] for f in files)
    report = json.loads((folders[0] / "report.json").read_text())
    assert report["source_series_uid"] == str(read_folder(study)[0].SeriesInstanceUID)
    default = (ROOT / "models" / "DEFAULT").read_text().strip()
    assert report["model"]["sha256"] == json.loads((ROOT / "models" / default / "model_card.json").read_text())["sha256"]


def test_image_layout_and_user(image):
    proc = subprocess.run(["docker", "run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c",
                           "id -u; ls /opt/holoscan/app /opt/holoscan/models /etc/holoscan; test -f /var/holoscan/app.yaml"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split()
    assert lines[0] != "0"                          # not root
    for name in ("app", "common", "operators", "physics", "DEFAULT", "app.json", "pkg.json"):
        assert name in lines, name
