"""Delivery to a real PACS (Orthanc on loopback; opt-in: ``make test-pacs``): C-STORE and STOW-RS, then the
series is read back through Orthanc's REST API and compared with the files on disk (UIDs, pixel data)."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pydicom
import pytest
from app_helpers import make_study, run_app

pytestmark = pytest.mark.pacs
PLUGINS = Path("/usr/share/orthanc/plugins")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    if not shutil.which("Orthanc"):
        pytest.skip("Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)")
    root = tmp_path_factory.mktemp("orthanc")
    dicom_port, http_port = _free_port(), _free_port()
    config = {"Name": "ct-harmonizer-test", "StorageDirectory": str(root / "db"), "IndexDirectory": str(root / "db"),
              "DicomAet": "ORTHANC", "DicomPort": dicom_port, "HttpPort": http_port, "RemoteAccessAllowed": False,
              "AuthenticationEnabled": False, "DicomCheckCalledAet": True, "Plugins": [str(PLUGINS)],
              "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}}
    (root / "orthanc.json").write_text(json.dumps(config))
    proc = subprocess.Popen(["Orthanc", str(root / "orthanc.json")], stdout=subprocess.DEVNULL,
                            stderr=open(root / "orthanc.log", "w"))
    base = f"http://127.0.0.1:{http_port}"
    for _ in range(100):
        try:
            _get(base + "/system")
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("Orthanc did not start: " + (root / "orthanc.log").read_text()[-500:])
    yield {"dicom_port": dicom_port, "base": base}
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return make_study(tmp_path_factory.mktemp("pacs_study") / "study", seed=51, slices=2,
                      renditions=((6.5, "Br40f"),))


def _check_arrived(orthanc, folder: Path):
    """Every object of the folder (the CT slices, their SEG, SR and SC) is in the PACS, intact."""
    assert {"SEG.dcm", "SR.dcm", "SC.dcm"} <= {f.name for f in folder.glob("*.dcm")}
    for f in sorted(folder.glob("*.dcm")):
        local = pydicom.dcmread(f)
        found = json.loads(urllib.request.urlopen(urllib.request.Request(
            orthanc["base"] + "/tools/lookup", data=str(local.SOPInstanceUID).encode(), method="POST")).read())
        instance = [x for x in found if x["Type"] == "Instance"]
        assert instance, f"{f.name} not in the PACS"
        remote = pydicom.dcmread(__import__("io").BytesIO(_get(orthanc["base"] + instance[0]["Path"] + "/file")))
        assert remote.SeriesInstanceUID == local.SeriesInstanceUID
        assert remote.get("PixelData") == local.get("PixelData")     # the SR has none


def test_c_store_and_stow_deliver_the_series_intact(orthanc, study, tmp_path):
    out = tmp_path / "out"
    proc = run_app(study, out, "--send-to", f"ORTHANC@127.0.0.1:{orthanc['dicom_port']}",
                   "--stow-url", orthanc["base"] + "/dicom-web")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("sent ") == 2
    folder = next(p for p in out.iterdir() if p.is_dir())
    _check_arrived(orthanc, folder)


def test_failed_send_keeps_the_files_and_exits_non_zero(study, tmp_path):
    out = tmp_path / "out"
    proc = run_app(study, out, "--send-to", f"NOBODY@127.0.0.1:{_free_port()}")
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "failed after 3 attempts" in lines[0], proc.stderr
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == 1 and len(list(folders[0].glob("CT*.dcm"))) == 2
