"""The virtual scanner: phantom -> projections -> noisy measurement -> reconstruction with named kernels."""
from __future__ import annotations

import numpy as np

from .acquisition import acquire
from .geometry import FORCE, ScannerGeometry
from .kernels import Kernel, get_kernel
from .materials import hu_to_mu
from .projector import forward_project
from .reconstruction import fbp, iterative, kernel_filters


def _kernels(kernels) -> list[Kernel]:
    return [k if isinstance(k, Kernel) else get_kernel(k) for k in kernels]


def reconstruct(lines: np.ndarray, dose: float | None, kernels: list[Kernel], rng: np.random.Generator | None,
                geom: ScannerGeometry = FORCE) -> np.ndarray:
    """One acquisition of noise-free line integrals ``(1, V, R)`` at ``dose``, reconstructed with each kernel
    (its iterative strength on top of FBP): ``(len(kernels), n, n)`` HU."""
    q = acquire(lines, dose, rng, geom)
    images = fbp(np.repeat(q, len(kernels), axis=0), kernel_filters(kernels, geom), geom)
    it = [i for i, k in enumerate(kernels) if k.iterative]
    if it:
        images[it] = iterative(images[it], [kernels[i] for i in it], geom)
    return images


def noise_rng(seed: int, slice_index: int, dose: float | None) -> np.random.Generator:
    """The seeded noise realisation of one slice at one dose."""
    return np.random.default_rng([seed, slice_index, int(round(1000 * (dose or 0)))])


def scan_slice(object_hu: np.ndarray, doses: list[float | None], kernel_names: list, seed: int,
               slice_index: int, geom: ScannerGeometry = FORCE) -> dict[tuple[float | None, str], np.ndarray]:
    """All renditions (dose x kernel) of one phantom slice ``(2n, 2n)`` -> ``{(dose, kernel): HU (n, n)}``.

    Kernels by name or as ``Kernel``; the noise-free projection is computed once; each dose gets its own
    seeded noise realisation (``seed``, slice, dose), shared by that dose's kernels, as one acquisition
    reconstructed several ways."""
    kernels = _kernels(kernel_names)
    lines = forward_project(hu_to_mu(object_hu.astype(np.float64))[None], geom)
    out = {}
    for dose in doses:
        images = reconstruct(lines, dose, kernels, noise_rng(seed, slice_index, dose), geom)
        for k, img in zip(kernels, images):
            out[(dose, k.name)] = img.astype(np.float32)
    return out


def scan_renditions(object_hu: np.ndarray, renditions: list[tuple[float, Kernel]], seed: int,
                    geom: ScannerGeometry = FORCE, progress=None) -> np.ndarray:
    """Renditions given one by one (dose, kernel) of a slab ``(K, 2n, 2n)``: ``(len(renditions), K, n, n)`` HU.

    Renditions of one dose share that dose's acquisition (as ``scan_slice``); ``geom``'s slice thickness sets
    the photon count."""
    by_dose: dict[float, list[int]] = {}
    for r, (dose, _) in enumerate(renditions):
        by_dose.setdefault(dose, []).append(r)
    out = np.empty((len(renditions), object_hu.shape[0], geom.image_size, geom.image_size), np.float32)
    for i in range(object_hu.shape[0]):
        lines = forward_project(hu_to_mu(object_hu[i].astype(np.float64))[None], geom)
        for dose, rs in by_dose.items():
            out[rs, i] = reconstruct(lines, dose, [renditions[r][1] for r in rs], noise_rng(seed, i, dose), geom)
        if progress is not None:
            progress(1)
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
