"""Detectability index d' of the paper's Eq. 9 (non-prewhitening observer with eye filter):

    d' = integral over (u, v) of  W^2 MTF^2 E^2 / (E^2 NPS + alpha D^2)

W: the task, a 4 mm disc of 100 HU contrast (its 2-D Fourier transform, HU mm^2); MTF and NPS (HU^2 mm^2)
measured on the images; E: the eye filter rho^1.3 exp(-c rho^2) with rho in cycles per degree of visual
angle for an image shown at true size and read from D = 500 mm, c set so that E peaks at 4 cycles/degree
(Burgess 1994; c = 1.3 / (2 * 4^2)); alpha = 1e-8 as in the paper.
"""
from __future__ import annotations

import numpy as np
from scipy.special import j1

READING_DISTANCE_MM = 500.0
ALPHA = 1e-8
EYE_C = 1.3 / (2 * 4.0**2)    # eye filter peak at 4 cycles/degree


def task_disc(f_per_mm: np.ndarray, diameter_mm: float = 4.0, contrast_hu: float = 100.0) -> np.ndarray:
    r = diameter_mm / 2
    x = 2 * np.pi * r * np.maximum(f_per_mm, 1e-9)
    return contrast_hu * np.pi * r * r * 2 * j1(x) / x


def eye_filter(f_per_mm: np.ndarray, distance_mm: float = READING_DISTANCE_MM) -> np.ndarray:
    rho = f_per_mm * distance_mm * np.pi / 180.0
    return rho**1.3 * np.exp(-EYE_C * rho**2)


def d_prime(mtf_f: np.ndarray, mtf: np.ndarray, nps_2d: np.ndarray, pixel_mm: float, diameter_mm: float = 4.0,
            contrast_hu: float = 100.0, alpha: float = ALPHA) -> float:
    """Eq. 9 on the NPS's (N, N) frequency grid (fftshift layout, pixel ``pixel_mm``); the radial MTF
    (``mtf_f`` cycles/mm, ``mtf``) is interpolated onto it."""
    n = nps_2d.shape[0]
    f = np.fft.fftshift(np.fft.fftfreq(n, d=pixel_mm))
    fr = np.hypot(*np.meshgrid(f, f, indexing="ij"))
    m = np.interp(fr, mtf_f, mtf, right=float(mtf[-1]))
    w, e = task_disc(fr, diameter_mm, contrast_hu), eye_filter(fr)
    du = 1.0 / (n * pixel_mm)
    integrand = w**2 * m**2 * e**2 / (e**2 * nps_2d + alpha * READING_DISTANCE_MM**2)
    return float(integrand.sum() * du * du)
