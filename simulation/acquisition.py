"""Acquisition physics: photon budget from CTDIvol, detector and focal-spot blur, quantum and electronic noise.

Photon budget. At the 120 kVp effective energy (~60-70 keV) an air kerma of 1 mGy is a fluence of about
3.4e9 photons/cm^2 (fluence-to-kerma factor (mu_en/rho)_air * E, NIST); the 32 cm CTDIvol of a body scan is
about 0.35 x the free-in-air kerma at isocentre per rotation (vendors' dosimetry reports), so 1 mGy CTDIvol
is ~1e10 photons/cm^2 at isocentre over a rotation. Spread over 1152 fan views and one 0.6 x 1 mm detector
cell, combined over the two conjugate fan views of a parallel ray and scaled to this simulator's 0.488 mm
ray width, that is ``N0_PER_MGY`` ~ 8.5e4 photons per ray per view per mGy for a 1 mm slice (no bowtie
filter; detector efficiency 0.9 included). Noise SD therefore scales as 1/sqrt(CTDIvol), which the tests check.

Electronic noise: additive Gaussian, ``ELECTRONIC_NOISE`` photons rms per ray, so very low doses start to
deviate from the pure quantum 1/sqrt(dose) law as real detectors do (photon starvation behind bone).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import convolve1d

from .geometry import FORCE, ScannerGeometry
from .kernels import detector_taps

N0_PER_MGY = 8.5e4
ELECTRONIC_NOISE = 5.0


def photons_per_ray(ctdivol_mgy: float, geom: ScannerGeometry = FORCE) -> float:
    """Unattenuated photons per ray per view for a CTDIvol (mGy)."""
    if not ctdivol_mgy > 0:
        raise ValueError(f"dose must be a positive CTDIvol in mGy, got {ctdivol_mgy}")
    return N0_PER_MGY * ctdivol_mgy * geom.slice_thickness_mm


def blur_rays(intensity: np.ndarray, geom: ScannerGeometry = FORCE) -> np.ndarray:
    """Detector aperture and focal-spot blur across rays, on transmitted intensity ``(..., R)``."""
    return convolve1d(intensity, detector_taps(geom), axis=-1, mode="nearest")


def acquire(line_integrals: np.ndarray, ctdivol_mgy: float | None, rng: np.random.Generator | None = None,
            geom: ScannerGeometry = FORCE) -> np.ndarray:
    """Measured log-attenuation ``-ln(N / N0)`` from noise-free line integrals ``(C, V, R)``.

    ``ctdivol_mgy=None`` gives the noise-free (expected) measurement, blur included."""
    expected = blur_rays(np.exp(-line_integrals), geom)
    if ctdivol_mgy is None:
        return -np.log(expected)
    if rng is None:
        raise ValueError("a seeded numpy Generator is needed for a noisy acquisition")
    n0 = photons_per_ray(ctdivol_mgy, geom)
    counts = rng.poisson(expected * n0).astype(np.float64)
    counts += ELECTRONIC_NOISE * rng.standard_normal(counts.shape)
    return -np.log(np.clip(counts, 0.5, None) / n0)
