"""From edge-spread samples to an MTF: oversampled ESF -> LSF -> |FFT|, the core every edge method shares.

Sanders et al., Med Phys 43(10), 2016 (after Judy 1976 and Samei et al. 1998): ESF samples from many
edge positions are binned by their signed distance to the edge (``bin_mm`` << pixel, so the ESF is
oversampled), the noisy tails are replaced by their plateau levels, the ESF is differentiated into the
line-spread function (LSF), windowed, Fourier transformed and normalised to 1 at zero frequency.

A bin's level is the mean of its samples, or (``statistic="robust"``) a level that a few bright pixels (a
gown's, a streak's) and a stored floor do not move (``censored_location``). CT pixel data with a rescale
intercept of -1024 hold no value below -1024 HU, so noisy air next to the skin is cut off from below and its
mean reads high, by more the noisier it is. A bin's middle half is unmoved while under a quarter of it is
at the floor, its median while under half; beyond, its level is read, as a normal's, from two quantiles
above the floor. A bin nearly all at the floor has no level to read: ``floored_share`` says where.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.special import ndtri

CENTRE_SMOOTH_MM = 0.5     # the LSF is smoothed by this much to find its peak (the mirror's centre)
FLOOR_TOLERANCE_HU = 0.5   # a sample this close to the stored floor is at it
CENSORED_SWITCH = 0.45     # above this share of a bin at the floor, its level is read from the quantiles above
CENSORED_LIMIT = 0.97      # ... up to this share: beyond it too few samples are left to read it from


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
               bin_mm: float = 0.1, statistic: str = "mean", floor_hu: float | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Level of ``values`` in bins of signed distance (``statistic``: "mean", or "robust": ``censored_location``
    under the stored ``floor_hu``); empty bins are interpolated. Returns (centres, esf)."""
    edges = np.arange(-half_width_mm, half_width_mm + bin_mm / 2, bin_mm)
    centres = 0.5 * (edges[:-1] + edges[1:])
    idx = np.digitize(distance_mm, edges) - 1
    ok = (idx >= 0) & (idx < len(centres))
    idx, distance_mm, values = idx[ok], distance_mm[ok], np.asarray(values, np.float64)[ok]
    where = np.bincount(idx, weights=distance_mm, minlength=len(centres))
    counts = np.bincount(idx, minlength=len(centres))
    filled = counts > 0
    if filled.sum() < 2:
        raise ValueError("too few edge samples to form an ESF")
    if statistic == "mean":
        level = np.bincount(idx, weights=values, minlength=len(centres)) / np.maximum(counts, 1)
    elif statistic == "robust":
        level = censored_location(idx, values, len(centres), floor_hu)
    else:
        raise ValueError(f"statistic must be 'mean' or 'robust', not {statistic!r}")
    # each bin's level sits at its samples' mean distance, not at the bin centre: pixel grids fill a bin
    # unevenly, and that offset would otherwise be read as blur
    esf = np.interp(centres, where[filled] / counts[filled], level[filled])
    return centres, esf


def censored_location(idx: np.ndarray, values: np.ndarray, n_bins: int, floor_hu: float | None = None) -> np.ndarray:
    """Per bin (``idx`` in ``0..n_bins-1``) a level of ``values`` that neither a few bright samples nor a stored
    floor ``floor_hu`` moves, for noise symmetric about the level:

    - the interquartile mean (the mean of the middle half: nearly as precise as the mean under normal noise)
      while under a quarter of the bin is at the floor;
    - the median while under ``CENSORED_SWITCH``;
    - beyond, up to ``CENSORED_LIMIT`` in a bin of 12 samples or more, the centre of the normal whose quantiles
      at two levels above the floor's share p (p + (1-p)/3 and p + 2(1-p)/3) are the bin's own;
    - further at the floor, the median: the floor itself, a level it does not know."""
    if np.all(values[1:] >= values[:-1]):      # sorted by value already: a stable sort by bin keeps it so
        order = np.argsort(idx.astype(np.int16 if n_bins < 2 ** 15 else np.int64), kind="stable")
    else:
        order = np.lexsort((values, idx))
    ordered = values[order]
    n = np.bincount(idx, minlength=n_bins)
    start = np.concatenate([[0], np.cumsum(n)[:-1]])
    last = start + np.maximum(n, 1) - 1

    def quantile(level: np.ndarray) -> np.ndarray:
        pos = start + level * (np.maximum(n, 1) - 1)
        lo = np.clip(np.floor(pos).astype(np.int64), 0, len(ordered) - 1)
        hi = np.clip(np.minimum(lo + 1, last), 0, len(ordered) - 1)
        return ordered[lo] + (pos - np.floor(pos)) * (ordered[hi] - ordered[lo])

    median = quantile(np.full(n_bins, 0.5))
    total = np.concatenate([[0.0], np.cumsum(ordered)])
    first = start + np.ceil(0.25 * (n - 1)).astype(np.int64)          # the middle half: ranks first .. end-1
    end = np.minimum(start + np.floor(0.75 * (n - 1)).astype(np.int64) + 1, len(ordered))
    middle = np.where((n > 0) & (end > first),
                      (total[end] - total[np.minimum(first, end)]) / np.maximum(end - first, 1), median)
    if floor_hu is None or not len(values):
        return middle
    p = floored_share(idx, values, n_bins, floor_hu)
    a, b = p + (1 - p) / 3, p + 2 * (1 - p) / 3
    za, zb = ndtri(np.clip(a, 1e-6, 1 - 1e-6)), ndtri(np.clip(b, 1e-6, 1 - 1e-6))
    qa, qb = quantile(a), quantile(b)
    censored = qa - za * (qb - qa) / np.maximum(zb - za, 1e-6)
    read = (p > CENSORED_SWITCH) & (p < CENSORED_LIMIT) & (n >= 12)
    return np.where(p < 0.25, middle, np.where(read, censored, median))


def floored_share(idx: np.ndarray, values: np.ndarray, n_bins: int, floor_hu: float) -> np.ndarray:
    """Share of each bin's samples at the stored floor."""
    n = np.bincount(idx, minlength=n_bins)
    return np.bincount(idx, weights=values <= floor_hu + FLOOR_TOLERANCE_HU, minlength=n_bins) / np.maximum(n, 1)


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
        # the peak of a smoothed LSF marks the centre: smoothed enough that the noise does not choose it (a
        # peak pushed outwards by the noise mirrors a narrower LSF)
        located = gaussian_filter1d(lsf, CENTRE_SMOOTH_MM / step)
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
