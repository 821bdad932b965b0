"""The domain a model was trained on, measured on its training data, for its card (``physics.domain``).

The app's domain gate compares a series with these ranges. Each is what the data hold, widened by what the
app's own measurement of it scatters (``MARGINS``): the MTF f50 and noise SD are measured on every rendition
as the app measures them (skin-air edge; global noise in soft tissue), the header quantities read from the
simulator's geometry.
"""
from __future__ import annotations

import json

import numpy as np

from physics.domain import MIN_LUNG_FRACTION

MARGINS = {"mtf_f50_per_mm": 0.10, "noise_sd_hu": 0.25, "slice_thickness_mm": 0.10, "pixel_spacing_mm": 0.05,
           "kvp": 0.0}


def _widen(lo: float, hi: float, margin: float) -> list[float]:
    return [float(f"{lo * (1 - margin):.3g}"), float(f"{hi * (1 + margin):.3g}")]


def measure_domain(data, split: str = "train", max_renditions: int | None = None) -> dict:
    """The ``domain`` of a card from the phantoms of ``split`` in one dataset folder or a list of them."""
    from physics.mtf import estimate_mtf
    from physics.noise import noise_sd

    from .data import data_roots, phantom_pixel_mm

    f50, noise, thickness, pixel, kvp = [], [], [], [], []
    described = []
    for root in data_roots(data):
        manifest = json.loads((root / "manifest.json").read_text())
        geometry = manifest["geometry"]
        for p in manifest["phantoms"]:
            folder = root / p["folder"]
            px = phantom_pixel_mm(manifest, p)
            if p["split"] != split or not (folder / "DONE").exists():
                continue
            renditions = np.load(folder / "renditions.npy", mmap_mode="r")
            for r in range(len(renditions) if max_renditions is None else min(max_renditions, len(renditions))):
                x = np.asarray(renditions[r], np.float32)
                m = estimate_mtf(x, (px, px))
                if m.usable:
                    f50.append(m.f50_per_mm)
                noise.append(noise_sd(x, (px, px)))
            thickness.append(p.get("slice_thickness_mm", geometry.get("slice_thickness_mm", 1.0)))
            pixel.append(px)
            kvp.append(geometry.get("kvp", 120.0))
        described.append(f"{root} ({split} split)")
    if not noise:
        raise ValueError(f"no finished {split} phantoms in {data}")
    noise = [v for v in noise if np.isfinite(v)]
    return {
        "anatomy": "chest, lungs in the field",
        "min_lung_fraction": MIN_LUNG_FRACTION,
        "kvp": _widen(min(kvp), max(kvp), MARGINS["kvp"]),
        "pixel_spacing_mm": _widen(min(pixel), max(pixel), MARGINS["pixel_spacing_mm"]),
        "slice_thickness_mm": _widen(min(thickness), max(thickness), MARGINS["slice_thickness_mm"]),
        "mtf_f50_per_mm": _widen(min(f50), max(f50), MARGINS["mtf_f50_per_mm"]),
        "noise_sd_hu": _widen(min(noise), max(noise), MARGINS["noise_sd_hu"]),
        "measured_on": ", ".join(described) + f": {len(noise)} renditions; ranges widened by {MARGINS}",
    }
