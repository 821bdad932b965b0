"""Is a series inside the domain a model was validated on? Measured before the network runs.

A model card's ``domain`` states, from the model's training data, the ranges it was trained and validated on:

    {"anatomy": "chest", "min_lung_fraction": 0.1, "kvp": [120, 120], "pixel_spacing_mm": [0.95, 1.0],
     "slice_thickness_mm": [0.9, 1.1], "mtf_f50_per_mm": [0.27, 0.75], "noise_sd_hu": [9, 140],
     "measured_on": "..."}

``measure`` reads what a series shows (its lungs, measured MTF and noise) and what its header says (kVp,
pixel spacing, slice thickness); ``check`` compares the two and names every quantity outside. A quantity the
series cannot tell (no KVP attribute, an MTF that could not be measured) is reported and not held against it;
a card without ``domain`` checks nothing and says so.

Lungs: the lung mask's area over the body's, slice by slice; the series' value is the median over slices (a
chest CT has lungs in most of its slices; an abdomen's bowel gas or a neck's airway gives a few per cent).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .masks import body_mask_2d
from .parallel import thread_map

MIN_LUNG_FRACTION = 0.10      # lungs over body in the median slice: below it a series shows no lungs to measure
RANGES = ("kvp", "pixel_spacing_mm", "slice_thickness_mm", "mtf_f50_per_mm", "noise_sd_hu")
MAX_SLICES = 16


def lung_fraction(volume_hu: np.ndarray, lungs: np.ndarray, pixel_mm: float) -> float:
    """Median over (up to ``MAX_SLICES`` evenly spread) slices of lung area / body area; 0 with no body."""
    picks = np.unique(np.linspace(0, len(volume_hu) - 1, min(MAX_SLICES, len(volume_hu))).round().astype(int))

    def fraction(k: int) -> float:
        body = body_mask_2d(np.asarray(volume_hu[k], np.float32), pixel_mm=pixel_mm).sum()
        return float(np.asarray(lungs[k], bool).sum()) / body if body else 0.0

    return float(np.median(thread_map(fraction, picks)))


@dataclass
class DomainCheck:
    name: str
    value: float | None             # None: the series does not tell
    allowed: list | float | None    # [lo, hi], or a minimum
    holds: bool

    def to_json(self) -> dict:
        return {"value": self.value, "allowed": self.allowed, "holds": self.holds}

    @property
    def reason(self) -> str:
        if self.name == "lung_fraction":
            minimum = float(self.allowed) if isinstance(self.allowed, (int, float)) else 0.0
            share = 100 * float(self.value or 0)
            return (f"no lungs in the field (lungs {share:.0f} % of the body in the median slice; "
                    f"a chest series at least {100 * minimum:.0f} %)")
        if isinstance(self.allowed, list):
            return f"{self.name} {self.value:g} outside {self.allowed[0]:g}-{self.allowed[1]:g}"
        return f"{self.name} {self.value:g} below {self.allowed:g}"


def measure(volume_hu, lungs, spacing_mm, first_dataset, mtf: dict, noise_sd_hu: float,
            slice_thickness_mm: float | None) -> dict:
    """What the domain is checked on; None where the series does not tell."""
    def number(value):
        try:
            return float(value) if value not in (None, "") else None
        except (TypeError, ValueError):
            return None

    f50 = mtf.get("f50_per_mm") if mtf.get("source") == "measured" else None
    return {
        "lung_fraction": round(lung_fraction(volume_hu, lungs, float(min(spacing_mm))), 4),
        "kvp": number(first_dataset.get("KVP")),
        "pixel_spacing_mm": round(float(max(spacing_mm)), 4),
        "slice_thickness_mm": slice_thickness_mm,
        "mtf_f50_per_mm": f50,
        "noise_sd_hu": round(float(noise_sd_hu), 2) if np.isfinite(noise_sd_hu) else None,
    }


def check(domain: dict | None, measured: dict) -> list[DomainCheck]:
    """Each stated quantity against the card's ``domain``; an empty list for a card that states none."""
    if not domain:
        return []
    out = []
    if "min_lung_fraction" in domain:
        value = measured["lung_fraction"]
        out.append(DomainCheck("lung_fraction", value, domain["min_lung_fraction"],
                               value >= domain["min_lung_fraction"]))
    for name in RANGES:
        if name not in domain:
            continue
        value, (lo, hi) = measured.get(name), domain[name]
        out.append(DomainCheck(name, value, [lo, hi], value is None or lo <= value <= hi))
    return out


def verdict(checks: list[DomainCheck]) -> tuple[bool, str]:
    """(inside, one line): the quantities outside the domain, or that none is."""
    outside = [c for c in checks if not c.holds]
    if not checks:
        return True, "the model's card states no validated domain: not checked"
    if not outside:
        return True, "inside the model's validated domain"
    return False, "outside the model's validated domain: " + "; ".join(c.reason for c in outside)
