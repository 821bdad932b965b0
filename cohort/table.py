"""The cohort table (one row per series) and its summary: per subject, the spread of each biomarker across its
series before and after harmonization, and the Bland-Altman differences against a reference rendition.

The reference rendition of a subject is, as in the method's COPDGene analysis, the non-harmonized series of
regular dose and smooth kernel: the series whose kernel matches ``reference_kernel`` when one is given, else
the one of highest CTDIvol and, among those, the lowest measured MTF f50 (the smoothest). Each other written
series of the subject gets ``ba_<biomarker>_input`` = its input value minus the reference's input value and
``ba_<biomarker>_output`` = its harmonized value minus the same reference.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .worker import BIOMARKERS

SUMMARY_BIOMARKERS = ("laa950_percent", "perc15_hu", "lung_mass_g")
COLUMNS = ("study", "patient_id", "series_uid", "status", "reason", "series_number", "series_description",
           "manufacturer", "scanner_model", "kernel", "kvp", "ctdivol_mgy", "exposure_mas", "slice_thickness_mm",
           "pixel_spacing_mm", "slices", "mtf_f50_per_mm", "mtf_source", "noise_sd_hu_input", "noise_sd_hu_output",
           *(f"{b}_{side}" for b in BIOMARKERS for side in ("input", "output")), "domain_inside", "guard_passed",
           "model_name", "model_version", "model_sha256", "app_version", "derived_series_uid", "folder",
           "study_seconds", "forward_seconds", "outside_forward_seconds", "attempts", "worker")
LABELS = {"laa950_percent": "LAA-950 (%)", "perc15_hu": "Perc15 (HU)", "lung_mass_g": "lung mass (g)"}


def cohort_rows(records: list[dict]) -> list[dict]:
    """Every series row of ``records``, and one row for each failed study (status ``failed``, its reason);
    each row carries its study's attempts, worker and timings."""
    rows = []
    for rec in records:
        seconds = rec.get("seconds") or {}
        timing = {"study_seconds": seconds.get("total"), "forward_seconds": seconds.get("harmonizer"),
                  "outside_forward_seconds": (seconds["total"] - seconds.get("harmonizer", 0.0))
                  if "total" in seconds else None,
                  "attempts": rec.get("attempts"), "worker": rec.get("worker")}
        if rec["status"] != "done":
            rows.append({"study": rec["study"], "status": "failed", "reason": rec.get("reason"), **timing})
            continue
        rows.extend({**r, **timing} for r in rec["series"])
    return rows


def choose_references(rows: list[dict], reference_kernel: str | None = None) -> dict[str, dict]:
    """Per subject (``patient_id``), its reference row among its written series (see the module notes)."""
    refs: dict[str, dict] = {}
    by_subject: dict[str, list[dict]] = {}
    for r in rows:
        if r.get("status") == "written" and r.get("patient_id"):
            by_subject.setdefault(r["patient_id"], []).append(r)
    for subject, mine in by_subject.items():
        if reference_kernel:
            mine = [r for r in mine if re.fullmatch(reference_kernel, r.get("kernel") or "", re.IGNORECASE)]
            if not mine:
                continue
        refs[subject] = max(mine, key=lambda r: (r.get("ctdivol_mgy") or 0.0, -(r.get("mtf_f50_per_mm") or np.inf)))
    return refs


def add_bland_altman(rows: list[dict], refs: dict[str, dict]) -> None:
    """Set each written row's ``reference_series_uid`` and ``ba_<biomarker>_input|output`` (in place)."""
    for r in rows:
        ref = refs.get(r.get("patient_id") or "") if r.get("status") == "written" else None
        r["reference_series_uid"] = ref["series_uid"] if ref else None
        for b in BIOMARKERS:
            for side in ("input", "output"):
                value, base = r.get(f"{b}_{side}"), (ref or {}).get(f"{b}_input")
                r[f"ba_{b}_{side}"] = (value - base if ref is not None and ref is not r and value is not None
                                       and base is not None else None)


def summary(rows: list[dict]) -> dict:
    """Per subject and biomarker, the SD across its written series before and after; over the cohort, the
    mean of those SDs and the Bland-Altman bias and 95 % limits of agreement before and after."""
    subjects: dict[str, list[dict]] = {}
    for r in rows:
        if r.get("status") == "written" and r.get("patient_id"):
            subjects.setdefault(r["patient_id"], []).append(r)
    per_subject = []
    for subject, mine in sorted(subjects.items()):
        entry: dict = {"subject": subject, "series": len(mine)}
        for b in SUMMARY_BIOMARKERS:
            for side in ("input", "output"):
                values = [r[f"{b}_{side}"] for r in mine if r.get(f"{b}_{side}") is not None]
                entry[f"sd_{b}_{side}"] = float(np.std(values)) if len(values) > 1 else None
        per_subject.append(entry)
    cohort: dict = {"studies": len({r["study"] for r in rows}), "subjects": len(per_subject),
                    "series": {s: sum(r.get("status") == s for r in rows)
                               for s in ("written", "refused", "undecodable", "not eligible", "failed")}}
    for b in SUMMARY_BIOMARKERS:
        for side in ("input", "output"):
            sds = [e[f"sd_{b}_{side}"] for e in per_subject if e[f"sd_{b}_{side}"] is not None]
            diffs = np.array([r[f"ba_{b}_{side}"] for r in rows if r.get(f"ba_{b}_{side}") is not None])
            cohort[f"mean_sd_{b}_{side}"] = float(np.mean(sds)) if sds else None
            if len(diffs):
                bias, sd = float(diffs.mean()), float(diffs.std())
                cohort[f"ba_{b}_{side}"] = {"n": int(len(diffs)), "bias": bias, "sd": sd,
                                            "limits": [bias - 1.96 * sd, bias + 1.96 * sd]}
    return {"cohort": cohort, "subjects": per_subject}


def write_table(rows: list[dict], out: Path) -> list[Path]:
    """``cohort.parquet`` and ``cohort.csv`` in ``out`` (one row per series), each whole or not at all."""
    import pandas as pd

    from common.atomic_folder import write_file

    frame = pd.DataFrame(rows)
    first = [c for c in COLUMNS if c in frame.columns]
    frame = frame[first + sorted(c for c in frame.columns if c not in first)]
    return [write_file(Path(out) / "cohort.parquet", lambda p: frame.to_parquet(p, index=False)),
            write_file(Path(out) / "cohort.csv", lambda p: frame.to_csv(p, index=False))]


def plot_bland_altman(rows: list[dict], out: Path) -> Path | None:
    """``bland_altman.png``: for each biomarker, the difference to the subject's reference against the mean,
    before (input) and after (harmonized), with the bias and 95 % limits; None when no row has a reference."""
    if not any(r.get("ba_laa950_percent_input") is not None for r in rows):
        return None
    from evaluation.plots import _plt, agreement_panel

    plt = _plt()
    fig, axes = plt.subplots(len(SUMMARY_BIOMARKERS), 2, figsize=(10, 3.2 * len(SUMMARY_BIOMARKERS)),
                             sharey="row", squeeze=False)
    for i, b in enumerate(SUMMARY_BIOMARKERS):
        for j, (side, title) in enumerate((("input", "before"), ("output", "after harmonization"))):
            ax = axes[i, j]
            pts = [(r[f"{b}_{side}"], r[f"ba_{b}_{side}"]) for r in rows if r.get(f"ba_{b}_{side}") is not None]
            value, diff = np.array(pts, dtype=float).T
            bias, sd = agreement_panel(ax, value - diff / 2, diff)     # against the mean of series and reference
            ax.set_title(f"{LABELS[b]} {title}: bias {bias:+.2f}, SD {sd:.2f}")
            ax.set_xlabel("mean of series and reference")
            ax.set_ylabel("series - reference")
    fig.tight_layout()
    path = Path(out) / "bland_altman.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
