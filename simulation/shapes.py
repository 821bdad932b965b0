"""Signed-distance primitives and anti-aliased painting on the phantom grid.

A shape is a signed distance ``d`` (mm, negative inside); painting uses the pixel's covered fraction
``clip(0.5 - d / pixel, 0, 1)``, the area fraction of a locally straight edge, so edges carry partial
volume like a voxelised phantom does (see ``kernels.system_mtf``).
"""
from __future__ import annotations

import numpy as np


def coverage(d: np.ndarray, pixel_mm: float) -> np.ndarray:
    return np.clip(0.5 - d / pixel_mm, 0.0, 1.0)


def paint(image: np.ndarray, d: np.ndarray, hu: float | np.ndarray, pixel_mm: float,
          within: np.ndarray | None = None) -> np.ndarray:
    """Blend ``hu`` into ``image`` where the shape ``d`` covers it (optionally only inside ``within`` in [0,1])."""
    c = coverage(d, pixel_mm)
    if within is not None:
        c = c * within
    image *= 1.0 - c
    image += c * hu
    return c


def ellipse_sdf(x: np.ndarray, y: np.ndarray, cx: float, cy: float, a: float, b: float, angle: float = 0.0) -> np.ndarray:
    """First-order signed distance to an ellipse (exact on the axes, close elsewhere near the edge)."""
    ca, sa = np.cos(angle), np.sin(angle)
    u = (x - cx) * ca + (y - cy) * sa
    v = -(x - cx) * sa + (y - cy) * ca
    rho = np.sqrt((u / a) ** 2 + (v / b) ** 2) + 1e-12
    grad = np.sqrt((u / a**2) ** 2 + (v / b**2) ** 2) / rho + 1e-12
    return (rho - 1.0) / grad


def radial_sdf(x: np.ndarray, y: np.ndarray, cx: float, cy: float, radius_fn) -> np.ndarray:
    """Signed radial distance to a star-shaped outline ``r = radius_fn(phi)`` around (cx, cy)."""
    dx, dy = x - cx, y - cy
    return np.hypot(dx, dy) - radius_fn(np.arctan2(dy, dx))


def segment_distance(px: np.ndarray, py: np.ndarray, pz: float, p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """Euclidean distance (mm) from points (px, py, pz) to the 3-D segment p0-p1."""
    seg = p1 - p0
    length2 = float(seg @ seg) + 1e-12
    t = ((px - p0[0]) * seg[0] + (py - p0[1]) * seg[1] + (pz - p0[2]) * seg[2]) / length2
    t = np.clip(t, 0.0, 1.0)
    return np.sqrt((px - p0[0] - t * seg[0]) ** 2 + (py - p0[1] - t * seg[1]) ** 2 + (pz - p0[2] - t * seg[2]) ** 2)


def smooth_field(rng: np.random.Generator, shape: tuple[int, ...], sigma_px: tuple[float, ...]) -> np.ndarray:
    """Zero-mean, unit-SD Gaussian random field (white noise low-passed by a Gaussian)."""
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(rng.standard_normal(shape), sigma_px, mode="wrap")
    return (f - f.mean()) / (f.std() + 1e-12)
