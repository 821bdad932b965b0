"""Body and lung masks from HU images (thresholds, connected components, morphology)."""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

AIR_SKIN_THRESHOLD_HU = -500.0   # half-way between air (-1000) and soft tissue (~0): the skin-air edge
LUNG_THRESHOLD_HU = -400.0


def _largest_component(mask: np.ndarray) -> np.ndarray:
    lab, n = ndi.label(mask)
    if n == 0:
        return mask
    sizes = ndi.sum(mask, lab, index=np.arange(1, n + 1))
    return lab == (1 + int(np.argmax(sizes)))


def body_mask_2d(image_hu: np.ndarray, open_mm: float = 3.0, pixel_mm: float = 1.0) -> np.ndarray:
    """Largest connected body in one axial slice, holes (lungs, airways) filled.

    Opening by a disc of ``open_mm`` detaches thin contacts (table shell, arms, cables) before the largest
    component is kept; the opened-away rim is given back inside the component's dilation."""
    raw = image_hu > AIR_SKIN_THRESHOLD_HU
    r = max(1, int(round(open_mm / pixel_mm)))
    disc = np.hypot(*np.mgrid[-r:r + 1, -r:r + 1]) <= r
    core = _largest_component(ndi.binary_opening(raw, structure=disc))
    if not core.any():
        return core
    body = raw & ndi.binary_dilation(core, structure=disc)
    return ndi.binary_fill_holes(_largest_component(body))


def body_mask(volume_hu: np.ndarray, pixel_mm: float = 1.0) -> np.ndarray:
    """``body_mask_2d`` slice by slice over ``(K, rows, cols)``."""
    vol = volume_hu.reshape((-1,) + volume_hu.shape[-2:])
    return np.stack([body_mask_2d(s, pixel_mm=pixel_mm) for s in vol]).reshape(volume_hu.shape)


def lung_mask(volume_hu: np.ndarray, body: np.ndarray, pixel_mm: float = 1.0) -> np.ndarray:
    """Lungs: air-like voxels (< -400 HU) inside the body, components of at least 1 cm^2 per slice,
    vessels and nodules inside them included (holes filled per slice), smoothed by a 1-pixel closing."""
    vol = volume_hu.reshape((-1,) + volume_hu.shape[-2:])
    bod = body.reshape(vol.shape)
    inner = np.stack([ndi.binary_erosion(b, iterations=max(1, int(round(3 / pixel_mm)))) for b in bod])
    lungs = (vol < LUNG_THRESHOLD_HU) & inner
    min_px = 100.0 / (pixel_mm * pixel_mm)
    out = np.zeros_like(lungs)
    for i, sl in enumerate(lungs):
        lab, n = ndi.label(sl)
        if n:
            sizes = ndi.sum(sl, lab, index=np.arange(1, n + 1))
            keep = np.isin(lab, 1 + np.nonzero(sizes >= min_px)[0])
            out[i] = ndi.binary_fill_holes(ndi.binary_closing(keep, iterations=1))
    return out.reshape(volume_hu.shape)
