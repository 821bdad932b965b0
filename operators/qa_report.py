"""The QA report of one harmonized series: numbers (report.json) and a picture (report.png).

Input and output are measured the same way with ``physics/``: skin-air MTF (``operators.mtf_input.skin_air_mtf``,
as for the network's input), global noise SD, and the lung density biomarkers (LAA-950, Perc15, lung mass)
inside one lung mask computed from the input series, only when the series shows lungs (the domain gate's
lung fraction; otherwise the report says why there are none). The domain gate's and the consistency guard's
sections hold each check's value and limit; a series either refused has no output measurements (the gate:
it was not harmonized) or has them with ``rejected`` set (the guard: it was harmonized and not written).
"""
from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

from physics.biomarkers import lung_biomarkers
from physics.consistency import blur_with_mtf
from physics.noise import noise_sd

from .input_measures import input_lungs, input_noise
from .mtf_input import skin_air_mtf

if TYPE_CHECKING:
    from .series_job import SeriesJob


def _finite(v):
    return None if v is None or not np.isfinite(v) else round(float(v), 4)


def _lung_section(job, lungs) -> dict:
    if job.domain is not None and not job.domain["lungs_in_field"]:
        return {"voxels": int(lungs.sum()), "input": None, "output": None,
                "omitted": "no lung biomarkers: the series shows no lungs (lungs "
                           f"{100 * job.domain['measured']['lung_fraction']:.0f} % of the body in the median slice)"}
    bio_in = {k: _finite(v) for k, v in lung_biomarkers(job.volume_hu, lungs, job.voxel_mm3).items()}
    bio_out = None if job.harmonized_hu is None else \
        {k: _finite(v) for k, v in lung_biomarkers(job.harmonized_hu, lungs, job.voxel_mm3).items()}
    return {"voxels": int(lungs.sum()), "input": bio_in, "output": bio_out}


def qa_report(job: SeriesJob, derived_series_uid: str | None, app_version: str) -> dict:
    """report.json of one series; ``derived_series_uid`` None for a series that is not written."""
    vin, vout = job.volume_hu, job.harmonized_hu
    first = job.datasets[0]
    return {
        "app_version": app_version,
        "source_series_uid": job.series_uid,
        "derived_series_uid": derived_series_uid,
        "rejected": job.rejection,
        "source_series_description": str(first.get("SeriesDescription", "")),
        "slices": int(vin.shape[0]),
        "matrix": [int(vin.shape[1]), int(vin.shape[2])],
        "pixel_spacing_mm": [float(s) for s in job.spacing_mm],
        "model": job.model,
        "domain": job.domain,
        "guard": job.guard,
        "mtf_input": job.mtf,
        "mtf_output": None if vout is None else
        skin_air_mtf(vout, job.spacing_mm, job.orientation, job.slice_geometry).to_json(),
        "noise_sd_hu": {"input": _finite(input_noise(job)["sd_hu"]),
                        "output": None if vout is None else _finite(noise_sd(vout, job.spacing_mm))},
        "lung": _lung_section(job, input_lungs(job)),
        "notes": "noise SD: global-noise method in soft tissue (anatomical texture counts as noise); "
                 "lung biomarkers inside a lung mask from the input series",
    }


def report_figure(job: SeriesJob, report: dict) -> bytes:
    """PNG: mid slice before / after / difference, MTF curves in and out, lung HU histograms."""
    from matplotlib.figure import Figure

    k = job.volume_hu.shape[0] // 2
    before = job.volume_hu[k]
    after = job.harmonized_hu[k] if job.harmonized_hu is not None else None
    # a Figure of its own (no pyplot state: safe beside other threads) laid out by hand, not by tight_layout
    fig = Figure(figsize=(17, 8.5))
    ax = fig.subplots(2, 4, gridspec_kw={"left": 0.035, "right": 0.965, "bottom": 0.06, "top": 0.95,
                                         "wspace": 0.25, "hspace": 0.2})
    for a, img, title in ((ax[0, 0], before, "input"), (ax[0, 1], after, "harmonized")):
        a.axis("off")
        if img is None:
            a.text(0.5, 0.5, "not harmonized", ha="center", va="center")
            continue
        a.imshow(img, cmap="gray", vmin=-1350, vmax=150)
        a.set_title(f"{title} (slice {k + 1}, W1500 L-600)")
    for a, img, title in (
            (ax[0, 2], None if after is None else after - before, "harmonized - input (HU)"),
            (ax[0, 3], None if after is None else residual_image(job, k), "input - re-blurred output (HU)")):
        a.axis("off")
        if img is None:
            continue
        shown = a.imshow(img, cmap="coolwarm", vmin=-100, vmax=100)
        a.set_title(title)
        fig.colorbar(shown, ax=a, fraction=0.046)
    for key, label in (("mtf_input", "input"), ("mtf_output", "harmonized")):
        m = report[key]
        if m is not None and all(v is not None for v in m["mtf"]):
            sd = f" ± {m['f50_sd_per_mm']:.3f}" if m.get("f50_sd_per_mm") is not None else ""
            ax[1, 0].plot(m["frequencies_per_mm"], m["mtf"], label=f"{label} (f50 {m['f50_per_mm']}{sd})")
    ax[1, 0].set_xlabel("cycles/mm")
    ax[1, 0].set_ylabel("MTF")
    ax[1, 0].set_title(f"skin-air MTF (input source: {report['mtf_input'].get('source')})")
    ax[1, 0].legend()
    ax[1, 0].grid(alpha=0.3)
    step = max(1, job.volume_hu.shape[0] // 64)       # a picture: up to 64 slices draw it (the numbers use all)
    lungs = input_lungs(job)[::step]
    bins = np.arange(-1100, -300, 5)
    lung = report["lung"]
    if lung["input"] is not None:
        for vol, label in ((job.volume_hu, "input"), (job.harmonized_hu, "harmonized")):
            if vol is not None:
                ax[1, 1].hist(vol[::step][lungs], bins=bins, histtype="step", density=True, label=label)
        ax[1, 1].axvline(-950, color="k", lw=0.8, ls="--")
        ax[1, 1].legend()
    ax[1, 1].set_title("lung HU histogram")
    rows = [("LAA-950 (%)", "laa950_percent"), ("Perc15 (HU)", "perc15_hu"), ("lung mass (g)", "lung_mass_g")]
    text = lung.get("omitted", "")
    if lung["input"] is not None:
        text = "\n".join(f"{name:14s} {lung['input'][key]!s:>10} -> {(lung['output'] or {}).get(key)!s:>10}"
                         for name, key in rows)
    text += f"\n{'noise SD (HU)':14s} {report['noise_sd_hu']['input']!s:>10} -> {report['noise_sd_hu']['output']!s:>10}"
    ax[1, 2].text(0.0, 0.9, text, family="monospace", va="top", fontsize=10, wrap=True)
    ax[1, 2].set_title(f"{report['model']['name']} {report['model']['version']}")
    ax[1, 2].axis("off")
    ax[1, 3].text(0.0, 0.95, _checks_text(report), family="monospace", va="top", fontsize=8)
    ax[1, 3].set_title("REJECTED: not written" if report["rejected"] else "domain gate and guard: passed")
    ax[1, 3].axis("off")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


def residual_image(job, k: int) -> np.ndarray:
    """Slice ``k`` of the input minus the output re-blurred with the input's MTF: what the guard reads."""
    return job.volume_hu[k] - blur_with_mtf(job.harmonized_hu[k], np.asarray(job.mtf["frequencies_per_mm"], float),
                                            np.asarray(job.mtf["mtf"], float), job.spacing_mm)


def _checks_text(report: dict) -> str:
    lines = []
    for section in ("domain", "guard"):
        checks = (report.get(section) or {}).get("checks", {})
        if checks:
            lines.append(section)
        for name, c in checks.items():
            value = c["value"]
            shown = "-" if value is None else f"{value:.3g}"
            bound = c.get("limit", c.get("allowed"))
            lines.append(f" {'ok ' if c['holds'] else 'BAD'} {name[:24]:24s} {shown:>8} / {bound}")
    return "\n".join(lines)
