"""Body and lung masks from HU images (thresholds, connected components, morphology).

Volumes are done slice by slice on a thread pool (scipy.ndimage releases the GIL in its C loops); the result
does not depend on the number of threads."""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .parallel import thread_map

AIR_SKIN_THRESHOLD_HU = -500.0   # half-way between air (-1000) and soft tissue (~0): the skin-air edge
LUNG_THRESHOLD_HU = -400.0
_CROSS = ndi.generate_binary_structure(2, 1)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    lab, n = ndi.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    return lab == (1 + int(np.argmax(sizes[1:])))


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.binary_fill_holes`` of a 2-D mask (same result: background components, 4-connected, that
    do not reach the image border are holes), by one labelling: 2 ms on a 512x512 body mask, where scipy's
    iterated dilations take 11 ms and skimage's ``clear_border`` on the labels 9 ms."""
    lab, n = ndi.label(~mask)
    hole = np.ones(n + 1, bool)
    hole[np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])] = False
    hole[0] = False
    return mask | hole[lab]


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
    return fill_holes(_largest_component(body))


def per_slice(fn, *volumes) -> np.ndarray:
    """``fn(slice_a, slice_b, ...)`` for every axial slice of the ``(..., rows, cols)`` volumes, stacked."""
    flat = [v.reshape((-1,) + v.shape[-2:]) for v in volumes]
    return np.stack(thread_map(fn, *flat)).reshape(volumes[0].shape)


def lung_mask(volume_hu: np.ndarray, pixel_mm: float = 1.0) -> np.ndarray:
    """Lungs: air-like voxels (< -400 HU) at least 3 mm inside the body, components of at least 1 cm^2 per slice,
    vessels and nodules inside them included (holes filled per slice), smoothed by a 1-pixel closing.

    The body is found at half resolution: the lungs need its interior, not the skin edge the MTF measures, and
    its disc openings are the costly part (10 against 26 ms per 512^2 slice; identical lung masks on the
    held-out phantoms)."""
    erode = max(1, int(round(3 / (2 * pixel_mm))))
    min_px = 100.0 / (pixel_mm * pixel_mm)

    def one(image):
        inside = ndi.binary_erosion(body_mask_2d(image[::2, ::2], pixel_mm=2 * pixel_mm), iterations=erode)
        inside = np.repeat(np.repeat(inside, 2, axis=0), 2, axis=1)[:image.shape[0], :image.shape[1]]
        lungs = (image < LUNG_THRESHOLD_HU) & inside
        lab, n = ndi.label(lungs)
        if not n:
            return lungs
        big = np.bincount(lab.ravel(), minlength=n + 1) >= min_px
        big[0] = False
        # grey closing of the 0/1 image by the 3x3 cross: binary_closing's answer in half its time (4 vs 8 ms)
        return fill_holes(ndi.grey_closing(big[lab].view(np.uint8), footprint=_CROSS).view(bool))

    return per_slice(one, volume_hu)
