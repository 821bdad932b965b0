"""Does a harmonized image still explain the scan it came from? Checks that need no ground truth.

For an input ``x`` (the scan) and an output ``y`` (the harmonized image, meant to be the unblurred, noise-free
truth):

- **soft-tissue level**: the mean HU over the body's uniform soft tissue (``noise.soft_tissue``) is kept;
- **noise**: the residual after a 2-pixel Gaussian over the same tissue (the texture a reader sees) does
  not rise;
- **edges**: at strong edges (bone, lung, skin) the output, re-blurred with the input's MTF, does not
  overshoot or undershoot the levels on either side by more than the input does. The levels are the input's
  own, read in a median-filtered copy (separable 5 x 5) and spread over 7 x 7; each image's excursion beyond them is its
  99th percentile over the edge band. Re-blurred, because the truth itself exceeds a smooth kernel's levels
  wherever it is sharper than the scan (a thin rib cortex, a vessel): on a held-out phantom's Br32f scan the
  truth exceeded them by 108 HU, its re-blurred copy fell 25 HU short, and ringing (unsharp masking) added
  354 HU even after the re-blur;
- **re-blur**: ``y`` blurred with the input's MTF should be the scan without its noise, so the residual
  ``x - blur(y)`` over uniform soft tissue (``uniform_tissue``) has about the input's noise SD. It asks
  ``y`` to be the truth: the input itself (``y = x``) does not pass it, as ``x - blur(x)`` holds structure;
  and that residual holds no structure (a blob, an edge): its largest 2 mm local mean in robust SDs.

``CHECKS`` holds each check's limit; ``behaviour`` returns every value, its limit and whether it holds.

A series (``series_behaviour``, the app's consistency guard) is checked on slices no more than
``GUARD_SLICE_STEP_MM`` apart; its values are the slices' medians (the structure checks: their maximum, a blob
is in one place), and two more checks ask whether the lungs' biomarkers are explained: the output re-blurred
with the input's MTF, plus noise of the input's NPS shape at the lungs' own noise level, must give the input's
LAA-950 and Perc15 (the **forward model**: what the scanner would have made of the output).
``SERIES_CHECKS`` holds their provisional limits. A model card's calibrated limits may give a structure check a
``TailLimit`` (its per-slice tail) instead of a number: its limit then follows the number of slices checked,
as the largest of many slices is larger than the largest of a few.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .biomarkers import lung_biomarkers
from .noise import LOCAL_ROI_MM, local_sd_map, sd_mode, soft_tissue
from .parallel import thread_map

NOISE_SIGMA_PX = 2.0
REBLUR_EDGE_MARGIN_MM = 3.0
UNIFORM_HU_PER_MM = 30.0
STRUCTURE_SIGMA_MM = 2.0
# Structure is counted in the residual's robust SD, and at high dose that SD is small (the 2 mm local mean's:
# 1.3-2.9 HU, 5th-95th percentile, over calm soft tissue of the validation series): a few HU of anatomy the
# model draws a little differently would read as a blob. Below this floor a local mean is not structure; it is
# chosen on validation slices so that the statistic does not follow the input's noise level (see docs/safety.md).
STRUCTURE_FLOOR_HU = 2.5
EDGE_HU_PER_MM = 300.0     # gradient of the 5x5-median input that marks a strong edge (bone, lung, skin)

CHECKS = {
    "soft_tissue_shift_hu": 3.0,          # |mean(y) - mean(x)| over soft tissue
    "noise_ratio": 1.0,                   # residual noise of y over that of x
    "new_overshoot_hu": 20.0,             # blur(y)'s excursion beyond the input's edge levels, minus x's
    "reblur_residual_ratio": 1.2,         # SD of x - blur(y) over x's noise SD
    "reblur_structure": 15.0,             # x - blur(y): its largest 2 mm local mean in robust SDs
}

# The series guard's limits (provisional until calibrated on validation phantoms: see SERIES_CHECKS_NOTE)
SERIES_CHECKS = {
    "soft_tissue_shift_hu": 3.0,
    "noise_ratio": 1.0,
    "new_overshoot_hu": 20.0,
    "reblur_residual_ratio": 1.2,
    "reblur_structure": 15.0,
    "reblur_structure_lung": 15.0,        # the same in the lungs, 2 mm inside their edge
    "forward_laa950_percent": 1.0,        # |LAA-950 of blur(y) + noise - LAA-950 of x|
    "forward_perc15_hu": 10.0,            # the same for Perc15
}
OPTIONAL = {"reblur_structure_lung", "forward_laa950_percent", "forward_perc15_hu"}   # no lungs: not applicable
MAXIMA = {"reblur_structure", "reblur_structure_lung"}    # a series' value is its slices' maximum (else median)
GUARD_SLICE_STEP_MM = 4.0
MIN_GUARD_SLICES = 8
LUNG_MARGIN_MM = 2.0


def blur_with_mtf(image: np.ndarray, frequencies_per_mm: np.ndarray, mtf: np.ndarray, spacing_mm,
                  pad_px: int = 32) -> np.ndarray:
    """``image`` (rows, cols) filtered by the radially symmetric ``mtf`` sampled at ``frequencies_per_mm``
    (held at its last value beyond), padded by ``pad_px`` of air so that nothing wraps (a CT kernel's point
    spread is a few mm)."""
    rows, cols = image.shape
    shape = (_fast_len(rows + 2 * pad_px), _fast_len(cols + 2 * pad_px))
    pad = np.full(shape, -1000.0)
    pad[:rows, :cols] = image
    fy = np.fft.fftfreq(shape[0], float(spacing_mm[0]))[:, None]
    fx = np.fft.rfftfreq(shape[1], float(spacing_mm[1]))[None, :]
    h = np.interp(np.hypot(fy, fx), frequencies_per_mm, mtf)
    return np.fft.irfft2(np.fft.rfft2(pad) * h, s=shape)[:rows, :cols]


def _fast_len(n: int) -> int:
    from scipy.fft import next_fast_len

    return next_fast_len(n, real=True)


def _median5_along(image: np.ndarray, axis: int) -> np.ndarray:
    """The 5-pixel running median along ``axis`` (borders mirrored, as ``scipy.ndimage.median_filter``'s
    default): the median of a0..a4 is the median of a2, the larger of min(a0, a1) and min(a3, a4), and the
    smaller of max(a0, a1) and max(a3, a4); seven element-wise comparisons instead of a selection per pixel."""
    pad = [(0, 0)] * image.ndim
    pad[axis] = (2, 2)
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(image, pad, mode="symmetric"), 5, axis=axis)
    a0, a1, a2, a3, a4 = np.moveaxis(windows, -1, 0)
    lo = np.maximum(np.minimum(a0, a1), np.minimum(a3, a4))
    hi = np.minimum(np.maximum(a0, a1), np.maximum(a3, a4))
    return np.maximum(np.minimum(a2, lo), np.minimum(np.maximum(a2, lo), hi))


def median5(image: np.ndarray) -> np.ndarray:
    """The separable 5 x 5 median (a 5-pixel median along rows, then along columns) the edge and level checks
    read the input through: noise off, edges kept, at a quarter of the square median's cost."""
    return _median5_along(_median5_along(np.asarray(image, np.float32), 1), 0)


def uniform_tissue(x: np.ndarray, tissue: np.ndarray, pixel_mm: float, med: np.ndarray | None = None) -> np.ndarray:
    """``tissue`` away from every edge of the input (``UNIFORM_HU_PER_MM`` in a 5 x 5-median, 1 mm-Gaussian
    copy, with a ``REBLUR_EDGE_MARGIN_MM`` margin): where a few per cent of MTF error, or an artefact of the
    scan that the truth does not hold, would leave an edge in the re-blur residual."""
    smooth = ndi.gaussian_filter(median5(x) if med is None else med, 1.0 / pixel_mm)
    edges = np.hypot(*np.gradient(smooth, pixel_mm)) > UNIFORM_HU_PER_MM
    return tissue & ~ndi.binary_dilation(edges, iterations=max(1, int(round(REBLUR_EDGE_MARGIN_MM / pixel_mm))))


def _roi_px(pixel_mm: float) -> int:
    return max(3, int(round(LOCAL_ROI_MM / pixel_mm)) | 1)


def whole_rois(mask: np.ndarray, pixel_mm: float) -> np.ndarray:
    """Pixels of ``mask`` whose whole local ROI (``LOCAL_ROI_MM`` square) lies in it."""
    size = _roi_px(pixel_mm)
    return ndi.binary_erosion(mask, structure=np.ones((size, size), bool))


def residual_noise(image: np.ndarray, mask: np.ndarray, pixel_mm: float, whole: np.ndarray | None = None) -> float:
    """Noise of ``image`` over ``mask``: the residual after a 2-pixel Gaussian, its local SDs' mode
    (``noise.sd_mode``: edges in the mask add only a tail, as for the global noise). ``whole``: ``whole_rois``
    of ``mask``, when already at hand."""
    img = image.astype(np.float64)
    resid = img - ndi.gaussian_filter(img, NOISE_SIGMA_PX)
    whole = whole_rois(mask, pixel_mm) if whole is None else whole
    return sd_mode(local_sd_map(resid, _roi_px(pixel_mm))[whole])


def structure(residual: np.ndarray, mask: np.ndarray, pixel_mm: float, local: np.ndarray | None = None) -> float:
    """Largest local mean (a 2 mm Gaussian) of ``residual`` over ``mask``, in robust SDs of that local mean
    (1.4826 MAD) taken together with ``STRUCTURE_FLOOR_HU``: ``max |local - median| / hypot(SD, floor)``.
    Measured with the truth as the output (2 chest phantoms x Br32f/Br40f/Br64f x 1.3/6.5 mGy, no floor):
    3.7-12.2 (the highest where the scan's table streaks reach the back); with a 9 mm, +150 HU disc added to
    that truth: 25-133. ``local``: the residual's 2 mm local mean, when already at hand."""
    local = (ndi.gaussian_filter(residual, STRUCTURE_SIGMA_MM / pixel_mm) if local is None else local)[mask]
    if len(local) < 200:
        return float("nan")
    centre = np.median(local)
    spread = 1.4826 * np.median(np.abs(local - centre))
    return float(np.abs(local - centre).max() / (np.hypot(spread, STRUCTURE_FLOOR_HU) + 1e-9))


def edge_band(reference: np.ndarray, pixel_mm: float, med: np.ndarray | None = None) -> np.ndarray:
    """Pixels within 2 pixels of a strong edge of the median-filtered ``reference``."""
    med = median5(reference) if med is None else med
    grad = np.hypot(*np.gradient(med, pixel_mm))
    return ndi.binary_dilation(grad > EDGE_HU_PER_MM, iterations=2)


def edge_levels(med: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The local levels on either side of an edge: the highest and lowest of the 5 x 5 median over 7 x 7."""
    return ndi.maximum_filter(med, 7), ndi.minimum_filter(med, 7)


def overshoot(reference: np.ndarray, image: np.ndarray, band: np.ndarray, med: np.ndarray | None = None,
              levels: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """99th percentile over ``band`` of how far ``image`` goes beyond the reference's local levels
    (``edge_levels``, computed here unless given)."""
    if not band.any():
        return 0.0
    hi, lo = edge_levels(median5(reference) if med is None else med) if levels is None else levels
    excess = np.maximum(image[band] - hi[band], lo[band] - image[band])
    return float(np.percentile(np.maximum(excess, 0.0), 99))


@dataclass(frozen=True)
class TailLimit:
    """The limit of a check that is a series' maximum over its slices (the structure checks), for any number
    of slices. Its per-slice values above ``threshold`` (their ``1 - probability`` quantile on validation
    slices) fall off exponentially with mean excess ``scale`` (the peaks-over-threshold model of a maximum of
    many near-Gaussian local means), so one slice exceeds t with probability ``probability * exp(-(t -
    threshold) / scale)`` and the largest of n independent slices about n times that. The limit for n slices
    is where that is ``series_false_alarm``: it grows as ``scale * ln n``, so a 300-slice series is held to
    the same false-alarm rate as a 4-slice one (slices of one series are alike, not independent, so the rate
    of a long series is at most that)."""

    threshold: float
    probability: float
    scale: float
    series_false_alarm: float

    def limit(self, n_slices: int) -> float:
        n = max(1, int(n_slices))
        return float(self.threshold + self.scale * np.log(n * self.probability / self.series_false_alarm))

    @classmethod
    def fit(cls, per_slice, series_false_alarm: float, probability: float = 0.1) -> TailLimit:
        v = np.asarray(per_slice, float)
        v = v[np.isfinite(v)]
        threshold = float(np.quantile(v, 1.0 - probability))
        excess = v[v > threshold] - threshold
        return cls(round(threshold, 4), probability, round(float(excess.mean()), 4), series_false_alarm)

    def to_json(self) -> dict:
        return {"threshold": self.threshold, "probability": self.probability, "scale": self.scale,
                "series_false_alarm": self.series_false_alarm}


def resolve_limit(limit, n_slices: int) -> float:
    """A card's limit for a series of ``n_slices`` checked slices: a number as it is, a ``TailLimit``'s fields
    (a dict) as that tail's limit for n slices."""
    return TailLimit(**limit).limit(n_slices) if isinstance(limit, dict) else float(limit)


def measured_slices(per_slice) -> int:
    """How many of a check's per-slice values were measurable (finite): the n its tail limit is for."""
    return int(np.isfinite(np.asarray(per_slice, float)).sum())


@dataclass
class Check:
    value: float
    limit: float
    optional: bool = False      # a value that cannot be measured (NaN) passes: the check does not apply
    per_slice: tuple[float, ...] = ()       # each checked slice's value (NaN: not measurable there)

    @property
    def applies(self) -> bool:
        return bool(np.isfinite(self.value)) or not self.optional

    @property
    def holds(self) -> bool:
        if not np.isfinite(self.value):
            return self.optional
        return bool(self.value <= self.limit)

    def to_json(self) -> dict:
        value = round(float(self.value), 4) if np.isfinite(self.value) else None
        out = {"value": value, "limit": round(float(self.limit), 4), "holds": self.holds, "applies": self.applies}
        if self.per_slice:
            out["slices_measured"] = measured_slices(self.per_slice)
        return out


def _slice_values(x: np.ndarray, y: np.ndarray, spacing_mm, frequencies_per_mm, mtf, noise_sd_hu: float,
                  lung: np.ndarray | None = None) -> tuple[dict, np.ndarray | None]:
    """Every per-slice value, and the re-blurred output ``blur(y)`` (None where the slice has too little soft
    tissue to be checked: every value is then NaN)."""
    pixel = float(min(spacing_mm))
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    tissue = soft_tissue(x.astype(np.float32), pixel)
    names = list(CHECKS) + ["reblur_structure_lung"]
    if tissue.sum() < 200:
        return {name: float("nan") for name in names}, None
    med = median5(x)
    band = edge_band(x, pixel, med)
    blurred = blur_with_mtf(y, frequencies_per_mm, mtf, spacing_mm)
    residual = x - blurred
    calm = uniform_tissue(x, tissue, pixel, med)
    whole = whole_rois(tissue, pixel)
    levels = edge_levels(med) if band.any() else None
    local = ndi.gaussian_filter(residual, STRUCTURE_SIGMA_MM / pixel)
    values = {
        "soft_tissue_shift_hu": abs(float(y[tissue].mean() - x[tissue].mean())),
        "noise_ratio": residual_noise(y, tissue, pixel, whole) / residual_noise(x, tissue, pixel, whole),
        "new_overshoot_hu": overshoot(x, blurred, band, med, levels) - overshoot(x, x, band, med, levels),
        "reblur_residual_ratio": float(residual[calm].std()) / noise_sd_hu if calm.sum() >= 200 else float("nan"),
        "reblur_structure": structure(residual, calm, pixel, local),
        "reblur_structure_lung": float("nan"),
    }
    if lung is not None and lung.any():
        inner = ndi.binary_erosion(lung, iterations=max(1, int(round(LUNG_MARGIN_MM / pixel))))
        values["reblur_structure_lung"] = structure(residual, inner, pixel, local)
    return values, blurred


def behaviour(x: np.ndarray, y: np.ndarray, spacing_mm, frequencies_per_mm: np.ndarray, mtf: np.ndarray,
              noise_sd_hu: float) -> dict[str, Check]:
    """The checks above on one slice: input ``x`` and output ``y`` in HU, the input's MTF and noise SD."""
    values, _ = _slice_values(x, y, spacing_mm, frequencies_per_mm, mtf, noise_sd_hu)
    return {name: Check(values[name], CHECKS[name]) for name in CHECKS}


def guard_slices(n_slices: int, slice_spacing_mm: float | None) -> np.ndarray:
    """Indices of the slices a series is checked on: evenly spread, at most ``GUARD_SLICE_STEP_MM`` apart
    (every slice of a thick-slice series), and never fewer than ``MIN_GUARD_SLICES``."""
    spacing = slice_spacing_mm or GUARD_SLICE_STEP_MM
    count = int(np.ceil((n_slices - 1) * spacing / GUARD_SLICE_STEP_MM)) + 1
    count = min(n_slices, max(count, MIN_GUARD_SLICES))
    return np.unique(np.linspace(0, n_slices - 1, count).round().astype(int))


def synthetic_noise(shape, spacing_mm, nps_frequencies_per_mm, nps_1d, sd_hu: float, seed: int) -> np.ndarray:
    """A Gaussian noise field of SD ``sd_hu`` whose spectrum follows the radial NPS (``physics.noise.nps``)."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(shape)
    fy = np.fft.fftfreq(shape[0], float(spacing_mm[0]))[:, None]
    fx = np.fft.rfftfreq(shape[1], float(spacing_mm[1]))[None, :]
    amplitude = np.sqrt(np.maximum(np.interp(np.hypot(fy, fx), nps_frequencies_per_mm, nps_1d), 0.0))
    field = np.fft.irfft2(np.fft.rfft2(white) * amplitude, s=shape)
    return field * (sd_hu / (field.std() + 1e-12))


def series_behaviour(x_vol: np.ndarray, y_vol: np.ndarray, spacing_mm, frequencies_per_mm, mtf, noise_sd_hu: float,
                     lungs: np.ndarray | None = None, slice_spacing_mm: float | None = None,
                     nps_frequencies_per_mm=None, nps_1d=None, seed: int = 0,
                     limits: dict | None = None) -> dict[str, Check]:
    """The consistency guard of one series: input ``x_vol`` and output ``y_vol`` (K, rows, cols) in HU, the
    input's measured MTF, noise SD and radial NPS (white noise when None), its lung mask (K, rows, cols).
    Returns ``SERIES_CHECKS``' values: the per-slice medians over ``guard_slices`` (structure: maximum), and the
    forward model's lung biomarkers against the input's (NaN when the slices hold under 2 ml of lung).
    ``limits``: a model card's calibrated limits, over ``SERIES_CHECKS``' provisional ones; a limit given as a
    ``TailLimit``'s fields is resolved for the number of slices the check measured. Each check carries its
    per-slice values."""
    picks = guard_slices(len(x_vol), slice_spacing_mm)

    def one(i: int, k: int):
        """Slice ``k``'s check values and, where it holds lung, the lung HU of the input and of the forward
        model (the ``i``-th checked slice's noise seed)."""
        lung = None if lungs is None else np.asarray(lungs[k], bool)
        values, blurred = _slice_values(x_vol[k], y_vol[k], spacing_mm, frequencies_per_mm, mtf, noise_sd_hu, lung)
        if blurred is None or lung is None or lung.sum() < 200:
            return values, None, None
        # the lungs' own noise: less than soft tissue's (their rays cross less of the body), read as the robust
        # SD of the re-blur residual there (a blob or a shift moves the residual's tail or centre, not its MAD)
        residual = np.asarray(x_vol[k], np.float64)[lung] - blurred[lung]
        sd_lung = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
        if nps_1d is None or not np.all(np.isfinite(nps_1d)):
            noise = np.random.default_rng(seed + i).standard_normal(blurred.shape) * sd_lung
        else:
            noise = synthetic_noise(blurred.shape, spacing_mm, nps_frequencies_per_mm, nps_1d, sd_lung, seed + i)
        return values, np.asarray(x_vol[k], np.float64)[lung], (blurred + noise)[lung]

    done = thread_map(one, range(len(picks)), picks)
    rows = [values for values, _, _ in done]
    lung_x = [x for _, x, _ in done if x is not None]
    lung_f = [f for _, _, f in done if f is not None]
    out, per_slice = {}, {}
    for name in SERIES_CHECKS:
        if name.startswith("forward_"):
            continue
        per_slice[name] = tuple(float(r[name]) for r in rows)
        v = np.array(per_slice[name], float)
        v = v[np.isfinite(v)]
        out[name] = float("nan") if not v.size else float(v.max() if name in MAXIMA else np.median(v))
    pixel_ml = float(spacing_mm[0] * spacing_mm[1]) / 1000.0
    if lung_x and sum(len(v) for v in lung_x) * pixel_ml >= 2.0:
        bx = lung_biomarkers(np.concatenate(lung_x), np.ones(sum(len(v) for v in lung_x), bool), 1.0)
        bf = lung_biomarkers(np.concatenate(lung_f), np.ones(sum(len(v) for v in lung_f), bool), 1.0)
        out["forward_laa950_percent"] = abs(bf["laa950_percent"] - bx["laa950_percent"])
        out["forward_perc15_hu"] = abs(bf["perc15_hu"] - bx["perc15_hu"])
    else:
        out["forward_laa950_percent"] = out["forward_perc15_hu"] = float("nan")
    limits = {**SERIES_CHECKS, **{k: v for k, v in (limits or {}).items() if v is not None}}
    checks = {}
    for name in SERIES_CHECKS:
        slices = per_slice.get(name, ())
        measured = measured_slices(slices) if slices else 1
        checks[name] = Check(out[name], resolve_limit(limits[name], measured), name in OPTIONAL, slices)
    return checks
