"""From edge-spread samples to an MTF: oversampled ESF -> LSF -> |FFT|, the core every edge method shares.

Sanders et al., Med Phys 43(10), 2016 (after Judy 1976 and Samei et al. 1998): ESF samples from many
edge positions are binned by their signed distance to the edge (``bin_mm`` << pixel, so the ESF is
oversampled), the noisy tails are replaced by their plateau levels, the ESF is differentiated into the
line-spread function (LSF), windowed, Fourier transformed and normalised to 1 at zero frequency.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d


@dataclass
class MTFCurve:
    frequencies_per_mm: np.ndarray   # fine grid, 0 .. f_max
    mtf: np.ndarray

    def crossing(self, level: float) -> float:
        """First frequency where the MTF falls to ``level`` (linear interpolation); NaN if it never does."""
        below = np.nonzero(self.mtf <= level)[0]
        if len(below) == 0 or below[0] == 0:
            return float("nan")
        i = below[0]
        f0, f1, m0, m1 = self.frequencies_per_mm[i - 1], self.frequencies_per_mm[i], self.mtf[i - 1], self.mtf[i]
        return float(f0 + (m0 - level) * (f1 - f0) / (m0 - m1)) if m0 != m1 else float(f0)

    @property
    def f50(self) -> float:
        return self.crossing(0.5)

    @property
    def f10(self) -> float:
        return self.crossing(0.1)

    def sample(self, frequencies_per_mm: np.ndarray) -> np.ndarray:
        return np.interp(frequencies_per_mm, self.frequencies_per_mm, self.mtf)


def binned_esf(distance_mm: np.ndarray, values: np.ndarray, half_width_mm: float = 12.0,
               bin_mm: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` in bins of signed distance; empty bins are interpolated. Returns (centres, esf)."""
    edges = np.arange(-half_width_mm, half_width_mm + bin_mm / 2, bin_mm)
    centres = 0.5 * (edges[:-1] + edges[1:])
    idx = np.digitize(distance_mm, edges) - 1
    ok = (idx >= 0) & (idx < len(centres))
    sums = np.bincount(idx[ok], weights=values[ok], minlength=len(centres))
    where = np.bincount(idx[ok], weights=distance_mm[ok], minlength=len(centres))
    counts = np.bincount(idx[ok], minlength=len(centres))
    filled = counts > 0
    if filled.sum() < 2:
        raise ValueError("too few edge samples to form an ESF")
    # each bin's mean sits at its samples' mean distance, not at the bin centre: pixel grids fill a bin
    # unevenly, and that offset would otherwise be read as blur
    esf = np.interp(centres, where[filled] / counts[filled], sums[filled] / counts[filled])
    return centres, esf


def mtf_from_esf(centres_mm: np.ndarray, esf: np.ndarray, tail_mm: float = 6.0, f_max_per_mm: float = 1.5,
                 n_freq: int = 1501, mirror_side: int = 0) -> MTFCurve:
    """MTF from an oversampled ESF rising (or falling) across 0 mm.

    Tails beyond ``tail_mm`` are replaced by their median plateau (the ESF tail reconstruction), the LSF is
    the derivative, flat-top windowed to +-tail_mm with a 2 mm roll-off, and its Fourier magnitude is evaluated
    on a fine frequency grid by a direct transform (exact for non-power-of-two bin counts)."""
    esf = np.asarray(esf, dtype=np.float64).copy()
    lo, hi = centres_mm < -tail_mm, centres_mm > tail_mm
    if lo.any():
        esf[lo] = np.median(esf[lo])
    if hi.any():
        esf[hi] = np.median(esf[hi])
    if esf[-1] < esf[0]:
        esf = -esf
    step = centres_mm[1] - centres_mm[0]
    lsf = np.gradient(esf, step)
    centre = 0.0
    if mirror_side:
        near = np.abs(centres_mm) < 2.0
        located = gaussian_filter1d(lsf, 0.25 / step)   # the peak of a lightly smoothed LSF marks the centre
        i = int(np.argmax(np.where(near, located, -np.inf)))
        if 0 < i < len(lsf) - 1:
            a, b, c = located[i - 1], located[i], located[i + 1]
            shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
            centre = centres_mm[i] + float(np.clip(shift, -0.5, 0.5)) * step
        lsf = np.interp(centre + mirror_side * np.abs(centres_mm - centre), centres_mm, lsf)
    # flat-topped (Tukey) window: the LSF is left untouched within +-tail_mm, rolled off over 2 mm beyond
    rel = np.abs(centres_mm - centre)
    cosine = 0.5 * (1 + np.cos(np.pi * (rel - tail_mm) / 2.0))
    taper = np.where(rel < tail_mm, 1.0, np.where(rel < tail_mm + 2.0, cosine, 0.0))
    lsf = lsf * taper
    freqs = np.linspace(0.0, f_max_per_mm, n_freq)
    phase = np.exp(-2j * np.pi * np.outer(freqs, centres_mm - centre))
    # undo the central difference's own transfer function, sin(2 pi f h) / (2 pi f h)
    spectrum = np.abs(phase @ lsf) * step / np.maximum(np.sinc(2 * freqs * step), 0.2)
    if spectrum[0] <= 0:
        raise ValueError("edge has no contrast")
    return MTFCurve(freqs, spectrum / spectrum[0])
