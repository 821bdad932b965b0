"""Noise in patient images: the global noise level and the noise power spectrum (NPS) from soft tissue.

- ``noise_sd``: the global-noise method (Christianson et al., Radiology 2015): a map of local standard
  deviations in small square ROIs over soft-tissue pixels of the body; the noise is the mode of its histogram
  (uniform tissue dominates the count, edges and structure only add a tail on the high side).
- ``nps``: 24-pixel squares of soft tissue inside the body whose local SD is close to that mode are taken as uniform,
  detrended by a fitted plane, Fourier transformed, and their |DFT|^2 averaged:
  NPS(fx, fy) = dx dy / (Nx Ny) <|DFT(roi - plane)|^2>, in HU^2 mm^2, whose integral over frequency is the
  variance (ICRU Report 87; Dolly et al., Med Phys 2016 for patient images). Radial averages give the 1-D
  NPS, its peak and mean frequency (the texture summary a report needs).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .masks import body_mask_2d
from .parallel import thread_map

SOFT_TISSUE_HU = (-300.0, 300.0)
LOCAL_ROI_MM = 6.0
NPS_ROI_PX = 24
UNIFORM_FACTOR = 2.0     # a square is uniform when 90 % of its local SDs stay below this times the global noise
MAX_SLICES = 8


def _slices(vol: np.ndarray, max_slices: int) -> np.ndarray:
    vol = np.asarray(vol).reshape((-1,) + np.shape(vol)[-2:])
    picks = np.unique(np.linspace(0, len(vol) - 1, min(max_slices, len(vol))).round().astype(int))
    return picks


def soft_tissue(img: np.ndarray, pixel_mm: float) -> np.ndarray:
    """Soft-tissue pixels of the body, eroded away from its skin so no edge enters a local ROI. Tissue is
    told from a smoothed image (3 mm), so that noise excursions in a sharp kernel do not punch holes in it."""
    body = ndi.binary_erosion(body_mask_2d(img, pixel_mm=pixel_mm), iterations=max(1, int(round(5 / pixel_mm))))
    smooth = ndi.gaussian_filter(img, 1.5 / pixel_mm)
    return body & (smooth > SOFT_TISSUE_HU[0]) & (smooth < SOFT_TISSUE_HU[1])


def local_sd_map(img: np.ndarray, size_px: int) -> np.ndarray:
    """Standard deviation of each ``size_px`` square neighbourhood (uniform filter of x and x^2)."""
    img = img.astype(np.float64)
    m = ndi.uniform_filter(img, size_px)
    m2 = ndi.uniform_filter(img * img, size_px)
    return np.sqrt(np.maximum(m2 - m * m, 0.0) * size_px**2 / max(size_px**2 - 1, 1))


@dataclass
class TissueSlice:
    """One slice's soft tissue as both noise measures read it."""
    image: np.ndarray           # (rows, cols) float32 HU
    tissue: np.ndarray          # soft-tissue pixels away from the skin (``soft_tissue``)
    local_sd: np.ndarray        # local SD map over ``LOCAL_ROI_MM`` squares (``local_sd_map``)
    whole_sds: np.ndarray       # the local SDs of squares wholly inside the tissue: what the global noise counts


def tissue_slices(volume_hu: np.ndarray, spacing_mm, max_slices: int = MAX_SLICES) -> list[TissueSlice]:
    """The (up to ``max_slices`` evenly spread) slices the noise is read on, each measured once, on a thread
    per core (the values do not depend on the number of threads)."""
    dy, dx = float(spacing_mm[0]), float(spacing_mm[1])
    vol = np.asarray(volume_hu).reshape((-1,) + np.shape(volume_hu)[-2:])
    size = max(3, int(round(LOCAL_ROI_MM / min(dx, dy))) | 1)

    def one(k: int) -> TissueSlice:
        img = vol[k].astype(np.float32)
        tissue = soft_tissue(img, min(dx, dy))
        local = local_sd_map(img, size)
        # whole ROIs of tissue only: the centre pixel's neighbourhood must all be tissue
        whole = ndi.binary_erosion(tissue, structure=np.ones((size, size), bool))
        return TissueSlice(img, tissue, local, local[whole])

    return thread_map(one, _slices(vol, max_slices))


def noise_sd(volume_hu: np.ndarray, spacing_mm, max_slices: int = MAX_SLICES) -> float:
    """Global noise (HU): the mode of local SDs over soft tissue; NaN when there is too little tissue."""
    return global_noise(tissue_slices(volume_hu, spacing_mm, max_slices))


def global_noise(measured: list[TissueSlice]) -> float:
    """``noise_sd`` of slices already measured by ``tissue_slices``."""
    return sd_mode(np.concatenate([m.whole_sds for m in measured]) if measured else np.empty(0))


def sd_mode(local_sds: np.ndarray) -> float:
    """The mode of a histogram of local SDs (uniform tissue dominates the count, edges only add a tail on the
    high side); NaN for fewer than 100 of them."""
    if len(local_sds) < 100:
        return float("nan")
    hist, edges = np.histogram(local_sds, bins=200, range=(0.0, float(np.percentile(local_sds, 99)) + 1e-6))
    hist = ndi.gaussian_filter1d(hist.astype(float), 2.0)
    i = int(np.argmax(hist))
    return float(0.5 * (edges[i] + edges[i + 1]))


@dataclass
class NPSResult:
    nps_2d: np.ndarray              # (N, N) HU^2 mm^2, zero frequency at the centre (fftshift layout)
    frequencies_per_mm: np.ndarray  # radial bins of the 1-D NPS
    nps_1d: np.ndarray
    rois: int
    noise_sd_hu: float              # sqrt of the NPS integral
    global_noise_sd_hu: float       # the global-noise SD (``noise_sd``) its uniform squares were chosen by

    @property
    def f_peak(self) -> float:
        return float(self.frequencies_per_mm[int(np.argmax(self.nps_1d))]) if self.rois else float("nan")

    @property
    def f_mean(self) -> float:
        if not self.rois:
            return float("nan")
        return float(np.sum(self.frequencies_per_mm * self.nps_1d) / np.sum(self.nps_1d))


def nps_from_rois(rois: np.ndarray, spacing_mm) -> np.ndarray:
    """Ensemble NPS ``(N, N)`` of ``(M, N, N)`` uniform ROIs, each detrended by a least-squares plane."""
    dy, dx = float(spacing_mm[0]), float(spacing_mm[1])
    m, n, _ = rois.shape
    yy, xx = np.mgrid[0:n, 0:n]
    basis = np.stack([np.ones(n * n), yy.ravel(), xx.ravel()], axis=1)
    flat = rois.reshape(m, -1).astype(np.float64).T
    coef, *_ = np.linalg.lstsq(basis, flat, rcond=None)
    resid = (flat - basis @ coef).T.reshape(m, n, n)
    power = np.abs(np.fft.fft2(resid)) ** 2
    # plane fitting removes 3 degrees of freedom of n*n: keep the integral equal to the variance
    return np.fft.fftshift(power.mean(axis=0)) * dx * dy / (n * n - 3)


def nps(volume_hu: np.ndarray, spacing_mm, roi_px: int = NPS_ROI_PX, max_slices: int = MAX_SLICES) -> NPSResult:
    """NPS of the soft tissue of an axial series (see module notes). ``rois == 0`` when none is uniform."""
    dy, dx = float(spacing_mm[0]), float(spacing_mm[1])
    measured = tissue_slices(volume_hu, (dy, dx), max_slices)
    sd = global_noise(measured)
    rois = []
    for m in measured:
        rows, cols = m.image.shape
        for r0 in range(0, rows - roi_px + 1, roi_px // 2):
            for c0 in range(0, cols - roi_px + 1, roi_px // 2):
                win = np.s_[r0:r0 + roi_px, c0:c0 + roi_px]
                if m.tissue[win].all() and np.isfinite(sd) and np.percentile(m.local_sd[win], 90) < UNIFORM_FACTOR * sd:
                    rois.append(m.image[win])
    n = roi_px
    f = np.fft.fftshift(np.fft.fftfreq(n))
    fy, fx = np.meshgrid(f / dy, f / dx, indexing="ij")
    fr = np.hypot(fy, fx)
    step = 1.0 / (n * max(dx, dy))
    radial = np.arange(0.0, 0.5 / max(dx, dy) + step / 2, step)
    if not rois:
        empty = np.full(len(radial), np.nan)
        return NPSResult(np.full((n, n), np.nan), radial, empty, 0, float("nan"), sd)
    n2 = nps_from_rois(np.stack(rois), (dy, dx))
    idx = np.clip(np.round(fr / step).astype(int), 0, len(radial) - 1)
    inside = fr <= radial[-1] + step / 2
    counts = np.bincount(idx[inside], minlength=len(radial))
    n1 = np.bincount(idx[inside], weights=n2[inside], minlength=len(radial)) / np.maximum(counts, 1)
    variance = n2.sum() / (n * dy * n * dx)
    return NPSResult(n2, radial, n1, len(rois), float(np.sqrt(variance)), sd)
