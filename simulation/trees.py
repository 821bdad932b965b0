"""Branching tubular trees (pulmonary vessels, airways) as 3-D segments, and their rasterisation per slice."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .shapes import segment_distance


@dataclass
class Segment:
    p0: np.ndarray  # (x, y, z) mm
    p1: np.ndarray
    radius: float


def _perpendicular(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    a = rng.standard_normal(3)
    a -= (a @ v) * v
    return a / (np.linalg.norm(a) + 1e-12)


def grow_tree(rng: np.random.Generator, root: np.ndarray, direction: np.ndarray, radius: float, length: float,
              inside, min_radius: float = 0.5, taper: float = 0.78, max_generations: int = 9) -> list[Segment]:
    """Dichotomous tree: each segment splits into two children turned 20-45 degrees about a random axis,
    radius times ``taper`` and length times ~0.8, until the radius falls below ``min_radius`` or a child's
    end leaves the region ``inside(point) -> bool``."""
    segments: list[Segment] = []
    stack = [(np.asarray(root, float), direction / np.linalg.norm(direction), radius, length, 0)]
    while stack:
        p0, d, r, length_mm, gen = stack.pop()
        p1 = p0 + d * length_mm
        if not inside(p1):
            continue
        segments.append(Segment(p0, p1, r))
        if r * taper < min_radius or gen >= max_generations:
            continue
        axis = _perpendicular(d, rng)
        for sign in (1.0, -1.0):
            angle = np.deg2rad(rng.uniform(20, 45))
            child = np.cos(angle) * d + sign * np.sin(angle) * axis
            child = child + 0.15 * rng.standard_normal(3)
            stack.append((p1, child / np.linalg.norm(child), r * taper * rng.uniform(0.9, 1.05),
                          length_mm * rng.uniform(0.7, 0.9), gen + 1))
    return segments


def tube_distance(segments: list[Segment], x: np.ndarray, y: np.ndarray, z: float, margin: float) -> np.ndarray:
    """Signed distance (mm) to the union of tubes at the slice z; ``x``/``y`` are the 1-D grid axes.

    Only segments crossing the slice (within radius + margin) and only their bounding box are evaluated."""
    d = np.full((len(y), len(x)), np.inf)
    for s in segments:
        lo_z, hi_z = min(s.p0[2], s.p1[2]) - s.radius - margin, max(s.p0[2], s.p1[2]) + s.radius + margin
        if not lo_z <= z <= hi_z:
            continue
        reach = s.radius + margin
        x0, x1 = min(s.p0[0], s.p1[0]) - reach, max(s.p0[0], s.p1[0]) + reach
        y0, y1 = min(s.p0[1], s.p1[1]) - reach, max(s.p0[1], s.p1[1]) + reach
        i0, i1 = np.searchsorted(x, x0), np.searchsorted(x, x1) + 1
        j0, j1 = np.searchsorted(y, y0), np.searchsorted(y, y1) + 1
        if i1 <= i0 or j1 <= j0:
            continue
        xx, yy = np.meshgrid(x[i0:i1], y[j0:j1])
        dist = segment_distance(xx, yy, z, s.p0, s.p1) - s.radius
        np.minimum(d[j0:j1, i0:i1], dist, out=d[j0:j1, i0:i1])
    return d
