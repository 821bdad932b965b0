"""Density biomarkers of the lungs (paper §II.D): LAA-950, Perc15 and lung mass.

- LAA-950 (%): share of lung voxels below -950 HU.
- Perc15 (HU): 15th percentile of the lung HU histogram.
- Lung mass (g): sum over lung voxels of (HU + 1024) / 1024 g/cm^3 times the voxel volume, i.e. density
  taken as linear in HU with air at 0 and water at 1 g/cm^3.
"""
from __future__ import annotations

import numpy as np


def lung_biomarkers(volume_hu: np.ndarray, lung: np.ndarray, voxel_mm3: float) -> dict:
    """``{"laa950_percent", "perc15_hu", "lung_mass_g", "lung_volume_ml"}``; NaN (mass and volume 0) when
    ``lung`` is empty."""
    values = np.asarray(volume_hu)[np.asarray(lung, bool)].astype(np.float64)   # the lungs only, not the volume
    if values.size == 0:
        return {"laa950_percent": float("nan"), "perc15_hu": float("nan"), "lung_mass_g": 0.0,
                "lung_volume_ml": 0.0}
    return {
        "laa950_percent": float(100.0 * np.mean(values < -950.0)),
        "perc15_hu": float(np.percentile(values, 15)),
        "lung_mass_g": float(np.sum((values + 1024.0) / 1024.0) * voxel_mm3 / 1000.0),
        "lung_volume_ml": float(values.size * voxel_mm3 / 1000.0),
    }
