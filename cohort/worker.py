"""One long-lived worker: imports paid once, the model loaded once, then study after study.

A worker runs the app's own job (``app.__main__.run_study``: the same scan, graph, gate, guard and writer as
``python -m app``) into ``OUT/studies/<key>/`` and returns the study's ``record``: its status and one table
row per series, read back from what was written (each series' ``report.json``, and its source header for the
scanner, kernel and dose). The record is written last, all at once, as ``OUT/records/<key>.json``: a study
with a record saying ``done`` whose series folders all exist is finished, and a rerun skips it.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from .manifest import Study

RECORD_VERSION = 1
BIOMARKERS = ("laa950_percent", "perc15_hu", "lung_mass_g", "lung_volume_ml")


def record_path(out: Path, key: str) -> Path:
    return Path(out) / "records" / f"{key}.json"


def study_folder(out: Path, key: str) -> Path:
    return Path(out) / "studies" / key


def write_record(out: Path, record: dict) -> Path:
    """``record`` as ``OUT/records/<key>.json``, whole or not at all (written beside it, then renamed)."""
    from common.atomic_folder import write_file

    return write_file(record_path(out, record["study"]), lambda tmp: tmp.write_text(json.dumps(record, indent=1)))


def new_record(study: Study, attempt: int, worker: str | None) -> dict[str, Any]:
    """A study's record before its run: ``done`` with no series yet (``status``/``reason``/``retry`` are
    set when the run fails, ``series`` and ``seconds`` when it does its work)."""
    return {"version": RECORD_VERSION, "study": study.key, "path": str(study.path), "status": "done",
            "reason": None, "retry": False, "attempts": attempt, "worker": worker, "seconds": {}, "series": []}


def finished(out: Path, study: Study) -> dict | None:
    """The record of a study that is done (every series folder it lists still there), else None."""
    path = record_path(out, study.key)
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if record.get("status") != "done" or record.get("version") != RECORD_VERSION:
        return None
    folders = [r["folder"] for r in record["series"] if r.get("folder")]
    return record if all((Path(out) / f).is_dir() for f in folders) else None


def _header(path: Path) -> dict:
    """What the table says of a series' acquisition, from its first file's header (None where absent)."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception:  # noqa: BLE001 - a header that does not read leaves its columns empty
        return {}

    def num(keyword):
        try:
            value = ds.get(keyword)
            return float(value) if value not in (None, "") else None
        except (TypeError, ValueError):
            return None

    kernel = ds.get("ConvolutionKernel")
    kernel = "\\".join(kernel) if isinstance(kernel, (list, pydicom.multival.MultiValue)) else kernel
    return {"patient_id": str(ds.get("PatientID", "") or "") or None,
            "study_uid": str(ds.get("StudyInstanceUID", "") or "") or None,
            "series_number": str(ds.get("SeriesNumber", "") or "") or None,
            "series_description": str(ds.get("SeriesDescription", "") or "") or None,
            "manufacturer": str(ds.get("Manufacturer", "") or "") or None,
            "scanner_model": str(ds.get("ManufacturerModelName", "") or "") or None,
            "kernel": str(kernel or "") or None, "kvp": num("KVP"), "ctdivol_mgy": num("CTDIvol"),
            "exposure_mas": num("Exposure"), "slice_thickness_mm": num("SliceThickness")}


def _from_report(report: dict) -> dict:
    """The table's columns that a series' ``report.json`` holds (input and harmonized biomarkers, MTF,
    noise, the gate's and the guard's verdicts, the model)."""
    mtf = report.get("mtf_input") or {}
    noise = report.get("noise_sd_hu") or {}
    lung = report.get("lung") or {}
    model = report.get("model") or {}
    domain = report.get("domain") or {}
    guard = report.get("guard") or {}
    row = {"derived_series_uid": report.get("derived_series_uid"), "slices": report.get("slices"),
           "pixel_spacing_mm": (report.get("pixel_spacing_mm") or [None])[0],
           "mtf_f50_per_mm": mtf.get("f50_per_mm"), "mtf_source": mtf.get("source"),
           "noise_sd_hu_input": noise.get("input"), "noise_sd_hu_output": noise.get("output"),
           "domain_inside": domain.get("inside"), "guard_passed": guard.get("passed"),
           "model_name": model.get("name"), "model_version": model.get("version"),
           "model_sha256": model.get("sha256"), "app_version": report.get("app_version")}
    for b in BIOMARKERS:
        row[f"{b}_input"] = (lung.get("input") or {}).get(b)
        row[f"{b}_output"] = (lung.get("output") or {}).get(b)
    return row


def study_rows(study: Study, out: Path, run) -> list[dict]:
    """One row per series of ``run`` (an ``app.__main__.StudyRun``): written, refused, undecodable or not
    eligible, each with its source header's acquisition and, where a report exists, its measurements."""
    base = {"study": study.key, "status": None, "reason": None, "folder": None}
    rows = []
    by_uid = {s.uid: s for s in run.scan.eligible + run.scan.skipped}

    def row(series_uid, status, reason=None, folder=None, report=None):
        scan = by_uid.get(series_uid)
        r = dict(base, series_uid=series_uid, status=status, reason=reason,
                 folder=str(Path(folder).relative_to(out)) if folder else None)
        r.update(_header(scan.files[0]) if scan and scan.files else {})
        r.update(_from_report(report) if report else {})
        if study.subject:
            r["patient_id"] = study.subject
        return r

    for folder in run.written:
        report = json.loads((Path(folder) / "report.json").read_text())
        rows.append(row(report["source_series_uid"], "written", folder=folder, report=report))
    for _label, why, folder in run.rejected:
        report = json.loads((Path(folder) / "report.json").read_text())
        rows.append(row(report["source_series_uid"], "refused", why, report=report))
    for label, why in run.undecodable:
        uid = next((u for u in by_uid if u in label), None)
        rows.append(row(uid, "undecodable", why))
    for s in run.scan.skipped:
        rows.append(row(s.uid, "not eligible", s.reason))
    return rows


class StudyWorker:
    """Runs studies one after another in this process (the model is loaded at the first and kept)."""

    def __init__(self, out: Path, model: Path, outputs: set | None = None, outside_domain: bool = False):
        from app.__main__ import configure_logging

        configure_logging(os.environ.get("CT_HARMONIZER_LOG_LEVEL", "WARNING"))
        import app.__main__  # noqa: F401 - the app's imports, paid here once

        self.out, self.model, self.outputs, self.outside_domain = Path(out), Path(model), outputs, outside_domain
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def pid(self) -> int:
        return os.getpid()

    def run(self, study: Study, attempt: int = 1) -> dict:
        """Harmonize ``study`` and return its record (also written to ``OUT/records/<key>.json``): status
        ``done`` (its series written, refused or set aside, each a row) or ``failed`` with the reason;
        ``retry`` says whether another attempt could end otherwise (not for bad input)."""
        from app.__main__ import RunError, run_study

        started = time.perf_counter()
        record = new_record(study, attempt, self.name)
        try:
            run = run_study(study.path, study_folder(self.out, study.key), self.model, None, self.outside_domain,
                            self.outputs)
            record["series"] = study_rows(study, self.out, run)
            record["seconds"] = run.seconds
        except RunError as e:
            record.update(status="failed", reason=str(e), retry=e.code not in (2,))
        except Exception as e:  # noqa: BLE001 - one study's failure is its record's, not the cohort's
            first = (str(e).strip().splitlines() or [""])[0]
            record.update(status="failed", reason=f"{type(e).__name__}: {first}", retry=True)
        record["seconds"]["worker_total"] = time.perf_counter() - started
        write_record(self.out, record)
        return record
