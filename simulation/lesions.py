"""Lung disease: nodules (solid or part-solid, smooth to spiculated) and emphysema."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .materials import HU


@dataclass
class Nodule:
    centre: np.ndarray          # (x, y, z) mm
    diameter_mm: float
    part_solid: bool
    spiculation: float          # 0 smooth .. 1 strongly spiculated
    lobes: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    lobe_weights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    spikes: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    spike_lengths: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def radius(self) -> float:
        return self.diameter_mm / 2.0

    def reach(self) -> float:
        """Largest extent from the centre (mm)."""
        extra = self.spike_lengths.max() if len(self.spike_lengths) else 0.0
        return self.radius * (1.0 + 0.25) + extra

    def boundary_radius(self, unit: np.ndarray) -> np.ndarray:
        """Outline radius along unit directions ``(..., 3)``: sphere + lobulation + thin spikes."""
        r = np.full(unit.shape[:-1], self.radius)
        for u, w in zip(self.lobes, self.lobe_weights):
            r += self.radius * w * np.clip(unit @ u, 0, None) ** 4
        cos_half = np.cos(np.deg2rad(9.0))
        for s, length in zip(self.spikes, self.spike_lengths):
            c = (unit @ s - cos_half) / (1 - cos_half)
            r += length * np.clip(c, 0, None) ** 2
        return r

    def signed_distance(self, x: np.ndarray, y: np.ndarray, z: float, core: float = 1.0) -> np.ndarray:
        rel = np.stack([x - self.centre[0], y - self.centre[1], np.full_like(x, z - self.centre[2])], axis=-1)
        dist = np.linalg.norm(rel, axis=-1) + 1e-9
        return dist - core * self.boundary_radius(rel / dist[..., None])


def random_nodule(rng: np.random.Generator, centre: np.ndarray) -> Nodule:
    diameter = float(rng.uniform(3.0, 20.0))
    spic = float(rng.choice([0.0, rng.uniform(0.2, 1.0)], p=[0.4, 0.6]))
    n_lobes = int(rng.integers(2, 6))
    lobes = rng.standard_normal((n_lobes, 3))
    lobes /= np.linalg.norm(lobes, axis=1, keepdims=True)
    n_spikes = int(round(spic * rng.integers(4, 12)))
    spikes = rng.standard_normal((n_spikes, 3))
    spikes /= np.linalg.norm(spikes, axis=1, keepdims=True) + 1e-12
    return Nodule(np.asarray(centre, float), diameter, bool(rng.random() < 0.35), spic, lobes,
                  rng.uniform(0.0, 0.25, n_lobes), spikes, rng.uniform(0.4, 1.2, n_spikes) * diameter / 2)


def nodule_hu(n: Nodule) -> tuple[float, float | None]:
    """(outer HU, core HU or None): part-solid = ground-glass rim around a solid core."""
    return (HU["nodule_ggo"], HU["nodule_solid"]) if n.part_solid else (HU["nodule_solid"], None)


@dataclass
class Emphysema:
    severity: float             # target fraction of lung below -950 HU
    distribution: str           # diffuse | central | peripheral | anterior | posterior
    blob_mm: float              # size of the destroyed-tissue clusters
    bullae: list = field(default_factory=list)  # (centre (3,), radius)

    def weight(self, x: np.ndarray, y: np.ndarray, lung_centre: tuple[float, float], lung_axes: tuple[float, float]) -> np.ndarray:
        """Spatial preference (0..1) of destruction inside a lung."""
        u = (x - lung_centre[0]) / lung_axes[0]
        v = (y - lung_centre[1]) / lung_axes[1]
        r = np.clip(np.hypot(u, v), 0, 1)
        return {
            "diffuse": np.ones_like(u),
            "central": 1.0 - 0.8 * r,
            "peripheral": 0.2 + 0.8 * r,
            "anterior": 0.6 - 0.4 * v,
            "posterior": 0.6 + 0.4 * v,
        }[self.distribution]


def random_emphysema(rng: np.random.Generator, severity: float | None = None) -> Emphysema:
    sev = float(rng.uniform(0.0, 0.3)) if severity is None else float(severity)
    dist = str(rng.choice(["diffuse", "central", "peripheral", "anterior", "posterior"]))
    return Emphysema(sev, dist, float(rng.uniform(1.5, 4.0)))
