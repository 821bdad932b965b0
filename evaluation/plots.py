"""Figures of an evaluation: Bland-Altman of LAA-950 and Perc15 against the smooth-kernel high-dose reference
(NH, ComBat, harmonized), per-batch bias bars, and example panels GT / NH / harmonized."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .report import REFERENCE_BATCH


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def agreement_panel(ax, mean: np.ndarray, diff: np.ndarray) -> tuple[float, float]:
    """One Bland-Altman panel on ``ax``: ``diff`` against ``mean``, the bias and its 95 % limits of agreement
    (bias +- 1.96 SD) as lines; returns (bias, SD)."""
    ax.scatter(mean, diff, s=10)
    bias, sd = float(np.mean(diff)), float(np.std(diff))
    for y, style in ((bias, "-"), (bias + 1.96 * sd, "--"), (bias - 1.96 * sd, "--")):
        ax.axhline(y, color="k", ls=style, lw=0.8)
    return bias, sd


def bland_altman(result: dict, out: Path, harmonized: str) -> Path:
    plt = _plt()
    rows = result["rows"]
    fig, axes = plt.subplots(2, 3, figsize=(14, 8), sharey="row")
    for i, (marker, label) in enumerate((("laa950_percent", "LAA-950 (%)"), ("perc15_hu", "Perc15 (HU)"))):
        for j, method in enumerate(("NH", "ComBat", harmonized)):
            ax = axes[i, j]
            ref = {r["phantom"]: r[marker] for r in rows if r["method"] == method and r["batch"] == REFERENCE_BATCH}
            pts = [(0.5 * (r[marker] + ref[r["phantom"]]), r[marker] - ref[r["phantom"]])
                   for r in rows if r["method"] == method and r["phantom"] in ref and r["batch"] != REFERENCE_BATCH]
            if not pts:
                ax.set_visible(False)
                continue
            agreement_panel(ax, *np.array(pts).T)
            ax.set_title(f"{method}: {label} vs {REFERENCE_BATCH} mGy")
            ax.set_xlabel("mean")
            ax.set_ylabel("difference")
    fig.tight_layout()
    path = out / "bland_altman.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def batch_bias(result: dict, out: Path) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, marker in zip(axes, ("laa950_percent", "perc15_hu", "lung_mass_g")):
        methods = list(result["biomarkers"])
        batches = sorted({b for m in methods for b in result["biomarkers"][m][marker]["bias_by_batch"]})
        width = 0.8 / len(methods)
        for i, m in enumerate(methods):
            stats = result["biomarkers"][m][marker]["bias_by_batch"]
            ax.bar(np.arange(len(batches)) + i * width, [stats.get(b, [0, 0])[0] or 0 for b in batches], width,
                   yerr=[stats.get(b, [0, 0])[1] or 0 for b in batches], label=m)
        ax.set_xticks(np.arange(len(batches)) + 0.4 - width / 2, batches, rotation=30)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_title(f"bias vs GT: {marker}")
    axes[0].legend()
    fig.tight_layout()
    path = out / "bias_by_batch.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def examples(result: dict, out: Path) -> Path | None:
    ex = result.get("_examples") or {}
    if not ex:
        return None
    plt = _plt()
    cols = ["GT", "NH"] + [m for m in next(iter(ex.values())) if m not in ("GT", "NH")]
    fig, axes = plt.subplots(len(ex), len(cols), figsize=(4 * len(cols), 4 * len(ex)), squeeze=False)
    for i, (title, images) in enumerate(ex.items()):
        for j, c in enumerate(cols):
            axes[i, j].imshow(images[c][96:416, 96:416], cmap="gray", vmin=-1350, vmax=150)
            axes[i, j].set_title(f"{c} ({title})")
            axes[i, j].axis("off")
    fig.tight_layout()
    path = out / "examples.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
