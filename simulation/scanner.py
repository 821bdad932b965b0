"""The virtual scanner: phantom -> projections -> noisy measurement -> reconstruction with named kernels."""
from __future__ import annotations

import numpy as np

from .acquisition import acquire
from .geometry import FORCE, ScannerGeometry
from .kernels import get_kernel
from .materials import hu_to_mu
from .projector import forward_project
from .reconstruction import fbp, iterative, kernel_filters


def scan_slice(object_hu: np.ndarray, doses: list[float | None], kernel_names: list[str], seed: int,
               slice_index: int, geom: ScannerGeometry = FORCE) -> dict[tuple[float | None, str], np.ndarray]:
    """All renditions (dose x kernel) of one phantom slice ``(2n, 2n)`` -> ``{(dose, kernel): HU (n, n)}``.

    The noise-free projection is computed once; each dose gets its own seeded noise realisation
    (``seed``, slice, dose), shared by that dose's kernels, as one acquisition reconstructed several ways."""
    kernels = [get_kernel(k) for k in kernel_names]
    lines = forward_project(hu_to_mu(object_hu.astype(np.float64))[None], geom)
    filters = kernel_filters(kernels, geom)
    out = {}
    for dose in doses:
        rng = np.random.default_rng([seed, slice_index, int(round(1000 * (dose or 0)))])
        q = acquire(lines, dose, rng, geom)
        images = fbp(np.repeat(q, len(kernels), axis=0), filters, geom)
        it = [i for i, k in enumerate(kernels) if k.iterative]
        if it:
            images[it] = iterative(images[it], [kernels[i] for i in it], geom)
        for k, img in zip(kernel_names, images):
            out[(dose, k)] = img.astype(np.float32)
    return out


def scan_volume(object_hu: np.ndarray, doses: list[float | None], kernel_names: list[str], seed: int,
                geom: ScannerGeometry = FORCE, progress=None) -> dict[tuple[float | None, str], np.ndarray]:
    """``scan_slice`` over a slab ``(K, 2n, 2n)`` -> ``{(dose, kernel): HU (K, n, n)}``."""
    vols: dict = {}
    for i in range(object_hu.shape[0]):
        for key, img in scan_slice(object_hu[i], doses, kernel_names, seed, i, geom).items():
            vols.setdefault(key, np.empty((object_hu.shape[0],) + img.shape, np.float32))[i] = img
        if progress is not None:
            progress(1)
    return vols
