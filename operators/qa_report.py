"""The QA report of one harmonized series: numbers (report.json) and a picture (report.png).

Input and output are measured the same way with ``physics/``: skin-air MTF (``operators.mtf_input.skin_air_mtf``,
as for the network's input), global noise SD, and the lung density biomarkers (LAA-950, Perc15, lung mass)
inside one lung mask computed from the input series.
"""
from __future__ import annotations

import io

import numpy as np

from physics.biomarkers import lung_biomarkers
from physics.masks import lung_mask
from physics.noise import noise_sd

from .mtf_input import skin_air_mtf


def _finite(v):
    return None if v is None or not np.isfinite(v) else round(float(v), 4)


def input_lungs(job) -> np.ndarray:
    """The lung mask of the input series, computed once per job."""
    if job.lungs is None:
        job.lungs = lung_mask(job.volume_hu, pixel_mm=min(job.spacing_mm))
    return job.lungs


def qa_report(job, derived_series_uid: str, app_version: str) -> dict:
    vin, vout = job.volume_hu, job.harmonized_hu
    lungs = input_lungs(job)
    bio_in = {k: _finite(v) for k, v in lung_biomarkers(vin, lungs, job.voxel_mm3).items()}
    bio_out = {k: _finite(v) for k, v in lung_biomarkers(vout, lungs, job.voxel_mm3).items()}
    first = job.datasets[0]
    return {
        "app_version": app_version,
        "source_series_uid": job.series_uid,
        "derived_series_uid": derived_series_uid,
        "source_series_description": str(first.get("SeriesDescription", "")),
        "slices": int(vin.shape[0]),
        "matrix": [int(vin.shape[1]), int(vin.shape[2])],
        "pixel_spacing_mm": [float(s) for s in job.spacing_mm],
        "model": job.model,
        "mtf_input": job.mtf,
        "mtf_output": skin_air_mtf(vout, job.spacing_mm, job.orientation, job.slice_geometry).to_json(),
        "noise_sd_hu": {"input": _finite(noise_sd(vin, job.spacing_mm)), "output": _finite(noise_sd(vout, job.spacing_mm))},
        "lung": {"voxels": int(lungs.sum()), "input": bio_in, "output": bio_out},
        "notes": "noise SD: global-noise method in soft tissue (anatomical texture counts as noise); "
                 "lung biomarkers inside a lung mask from the input series",
    }


def report_figure(job, report: dict) -> bytes:
    """PNG: mid slice before / after / difference, MTF curves in and out, lung HU histograms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = job.volume_hu.shape[0] // 2
    before, after = job.volume_hu[k], job.harmonized_hu[k]
    fig, ax = plt.subplots(2, 3, figsize=(13, 8.5))
    for a, img, title in ((ax[0, 0], before, "input"), (ax[0, 1], after, "harmonized")):
        a.imshow(img, cmap="gray", vmin=-1350, vmax=150)
        a.set_title(f"{title} (slice {k + 1}, W1500 L-600)")
        a.axis("off")
    diff = ax[0, 2].imshow(after - before, cmap="coolwarm", vmin=-100, vmax=100)
    ax[0, 2].set_title("harmonized - input (HU)")
    ax[0, 2].axis("off")
    fig.colorbar(diff, ax=ax[0, 2], fraction=0.046)
    for key, label in (("mtf_input", "input"), ("mtf_output", "harmonized")):
        m = report[key]
        if all(v is not None for v in m["mtf"]):
            ax[1, 0].plot(m["frequencies_per_mm"], m["mtf"], label=f"{label} (f50 {m['f50_per_mm']})")
    ax[1, 0].set_xlabel("cycles/mm")
    ax[1, 0].set_ylabel("MTF")
    ax[1, 0].set_title(f"skin-air MTF (input source: {report['mtf_input'].get('source')})")
    ax[1, 0].legend()
    ax[1, 0].grid(alpha=0.3)
    step = max(1, job.volume_hu.shape[0] // 64)       # a picture: up to 64 slices draw it (the numbers use all)
    lungs = input_lungs(job)[::step]
    bins = np.arange(-1100, -300, 5)
    for vol, label in ((job.volume_hu, "input"), (job.harmonized_hu, "harmonized")):
        ax[1, 1].hist(vol[::step][lungs], bins=bins, histtype="step", density=True, label=label)
    ax[1, 1].axvline(-950, color="k", lw=0.8, ls="--")
    ax[1, 1].set_title("lung HU histogram")
    ax[1, 1].legend()
    lung = report["lung"]
    rows = [("LAA-950 (%)", "laa950_percent"), ("Perc15 (HU)", "perc15_hu"), ("lung mass (g)", "lung_mass_g")]
    text = "\n".join(f"{name:14s} {lung['input'][key]!s:>10} -> {lung['output'][key]!s:>10}" for name, key in rows)
    text += f"\n{'noise SD (HU)':14s} {report['noise_sd_hu']['input']!s:>10} -> {report['noise_sd_hu']['output']!s:>10}"
    ax[1, 2].text(0.0, 0.9, text, family="monospace", va="top", fontsize=10)
    ax[1, 2].set_title(f"{report['model']['name']} {report['model']['version']}")
    ax[1, 2].axis("off")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()
