"""The consistency guard's limits, chosen on validation phantoms; its false alarms and detections, measured on
held-out ones.

Every rendition of a phantom is one series. The model harmonizes it as the app does (its MTF input measured on
the skin-air edge, else the kernel's), and ``physics.consistency.series_behaviour`` measures every check. The
same output is then corrupted as a hallucinating model would corrupt it (``CORRUPTIONS``: a blob of +A HU and
D mm in a lung or in soft tissue, soft tissue shifted by S HU, a texture of SD T HU added), and measured again.

``calibrate``: each check's limit is the largest value over the validation series plus ``MARGIN`` of its
distance from their median (no false alarm there by construction; a spread, not a factor, because some
checks are negative: the re-blurred output's excursion at edges falls short of the noisy input's own). The
structure checks, a series' maximum over its slices, get a ``physics.consistency.TailLimit`` instead: the
upper tail of their per-slice values over every validation slice, so that their limit follows the number of
slices a series is checked on at ``SERIES_FALSE_ALARM`` each. ``assess``: on the held-out series, the share
of clean series that fail any check (false alarms) and, for each corruption and amplitude, the share of
corrupted series caught.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

MARGIN = 0.15
SERIES_FALSE_ALARM = 0.004     # per structure check: the two of them at most 0.8 % of clean series
# Limits never tighter than what matters: soft tissue kept "within a few HU" (a 1 HU shift changes no
# reading and no biomarker; v10 shifts up to 0.8 HU on its validation series, and 1 HU on a chest without lungs)
FLOORS = {"soft_tissue_shift_hu": 3.0}
CORRUPTIONS = {
    "blob_lung": [100, 200, 400, 800],          # HU, a 9 mm sphere in a lung
    "blob_tissue": [50, 100, 200, 400],         # HU, a 9 mm sphere in soft tissue
    "blob_size_lung": [5, 9, 15],               # mm, +400 HU in a lung
    "soft_tissue_shift": [5, 10, 20, 40],       # HU over soft tissue
    "texture": [10, 20, 40, 60],                # HU SD of a 1-mm-grained texture over the body
}


@dataclass
class Series:
    name: str
    x: np.ndarray            # (K, N, N) input HU
    y: np.ndarray            # (K, N, N) the model's output HU
    spacing: tuple
    mtf: dict
    noise: dict
    lungs: np.ndarray
    body: np.ndarray
    slice_spacing_mm: float | None


def _sphere(shape, spacing, slice_mm, centre, diameter_mm) -> np.ndarray:
    k, r, c = np.ogrid[:shape[0], :shape[1], :shape[2]]
    d = np.sqrt(((k - centre[0]) * slice_mm) ** 2 + ((r - centre[1]) * spacing[0]) ** 2
                + ((c - centre[2]) * spacing[1]) ** 2)
    return d <= diameter_mm / 2


def corrupt_output(s: Series, kind: str, amount: float, rng: np.random.Generator) -> np.ndarray:
    """``s.y`` as a model that hallucinates would have made it."""
    y = s.y.astype(np.float64).copy()
    mid = len(y) // 2
    pixel = float(min(s.spacing))
    if kind.startswith("blob"):
        diameter = amount if kind == "blob_size_lung" else 9.0
        amplitude = 400.0 if kind == "blob_size_lung" else amount
        if "lung" in kind:
            where = ndi.binary_erosion(s.lungs[mid], iterations=max(1, int(diameter / 2 / pixel) + 2))
        else:
            from physics.noise import soft_tissue
            where = ndi.binary_erosion(soft_tissue(s.x[mid].astype(np.float32), pixel),
                                       iterations=max(1, int(diameter / 2 / pixel) + 2))
        if not where.any():
            return None
        rows, cols = np.nonzero(where)
        i = rng.integers(len(rows))
        y += amplitude * _sphere(y.shape, s.spacing, s.slice_spacing_mm or 1.0, (mid, rows[i], cols[i]), diameter)
        return y
    if kind == "soft_tissue_shift":
        smooth = ndi.gaussian_filter(s.y.astype(np.float32), (0, 1.5 / pixel, 1.5 / pixel))
        return y + amount * (s.body & (smooth > -300) & (smooth < 300))
    if kind == "texture":
        field = ndi.gaussian_filter(rng.standard_normal(y.shape), (0, 1.0 / pixel, 1.0 / pixel))
        return y + amount * s.body * field / field.std()
    raise ValueError(kind)


def read_series(data: Path, split: str, model_path: Path, max_phantoms: int | None = None):
    """Each rendition of ``split``'s phantoms as a ``Series``, harmonized by ``model_path``."""
    from operators.harmonize import harmonize_volume, load_model
    from operators.mtf_input import mtf_input
    from physics.masks import body_mask_2d, lung_mask, per_slice
    from physics.noise import nps
    from training.data import phantom_pixel_mm

    manifest = json.loads((Path(data) / "manifest.json").read_text())
    model = load_model(Path(model_path))
    phantoms = [p for p in manifest["phantoms"] if p["split"] == split][:max_phantoms]
    for p in phantoms:
        folder = Path(data) / p["folder"]
        pixel = phantom_pixel_mm(manifest, p)
        spacing = (pixel, pixel)
        renditions = np.load(folder / "renditions.npy", mmap_mode="r")
        meta = json.loads((folder / "renditions.json").read_text())
        slice_mm = p.get("slice_thickness_mm", manifest["geometry"].get("slice_thickness_mm", 1.0))
        for r, m in enumerate(meta):
            x = np.asarray(renditions[r], np.float32)
            info, m2d = mtf_input(x, spacing, m.get("dicom_kernel") or m["kernel"].split("(")[0])
            y = harmonize_volume(model, x, m2d, (1, 0, 0, 0, 1, 0))
            spectrum = nps(x, spacing)
            yield Series(f"{p['folder']} {m['kernel']} {m['dose_mgy']} mGy", x, y, spacing, info,
                         {"sd_hu": spectrum.global_noise_sd_hu, "nps_frequencies_per_mm": spectrum.frequencies_per_mm,
                          "nps_1d": spectrum.nps_1d},
                         lung_mask(x, pixel), per_slice(lambda im, pixel=pixel: body_mask_2d(im, pixel_mm=pixel), x), slice_mm)


def values(s: Series, y: np.ndarray | None = None, limits: dict | None = None) -> dict:
    """Every check's series value, and under ``"per_slice"`` the structure checks' values per checked slice."""
    from physics.consistency import MAXIMA, series_behaviour

    checks = series_behaviour(s.x, s.y if y is None else y, s.spacing, np.asarray(s.mtf["frequencies_per_mm"]),
                              np.asarray(s.mtf["mtf"]), s.noise["sd_hu"], s.lungs, s.slice_spacing_mm,
                              s.noise["nps_frequencies_per_mm"], s.noise["nps_1d"], limits=limits)
    row: dict = {name: c.value for name, c in checks.items()}
    row["per_slice"] = {name: list(checks[name].per_slice) for name in MAXIMA}
    return row


# what a row says of its series besides the checks' values
ABOUT = ("per_slice", "series", "noise_sd_hu")


def _names(row: dict) -> list[str]:
    return [name for name in row if name not in ABOUT]


def calibrate(clean: list[dict], series_false_alarm: float = SERIES_FALSE_ALARM) -> dict:
    """Each check's limit: the largest validation value plus ``MARGIN`` x (largest - median), 3 significant
    digits, and at least its ``FLOORS`` value; the structure checks' a ``TailLimit`` fitted on every
    validation slice, as a dict (the card's form)."""
    from physics.consistency import MAXIMA, TailLimit

    limits: dict = {}
    for name in _names(clean[0]):
        if name in MAXIMA and all("per_slice" in row for row in clean):
            slices = np.array([v for row in clean for v in row["per_slice"][name]], float)
            limits[name] = TailLimit.fit(slices, series_false_alarm).to_json() if np.isfinite(slices).any() else None
            continue
        v = np.array([row[name] for row in clean], float)
        v = v[np.isfinite(v)]
        limits[name] = max(float(f"{v.max() + MARGIN * (v.max() - np.median(v)):.3g}"),
                           FLOORS.get(name, -np.inf)) if v.size else None
    return limits


def fails(row: dict, limits: dict) -> list[str]:
    """The checks ``row`` fails under ``limits`` (a NaN fails a required check; a tail limit is resolved for
    the number of slices the row's check measured; see physics.consistency)."""
    from physics.consistency import OPTIONAL, measured_slices, resolve_limit

    out = []
    for name, limit in limits.items():
        value = row.get(name, float("nan"))
        if limit is None:
            continue
        limit = resolve_limit(limit, measured_slices(row.get("per_slice", {}).get(name, [value])))
        if (not np.isfinite(value) and name not in OPTIONAL) or (np.isfinite(value) and value > limit):
            out.append(name)
    return out


def run(data: Path, split: str, model_path: Path, corrupt: bool, seed: int = 0, max_phantoms: int | None = None,
        progress=print, corrupt_every: int = 4) -> dict:
    """Values of every series and, with ``corrupt``, of the corrupted outputs of every ``corrupt_every``-th
    (none when 0)."""
    rng = np.random.default_rng(seed)
    clean, corrupted = [], {f"{k} {a}": [] for k, amounts in CORRUPTIONS.items() for a in amounts}
    for i, s in enumerate(read_series(data, split, model_path, max_phantoms)):
        about = {"series": s.name, "noise_sd_hu": float(s.noise["sd_hu"])}
        clean.append(values(s) | about)
        for kind, amounts in (CORRUPTIONS.items() if corrupt and corrupt_every and i % corrupt_every == 0 else ()):
            for a in amounts:
                y = corrupt_output(s, kind, a, rng)
                if y is not None:
                    corrupted[f"{kind} {a}"].append(values(s, y) | about)
        progress(f"{s.name}: " + ", ".join(f"{k} {clean[-1][k]:.3g}" for k in _names(clean[-1])))
    return {"data": str(data), "split": split, "model": str(model_path), "series": len(clean), "clean": clean,
            "corrupted": corrupted if corrupt else {}}


def assess(result: dict, limits: dict) -> dict:
    """``result`` (``run``) with the false alarms among its clean series and the detection rate of each
    corruption under ``limits``, and which checks caught them."""
    out = dict(result, limits=limits)
    alarms = [fails(row, limits) for row in result["clean"]]
    out["false_alarms"] = sum(bool(a) for a in alarms)
    out["false_alarm_rate"] = out["false_alarms"] / max(1, len(alarms))
    out["false_alarm_checks"] = sorted({name for a in alarms for name in a})
    out["detection"] = {}
    for name, rows in result["corrupted"].items():
        if not rows:                     # not corrupted (--corrupt-every 0): no rate to give
            continue
        caught = [fails(row, limits) for row in rows]
        out["detection"][name] = {"series": len(rows), "caught": sum(bool(c) for c in caught),
                                  "rate": sum(bool(c) for c in caught) / max(1, len(rows)),
                                  "by": sorted({n for c in caught for n in c})}
    return out


def detection_plot(held_out: dict, path: Path) -> Path:
    """The detection curve by amplitude of each corruption, with the false-alarm rate, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    units = {"blob_lung": "HU", "blob_tissue": "HU", "blob_size_lung": "mm", "soft_tissue_shift": "HU",
             "texture": "HU SD"}
    fig, axes = plt.subplots(1, len(CORRUPTIONS), figsize=(4 * len(CORRUPTIONS), 3.4), sharey=True)
    for ax, (kind, amounts) in zip(axes, CORRUPTIONS.items()):
        rates = [100 * held_out["detection"][f"{kind} {a}"]["rate"] for a in amounts]
        ax.plot(amounts, rates, "o-")
        ax.axhline(99, color="k", lw=0.7, ls="--")
        ax.set_xlabel(f"{kind.replace('_', ' ')} ({units[kind]})")
        ax.set_ylim(-3, 103)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("corrupted series caught (%)")
    fig.suptitle(f"consistency guard on {held_out['series']} held-out series: "
                 f"{100 * held_out['false_alarm_rate']:.1f} % false alarms")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
