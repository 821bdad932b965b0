"""Patient-specific MTF from the skin-air boundary (Sanders et al., Med Phys 43(10) 5330, 2016).

For a few evenly spaced slices: segment the body, take its outline, estimate the outward normal and the
sub-pixel edge position (the -500 HU crossing) at every outline point, and collect the pixels near each
normal line with their signed distance to the edge. Profiles are rejected when something other than air
lies outside within ``REACH_MM`` (table, arms, clothing, the field's border), when the inside is not soft
tissue (air pockets, bone), or when the normal is poorly defined. The accepted samples form one
oversampled ESF, whose tails are replaced by their plateaus; the air half of its derivative, mirrored
(skin over fat makes the patient's half uneven), is the LSF, and its spectrum the MTF.

Returned: 64 samples from 0 to the Nyquist frequency, f50/f10 from the fine curve (they may lie above
Nyquist for sharp kernels: the oversampled ESF measures the presampled MTF), the profile count and a
quality flag with the reason when the edge is unusable.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

from .esf import binned_esf, mtf_from_esf
from .masks import AIR_SKIN_THRESHOLD_HU, body_mask_2d

N_FREQUENCIES = 64
REACH_MM = 10.0
MIN_PROFILES = 150
MAX_SLICES = 12


@dataclass
class MTFResult:
    frequencies_per_mm: np.ndarray
    mtf: np.ndarray
    f50_per_mm: float
    f10_per_mm: float
    profiles: int
    quality: dict = field(default_factory=lambda: {"usable": True, "reason": None})

    @property
    def usable(self) -> bool:
        return bool(self.quality["usable"])

    def to_json(self) -> dict:
        def num(v):
            return None if v is None or not np.isfinite(v) else round(float(v), 5)

        return {
            "frequencies_per_mm": [round(float(f), 5) for f in self.frequencies_per_mm],
            "mtf": [round(float(m), 5) for m in self.mtf],
            "f50_per_mm": num(self.f50_per_mm),
            "f10_per_mm": num(self.f10_per_mm),
            "profiles": int(self.profiles),
            "quality": self.quality,
        }


def _unusable(nyquist: float, profiles: int, reason: str) -> MTFResult:
    f = np.linspace(0.0, nyquist, N_FREQUENCIES)
    return MTFResult(f, np.full(N_FREQUENCIES, np.nan), float("nan"), float("nan"), profiles,
                     {"usable": False, "reason": reason})


def _edge_samples(img: np.ndarray, spacing: tuple[float, float], stats: dict):
    """Signed distances (mm) and values of pixels along accepted skin-air normals in one slice."""
    dy, dx = spacing
    body = body_mask_2d(img, pixel_mm=min(dx, dy))
    if body.sum() < 500:
        return None
    rows, cols = img.shape
    border = np.zeros_like(body)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    outline = body & ~ndi.binary_erosion(body)
    stats["outline"] += int(outline.sum())
    stats["cut"] += int((outline & ndi.binary_dilation(border, iterations=2)).sum())
    air = img < AIR_SKIN_THRESHOLD_HU
    stats["air"] += int((air & ~body).sum())
    smooth = ndi.gaussian_filter(body.astype(float), 3.0)
    gy, gx = np.gradient(smooth, dy, dx)
    ys, xs = np.nonzero(outline)
    ny, nx = -gy[ys, xs], -gx[ys, xs]            # outward = down the smoothed mask
    norm = np.hypot(ny, nx)
    ok = norm > 1e-3
    ys, xs, ny, nx = ys[ok], xs[ok], ny[ok] / norm[ok], nx[ok] / norm[ok]
    # the sub-pixel edge along each normal: the AIR_SKIN crossing of an interpolated profile
    t = np.arange(-REACH_MM, REACH_MM + 1e-9, 0.25)
    py = ys[:, None] + t[None, :] * ny[:, None] / dy
    px = xs[:, None] + t[None, :] * nx[:, None] / dx
    inside_fov = (py.min(1) >= 0) & (px.min(1) >= 0) & (py.max(1) <= rows - 1) & (px.max(1) <= cols - 1)
    prof = ndi.map_coordinates(img, [py.ravel(), px.ravel()], order=3, mode="nearest").reshape(py.shape)
    outside = prof[:, t > 2.0]
    inner = prof[:, (t < -2.0) & (t > -REACH_MM + 1)]
    # air, not table foam (~-900 HU), cushions or clothing: a median at air level and no bump
    clean_air = (np.median(outside, axis=1) < -960.0) & (ndi.uniform_filter1d(outside, 8, axis=1).max(axis=1) < -850.0)
    soft = (np.median(inner, axis=1) > -250.0) & (np.median(inner, axis=1) < 250.0)
    above = prof >= AIR_SKIN_THRESHOLD_HU
    crossing = np.full(len(ys), np.nan)
    for i in np.nonzero(inside_fov & clean_air & soft)[0]:
        # last inside->outside crossing before the air: walk outward from the centre
        idx = np.nonzero(above[i, :-1] & ~above[i, 1:])[0]
        idx = idx[np.abs(t[idx]) < 1.5]
        if len(idx) == 1:
            j = idx[0]
            a, b = prof[i, j], prof[i, j + 1]
            crossing[i] = t[j] + (a - AIR_SKIN_THRESHOLD_HU) / (a - b) * (t[1] - t[0])
    good = np.isfinite(crossing)
    stats["profiles"] += int(good.sum())
    if not good.any():
        return None
    ys, xs, ny, nx, c = ys[good], xs[good], ny[good], nx[good], crossing[good]
    # pixels in a tube around each normal, with their signed distance to that profile's edge
    r = int(np.ceil(REACH_MM / min(dx, dy))) + 1
    oy, ox = np.mgrid[-r:r + 1, -r:r + 1]
    oy, ox = oy.ravel(), ox.ravel()
    ey = ys[:, None] + oy[None, :]
    ex = xs[:, None] + ox[None, :]
    valid = (ey >= 0) & (ey < rows) & (ex >= 0) & (ex < cols)
    along = oy[None, :] * dy * ny[:, None] + ox[None, :] * dx * nx[:, None] - c[:, None]
    across = -oy[None, :] * dy * nx[:, None] + ox[None, :] * dx * ny[:, None]
    keep = valid & (np.abs(along) < REACH_MM) & (np.abs(across) < max(dx, dy))
    return along[keep], img[ey[keep], ex[keep]]


def estimate_mtf(volume_hu: np.ndarray, spacing_mm, max_slices: int = MAX_SLICES) -> MTFResult:
    """MTF of an axial CT series from its skin-air boundary.

    ``volume_hu``: ``(K, rows, cols)`` or ``(rows, cols)``; ``spacing_mm``: (row, col) pixel spacing, as
    DICOM PixelSpacing. Never raises on image content: an unusable edge sets ``quality``."""
    vol = np.asarray(volume_hu, dtype=np.float32)
    vol = vol.reshape((-1,) + vol.shape[-2:])
    dy, dx = float(spacing_mm[0]), float(spacing_mm[1])
    nyquist = 0.5 / max(dx, dy)
    if not (np.isfinite(vol).all() and dx > 0 and dy > 0):
        return _unusable(nyquist, 0, "image or pixel spacing is not finite and positive")
    picks = np.unique(np.linspace(0, len(vol) - 1, min(max_slices, len(vol))).round().astype(int))
    stats = {"outline": 0, "cut": 0, "air": 0, "profiles": 0}
    dist, vals = [], []
    for k in picks:
        s = _edge_samples(vol[k], (dy, dx), stats)
        if s is not None:
            dist.append(s[0])
            vals.append(s[1])
    n = stats["profiles"]
    if stats["air"] < 0.02 * vol[0].size:
        return _unusable(nyquist, n, "no air around the patient")
    if n < MIN_PROFILES:
        if stats["outline"] and stats["cut"] > 0.1 * stats["outline"]:
            return _unusable(nyquist, n, "body cut by the field of view")
        return _unusable(nyquist, n, f"too few clean skin-air profiles ({n} < {MIN_PROFILES})")
    centres, esf = binned_esf(np.concatenate(dist), np.concatenate(vals), half_width_mm=REACH_MM)
    curve = mtf_from_esf(centres, esf, tail_mm=REACH_MM - 3.0, f_max_per_mm=max(1.5, 2 * nyquist), mirror_side=+1)
    f = np.linspace(0.0, nyquist, N_FREQUENCIES)
    return MTFResult(f, np.clip(curve.sample(f), 0.0, None), curve.f50, curve.f10, n)


def mtf_2d(mtf: np.ndarray, size: int = N_FREQUENCIES) -> np.ndarray:
    """Radially symmetric ``size x size`` map of a 0..Nyquist MTF curve, zero frequency at the centre
    (``fftshift`` layout); beyond Nyquist (the corners) it holds the Nyquist value."""
    mtf = np.asarray(mtf, dtype=np.float32)
    r = np.hypot(*np.meshgrid(np.arange(size) - size // 2, np.arange(size) - size // 2, indexing="ij")) / (size // 2)
    return np.interp(r, np.linspace(0, 1, len(mtf)), mtf).astype(np.float32)
