"""Patient-specific MTF from the skin-air boundary (Sanders et al., Med Phys 43(10) 5330, 2016).

For evenly spaced slices: segment the body, trace the skin-air edge as a sub-pixel contour (the -500 HU
iso-line of a lightly smoothed image), smooth that contour along its arc length (the skin is smooth at the
millimetre scale, the noise in a single crossing is not), and give every pixel near the edge its signed
distance to the contour, positive outwards. Profiles (the contour's normals, one per pixel of arc length)
are rejected when something other than air lies outside within ``REACH_MM`` (table, arms, clothing, the
field's border) or when the inside is not soft tissue (air pockets, bone). Pixels of accepted profiles form
one oversampled ESF; its tails are replaced by their plateaus and the air half of its derivative, mirrored
(skin over fat makes the patient's half uneven), is the LSF, whose spectrum is the MTF.

Returned: 64 samples from 0 to the Nyquist frequency, f50/f10 from the fine curve (they may lie above
Nyquist for sharp kernels: the oversampled ESF measures the presampled MTF), f50's standard deviation from
the noise (``f50_noise_sd``), the profile count and a quality flag with the reason when the edge is
unusable. Slices are added until ``TARGET_PROFILES`` clean profiles are in (at most ``MAX_SLICES``), so a
long series costs no more than a short one.

Noise is kept from choosing what is read: a profile's air is judged clean on a 1 mm smoothed image (on the
noisy one, profiles whose air happened to read low were the ones kept, and the air half of the edge read
dark), the ESF's bins are read robustly (``physics.esf``: the middle half, the median, or quantiles above
the stored floor of -1024 HU that cuts noisy air off from below), and the mirror's centre is the peak of a
0.5 mm smoothed LSF. Where the air next to the skin is at the stored floor over ``FLOORED_MM`` or more (an
edge-enhancing kernel's undershoot, cut off), the edge is said to be unusable: the part of it that sets f50
is not in the data.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree
from skimage.measure import find_contours

from .esf import FLOOR_TOLERANCE_HU, MTFCurve, binned_esf, floored_share, mtf_from_esf
from .masks import AIR_SKIN_THRESHOLD_HU, body_mask_2d
from .parallel import thread_imap

N_FREQUENCIES = 64
REACH_MM = 10.0           # half-length of a profile across the edge
CONTOUR_STEP_MM = 0.2     # arc-length sampling of the smoothed contour
ARC_SMOOTH_MM = 1.5       # Gaussian smoothing of the contour along its arc
CONTOUR_SMOOTH_MM = 0.7   # Gaussian smoothing of the image the contour is traced on
MIN_PROFILES = 150
TARGET_PROFILES = 6000
MAX_SLICES = 24
OUTLIER_MADS = 6.0        # air-side outlier profiles: beyond this many MADs of the profiles' excess
MIN_RADIUS_MM = 20.0      # profiles where the skin bends tighter (folds, breasts' edges) are left out
MAX_Z_BLUR_MM = 0.6       # profiles whose skin tilts so that the slice averages edges further apart: rejected
SECTORS = 8               # the outline's sectors (by angle round the body) whose own f50s are compared
SECTOR_TOLERANCE = 0.15   # sectors whose f50s agree within this read one edge; the largest such group is kept
MIN_SECTOR_SAMPLES = 1500
AGREE_SIGMAS = 3.0        # sectors told apart only by a difference beyond this many SDs of their noise
SECTOR_SPLIT = 16         # slivers per sector, alternated into two halves, to read a sector's own noise
AIR_SMOOTH_MM = 1.0       # a profile's air is judged clean on the image smoothed by this much
FLOORED_SHARE = 0.9       # a bin of the edge's air side with this share of its samples at the stored floor ...
FLOORED_MM = 0.8          # ... over this much of the first FLOOR_SEARCH_MM outside the skin: unusable
FLOOR_SEARCH_MM = 3.0
QUARTERS = 4              # interleaved parts of the outline whose f50s give the estimate's noise
STATS = ("outline", "cut", "air", "profiles", "pixels", "body", "tilted")   # what the slices count


@dataclass
class MTFResult:
    frequencies_per_mm: np.ndarray
    mtf: np.ndarray
    f50_per_mm: float
    f10_per_mm: float
    profiles: int
    quality: dict = field(default_factory=lambda: {"usable": True, "reason": None})
    f50_sd_per_mm: float = float("nan")   # f50's standard deviation from the noise (NaN: not read)

    @property
    def usable(self) -> bool:
        return bool(self.quality["usable"])

    def to_json(self) -> dict:
        def num(v):
            return None if v is None or not np.isfinite(v) else round(float(v), 5)

        return {
            "frequencies_per_mm": [round(float(f), 5) for f in self.frequencies_per_mm],
            "mtf": [None if not np.isfinite(m) else round(float(m), 5) for m in self.mtf],
            "f50_per_mm": num(self.f50_per_mm),
            "f10_per_mm": num(self.f10_per_mm),
            "f50_sd_per_mm": num(self.f50_sd_per_mm),
            "profiles": int(self.profiles),
            "quality": self.quality,
        }


def _unusable(nyquist: float, profiles: int, reason: str) -> MTFResult:
    f = np.linspace(0.0, nyquist, N_FREQUENCIES)
    return MTFResult(f, np.full(N_FREQUENCIES, np.nan), float("nan"), float("nan"), profiles,
                     {"usable": False, "reason": reason})


def _resample_closed(points_mm: np.ndarray, closed: bool) -> np.ndarray:
    """Resample a polyline at ``CONTOUR_STEP_MM`` of arc length and smooth it by ``ARC_SMOOTH_MM``."""
    seg = np.hypot(*np.diff(points_mm, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] < 4 * REACH_MM:
        return np.empty((0, 2))
    u = np.arange(0.0, s[-1], CONTOUR_STEP_MM)
    pts = np.stack([np.interp(u, s, points_mm[:, 0]), np.interp(u, s, points_mm[:, 1])], axis=1)
    return ndi.gaussian_filter1d(pts, ARC_SMOOTH_MM / CONTOUR_STEP_MM, axis=0, mode="wrap" if closed else "nearest")


def _runs(on: np.ndarray, closed: bool) -> list[np.ndarray]:
    """Index runs where ``on`` holds along a contour (a closed contour's run may wrap past its end)."""
    n = len(on)
    if on.all():
        return [np.arange(n)]
    idx = np.arange(n)
    if closed:
        idx = np.roll(idx, -int(np.argmin(on)))     # start at a point off the body: no run wraps
    flags = on[idx]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return [idx[a:b] for a, b in zip(edges[::2], edges[1::2])]


def _crossing(prof: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Position along ``t`` where each profile (rows, falling outwards) crosses the skin-air threshold
    nearest ``t = 0``; NaN where it does not cross."""
    above = prof > AIR_SKIN_THRESHOLD_HU
    change = above[:, :-1] & ~above[:, 1:]
    mid = 0.5 * (t[:-1] + t[1:])
    dist = np.where(change, np.abs(mid)[None, :], np.inf)
    j = np.argmin(dist, axis=1)
    ok = np.isfinite(dist[np.arange(len(prof)), j])
    rows = np.arange(len(prof))
    a, b = prof[rows, j], prof[rows, j + 1]
    frac = (a - AIR_SKIN_THRESHOLD_HU) / np.where(a != b, a - b, 1.0)
    return np.where(ok, t[j] + frac * (t[1] - t[0]), np.nan)


def _outliers(side: np.ndarray, sign: float = 1.0) -> np.ndarray:
    """Profiles one side of whose edge holds what the others' do not: the largest 2 mm mean of a profile's
    departure from the median profile (``sign`` +1: above it, -1: below it), against the spread of that
    statistic over all profiles (median + ``OUTLIER_MADS`` MADs)."""
    if len(side) < 20:
        return np.zeros(len(side), bool)
    excess = ndi.uniform_filter1d(sign * (side - np.median(side, axis=0)), 4, axis=1).max(axis=1)
    med = np.median(excess)
    mad = 1.4826 * np.median(np.abs(excess - med)) + 1e-6
    return excess > med + OUTLIER_MADS * mad


def _air_side_outliers(outside: np.ndarray) -> np.ndarray:
    """Profiles whose air side holds something the others' do not (a gown, a blanket, a cable a little off
    the skin): brighter than the median profile there."""
    return _outliers(outside, +1.0)


def _body_side_outliers(inside: np.ndarray) -> np.ndarray:
    """Profiles whose body side, next to the edge, is darker than the others' (a gown or blanket lying on
    the skin, denser than the edge threshold, so that the iso-line runs round it: the step is then the
    cloth's, not the skin's)."""
    return _outliers(inside, -1.0)


def _edge_samples(img: np.ndarray, spacing: tuple[float, float], stats: dict, neighbours=(), z_ratio: float = 1.0,
                  floor_hu: float | None = None, values_from: np.ndarray | None = None):
    """Signed distances (mm, + outwards), values, z-blur widths (mm) and angles round the body's centre
    (radians) of the pixels next to accepted skin-air profiles. The values are read from ``values_from``
    where given (an image on the same grid: the object a noise-free scan was made of), else from ``img``.

    ``neighbours``: the adjacent slices. With both, the contour is traced on the three slices' mean. The
    skin's tilt along z is read on them: the same profile's edge moves by ``dr`` from one slice to the next,
    so a slice ``z_ratio`` spacings thick averages edges up to ``|dr| z_ratio`` apart (a box of that width
    across the edge)."""
    dy, dx = spacing
    body = body_mask_2d(img, pixel_mm=min(dx, dy))
    stats["air"] += int(((img < AIR_SKIN_THRESHOLD_HU) & ~body).sum())
    if body.sum() < 500:
        return None
    stats["body"] += 1
    rows, cols = img.shape
    outline = body & ~ndi.binary_erosion(body)
    border = np.zeros_like(body)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    stats["outline"] += int(outline.sum())
    stats["cut"] += int((outline & ndi.binary_dilation(border, iterations=2)).sum())

    # the body's edge as sub-pixel contours of a lightly smoothed image, in mm (x along columns, y along rows):
    # the stretches of each iso-line that follow the body's outline (an iso-line may also run round a gown
    # or an arm touching the body, away from it). Where the slice has both neighbours, the image traced is the
    # three slices' mean: a third of the noise variance for the contour to follow, while the values placed are
    # still the slice's own; a skin tilting along z moves the two neighbours' edges by opposite amounts, which
    # the mean cancels
    sigma = (CONTOUR_SMOOTH_MM / dy, CONTOUR_SMOOTH_MM / dx)
    traced = img if len(neighbours) < 2 else (img + neighbours[0] + neighbours[1]) / 3.0
    smooth = ndi.gaussian_filter(traced, sigma)
    near_outline = ndi.binary_dilation(outline, iterations=2)
    curves = []
    for c in find_contours(smooth, AIR_SKIN_THRESHOLD_HU):
        on_body = near_outline[np.clip(np.round(c[:, 0]).astype(int), 0, rows - 1),
                               np.clip(np.round(c[:, 1]).astype(int), 0, cols - 1)]
        closed = bool(np.allclose(c[0], c[-1]))
        for run in _runs(on_body, closed):
            whole = closed and len(run) == len(c)
            pts = _resample_closed(np.stack([c[run, 1] * dx, c[run, 0] * dy], axis=1), whole)
            if len(pts):
                curves.append(pts)
    if not curves:
        return None
    pts = np.concatenate(curves)
    tangent = np.concatenate([np.gradient(p, axis=0) for p in curves])
    bend = np.concatenate([np.gradient(np.gradient(p, axis=0), axis=0) for p in curves])
    curvature = np.abs(tangent[:, 0] * bend[:, 1] - tangent[:, 1] * bend[:, 0]) / \
        np.maximum(np.hypot(*tangent.T), 1e-9) ** 3
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    normal /= np.maximum(np.hypot(*normal.T), 1e-9)[:, None]
    # orient each normal outwards: down the smoothed image
    probe = lambda q: ndi.map_coordinates(smooth, [q[:, 1] / dy, q[:, 0] / dx], order=1, mode="nearest")
    flip = probe(pts + normal) > probe(pts - normal)
    normal[flip] *= -1

    # one profile per pixel of arc length: accept it when the outside is clean air, the inside soft tissue
    every = max(1, int(round(min(dx, dy) / CONTOUR_STEP_MM)))
    centre, nrm = pts[::every], normal[::every]
    t = np.arange(-REACH_MM, REACH_MM + 1e-9, 0.5)
    q = centre[:, None, :] + t[None, :, None] * nrm[:, None, :]
    qy, qx = q[..., 1] / dy, q[..., 0] / dx
    in_fov = (qy.min(1) >= 0) & (qx.min(1) >= 0) & (qy.max(1) <= rows - 1) & (qx.max(1) <= cols - 1)
    prof = ndi.map_coordinates(img, [qy.ravel(), qx.ravel()], order=1, mode="nearest").reshape(qy.shape)
    inner = prof[:, (t < -2.0) & (t > -REACH_MM + 1)]
    outside = ndi.map_coordinates(ndi.gaussian_filter(img, (AIR_SMOOTH_MM / dy, AIR_SMOOTH_MM / dx)),
                                  [qy[:, t > 2.0].ravel(), qx[:, t > 2.0].ravel()], order=1,
                                  mode="nearest").reshape(len(qy), -1)
    # air 40 HU above its level at most, nothing 150 HU above it. The level is -1000 HU; where the image has a
    # stored floor, which cuts noisy air off from below, smoothing raises it, and it is the profiles' own, no
    # higher than -960 HU. (Without a floor a pad or foam at -950 HU would otherwise pass for air.)
    air_median = np.median(outside, 1)
    air = min(float(np.median(air_median)), -960.0) if floor_hu is not None else -1000.0
    clean_air = (air_median < air + 40.0) & (ndi.uniform_filter1d(outside, 5, axis=1).max(1) < air + 150.0)
    soft = np.abs(np.median(inner, 1)) < 250.0
    straight = curvature[::every] < 1.0 / MIN_RADIUS_MM
    accepted = in_fov & clean_air & soft & straight
    if accepted.any():
        near = prof[accepted]
        odd = _air_side_outliers(near[:, t > 0.0]) | _body_side_outliers(near[:, (t < 0.0) & (t > -6.0)])
        accepted[accepted] = ~odd
    # the skin's tilt along z: its edge in the adjacent slices, along the same normals
    width = np.zeros(len(centre))
    if neighbours and accepted.any():
        tn = np.arange(-4.0, 4.0 + 1e-9, 0.1)
        qn = centre[accepted, None, :] + tn[None, :, None] * nrm[accepted, None, :]
        coords = [qn[..., 1].ravel() / dy, qn[..., 0].ravel() / dx]
        shifts = [_crossing(ndi.map_coordinates(ndi.gaussian_filter(nb, sigma), coords, order=1,
                                                mode="nearest").reshape(qn.shape[:2]), tn) for nb in neighbours]
        per_slice = np.nanmean(np.abs(np.stack(shifts)), axis=0) if len(shifts) == 1 else \
            np.abs(shifts[1] - shifts[0]) / 2.0
        w = per_slice * z_ratio
        width[accepted] = np.where(np.isfinite(w), w, np.inf)
        stats["tilted"] += int((accepted & (width > MAX_Z_BLUR_MM)).sum())
        accepted &= width <= MAX_Z_BLUR_MM
    stats["profiles"] += int(accepted.sum())
    if not accepted.any():
        return None

    # every pixel within reach of the edge: signed distance along the nearest contour point's normal
    band = ndi.binary_dilation(outline, iterations=int(np.ceil(REACH_MM / min(dx, dy))) + 1)
    yy, xx = np.nonzero(band)
    pix = np.stack([xx * dx, yy * dy], axis=1)
    _, nearest = cKDTree(pts).query(pix, distance_upper_bound=REACH_MM)
    hit = nearest < len(pts)
    pix, yy, xx, nearest = pix[hit], yy[hit], xx[hit], nearest[hit]
    profile = np.minimum(nearest // every, len(accepted) - 1)
    keep = accepted[profile]
    along = np.einsum("ij,ij->i", pix - pts[nearest], normal[nearest])
    keep &= np.abs(along) < REACH_MM
    by, bx = np.nonzero(body)
    angle = np.arctan2(yy[keep] - by.mean(), xx[keep] - bx.mean()) % (2 * np.pi)
    values = img if values_from is None else values_from
    return along[keep], values[yy[keep], xx[keep]], width[profile[keep]], angle


def estimate_mtf(volume_hu: np.ndarray, spacing_mm, max_slices: int = MAX_SLICES,
                 target_profiles: int = TARGET_PROFILES, slice_thickness_mm: float | None = None,
                 slice_spacing_mm: float | None = None) -> MTFResult:
    """MTF of an axial CT series from its skin-air boundary.

    ``volume_hu``: ``(K, rows, cols)`` or ``(rows, cols)``, any real dtype; ``spacing_mm``: (row, col) pixel
    spacing, as DICOM PixelSpacing. Never raises on image content: an unusable edge sets ``quality``.

    The in-plane MTF is what is returned: where the skin tilts along z, a slice averages its edge over a
    width ``|dr/dz| x thickness`` (read from the adjacent slices; ``slice_thickness_mm`` /
    ``slice_spacing_mm``, contiguous slices when not given); profiles blurred so beyond ``MAX_Z_BLUR_MM``
    are left out and the others' box blur is divided out of the pooled MTF."""
    vol = np.asarray(volume_hu)
    vol = vol.reshape((-1,) + vol.shape[-2:])
    try:
        dy, dx = float(spacing_mm[0]), float(spacing_mm[1])
    except (TypeError, ValueError, IndexError):
        dy = dx = float("nan")
    if not (np.isfinite(dx) and np.isfinite(dy) and dx > 0 and dy > 0):
        return _unusable(float("nan"), 0, "pixel spacing is not finite and positive")
    nyquist = 0.5 / max(dx, dy)
    if min(vol.shape[-2:]) < 16 or vol.size == 0:
        return _unusable(nyquist, 0, "image too small for an edge measurement")
    z_ratio = 1.0
    if slice_thickness_mm and slice_spacing_mm and slice_thickness_mm > 0 and slice_spacing_mm > 0:
        z_ratio = float(slice_thickness_mm) / float(slice_spacing_mm)
    # slices from the middle outwards, in a fixed order, until enough profiles are in
    n = len(vol)
    order = np.unique(np.linspace(0, n - 1, min(max_slices, n)).round().astype(int))
    order = order[np.argsort(np.abs(order - (n - 1) / 2), kind="stable")]
    stats = dict.fromkeys(STATS, 0)
    floor = stored_floor(vol[k] for k in order)
    dist, vals, widths, angles = [], [], [], []

    def one(k: int):
        """Slice ``k``'s edge samples and counts; (None, None) when it or a neighbour is not finite."""
        img = vol[k].astype(np.float32)
        neighbours = [vol[j].astype(np.float32) for j in (k - 1, k + 1) if 0 <= j < n]
        if not (np.isfinite(img).all() and all(np.isfinite(nb).all() for nb in neighbours)):
            return None, None
        counts = dict.fromkeys(STATS, 0)
        counts["pixels"] = img.size
        return _edge_samples(img, (dy, dx), counts, neighbours, z_ratio, floor), counts

    # the slices run a core's worth at a time; they are taken in order, so where it stops does not depend on it
    for s, counts in thread_imap(one, order):
        if counts is None:
            return _unusable(nyquist, stats["profiles"], "image holds non-finite values")
        for key, value in counts.items():
            stats[key] += value
        if s is not None:
            dist.append(s[0])
            vals.append(s[1])
            widths.append(s[2])
            angles.append(s[3])
        if stats["profiles"] >= target_profiles:
            break
    n_prof = stats["profiles"]
    if not stats["body"]:
        return _unusable(nyquist, n_prof, "no body in the image")
    if stats["air"] < 0.005 * stats["pixels"]:
        return _unusable(nyquist, n_prof, "no air around the patient")
    if n_prof < MIN_PROFILES:
        if stats["outline"] and stats["cut"] > 0.1 * stats["outline"]:
            return _unusable(nyquist, n_prof, "body cut by the field of view")
        if stats["tilted"] > n_prof:
            return _unusable(nyquist, n_prof, f"too few clean skin-air profiles ({n_prof} < {MIN_PROFILES}): the skin "
                             f"tilts along z so that the slices average its edge over more than {MAX_Z_BLUR_MM} mm")
        return _unusable(nyquist, n_prof, f"too few clean skin-air profiles ({n_prof} < {MIN_PROFILES})")
    d, v, w, a = (np.concatenate(x) for x in (dist, vals, widths, angles))
    floored = floored_mm(d, v, floor) if floor is not None else 0.0
    if floored >= FLOORED_MM:
        return _unusable(nyquist, n_prof, f"the air next to the skin is stored at the floor ({floor:.0f} HU) over "
                         f"{floored:.1f} mm: the kernel's undershoot there is cut off, and with it what sets the MTF")
    order = np.argsort(v, kind="stable")     # sorted by value: each bin's quantiles need no sort of their own
    d, v, w, a = d[order], v[order], w[order], a[order]
    pooled = lambda m: z_blur_removed(mtf_from_esf(*binned_esf(d[m], v[m], half_width_mm=REACH_MM, statistic="robust",
                                                               floor_hu=floor),
                                                   tail_mm=REACH_MM - 3.0, f_max_per_mm=max(1.5, 2 * nyquist),
                                                   mirror_side=+1), w[m])
    keep = consistent_sectors(a, pooled)
    curve = pooled(keep)
    f = np.linspace(0.0, nyquist, N_FREQUENCIES)
    return MTFResult(f, np.clip(curve.sample(f), 0.0, None), curve.f50, curve.f10, n_prof,
                     f50_sd_per_mm=f50_noise_sd(a, keep, pooled))


def stored_floor(slices) -> float | None:
    """The value CT pixel data hold for everything at or below it (-1024 HU with a rescale intercept of -1024),
    read from the image: its minimum, when at least 0.1 % of the pixels hold it and it is air (-950 HU or
    below); None when the image holds no such floor."""
    low, at, total = np.inf, 0, 0
    for img in slices:
        m = float(np.min(img))
        if m < low - FLOOR_TOLERANCE_HU:
            low, at = m, 0
        at += int(np.count_nonzero(img <= low + FLOOR_TOLERANCE_HU)) if m <= low + FLOOR_TOLERANCE_HU else 0
        total += img.size
    return low if total and low <= -950.0 and at >= 1e-3 * total else None


def floored_mm(distance_mm: np.ndarray, values: np.ndarray, floor_hu: float, bin_mm: float = 0.1) -> float:
    """How much of the first ``FLOOR_SEARCH_MM`` outside the skin is at the stored floor: the 0.1 mm bins of
    the edge with ``FLOORED_SHARE`` or more of their samples there. Zero where the air further out (5-9 mm)
    is itself mostly at the floor: that is the air's own level, not an undershoot cut off."""
    far = (distance_mm > 5.0) & (distance_mm < 9.0)
    if not far.any() or np.mean(values[far] <= floor_hu + FLOOR_TOLERANCE_HU) >= 0.5:
        return 0.0
    idx = np.floor(distance_mm / bin_mm).astype(np.int64)
    n_bins = int(round(FLOOR_SEARCH_MM / bin_mm))
    near = (idx >= 0) & (idx < n_bins)
    return float((floored_share(idx[near], values[near], n_bins, floor_hu) >= FLOORED_SHARE).sum() * bin_mm)


def _sliver(angles: np.ndarray) -> np.ndarray:
    """Index of each sample's sliver round the body: ``SECTORS * SECTOR_SPLIT`` of them, ``SECTOR_SPLIT`` a sector
    (the outline's parts whose noise is independent while their edge is the same)."""
    return (angles / (2 * np.pi) * SECTORS * SECTOR_SPLIT).astype(int)


def f50_noise_sd(angles: np.ndarray, keep: np.ndarray, mtf_of) -> float:
    """f50's standard deviation from the noise: f50 read on each of ``QUARTERS`` interleaved parts of the kept
    outline (slivers of ``SECTORS * SECTOR_SPLIT`` round the body, dealt in turn), whose spread is twice the
    whole's (four parts, each a quarter of the samples). NaN where a part cannot be read."""
    part = _sliver(angles) % QUARTERS
    read = []
    for q in range(QUARTERS):
        try:
            read.append(mtf_of(keep & (part == q)).f50)
        except ValueError:
            return float("nan")
    f50 = np.array(read)
    return float(np.std(f50, ddof=1) / np.sqrt(QUARTERS)) if np.isfinite(f50).all() else float("nan")


def consistent_sectors(angles: np.ndarray, mtf_of) -> np.ndarray:
    """The samples to pool: those of the largest group (by samples) of the outline's sectors whose own f50s
    (``mtf_of(mask).f50``) agree within a tolerance of one of them. The MTF is the same all round the body;
    what is not is a gown, a blanket or a cable lying along part of it, which makes that part's edge read
    blurred, and it may cover half of the outline that can be read. Sectors with too few samples to be read
    on their own are pooled with the group; with fewer than three read, every sample is.

    The tolerance is ``SECTOR_TOLERANCE``, or wider where the sectors' f50s are themselves that uncertain
    (``sector_f50_spread``: a noisy scan read on few profiles): sectors are told apart only by a difference
    of ``AGREE_SIGMAS`` standard deviations of a difference of two sector f50s. Without it, sectors that
    differ by their noise alone were left out as if a gown lay there, and the estimate moved with which ones."""
    sector = (angles / (2 * np.pi) * SECTORS).astype(int) % SECTORS
    count = np.bincount(sector, minlength=SECTORS)
    f50 = {s: mtf_of(sector == s).f50 for s in range(SECTORS) if count[s] >= MIN_SECTOR_SAMPLES}
    f50 = {s: v for s, v in f50.items() if np.isfinite(v) and v > 0}
    if len(f50) < 3:
        return np.ones(len(angles), bool)

    def odd_ones(tolerance: float) -> list[int]:
        groups = [[s for s, v in f50.items() if abs(v / centre - 1) <= tolerance] for centre in f50.values()]
        best = max(groups, key=lambda g: (count[g].sum(), max(f50[s] for s in g)))
        return [s for s in f50 if s not in best]

    odd = odd_ones(SECTOR_TOLERANCE)
    if odd:
        spread = sector_f50_spread(angles, sector, list(f50), mtf_of)
        odd = odd_ones(max(SECTOR_TOLERANCE, AGREE_SIGMAS * np.sqrt(2.0) * spread))
    return ~np.isin(sector, odd)


def sector_f50_spread(angles: np.ndarray, sector: np.ndarray, sectors: list[int], mtf_of) -> float:
    """The relative standard deviation of one sector's f50 from its noise: each sector's samples split in two
    interleaved halves (alternate ``SECTOR_SPLIT`` slivers of its angle: independent noise, the same edge),
    whose difference has twice the SD of the whole sector's f50; the median over sectors, read as a
    normal's (``|x|`` has median 0.674 sigma)."""
    sliver = _sliver(angles) % 2
    rel = []
    for s in sectors:
        a, b = (mtf_of((sector == s) & (sliver == h)).f50 for h in (0, 1))
        if np.isfinite(a) and np.isfinite(b) and a + b > 0:
            rel.append(abs(a - b) / (a + b))
    return float(np.median(rel)) / 0.674 if rel else 0.0


def z_blur_removed(curve: MTFCurve, widths_mm: np.ndarray) -> MTFCurve:
    """``curve`` divided by the pooled MTF of the samples' box blurs, ``mean sinc(f w)`` (exact for a pooled
    ESF: each sample's edge is the in-plane one convolved with its own box)."""
    w = widths_mm[np.isfinite(widths_mm) & (widths_mm > 0)]
    if not len(w):
        return curve
    hist, edges = np.histogram(w, bins=32, range=(0.0, MAX_Z_BLUR_MM))
    centres = 0.5 * (edges[:-1] + edges[1:])
    weight = np.concatenate([[len(widths_mm) - len(w)], hist]) / len(widths_mm)
    box = (weight[None, :] * np.sinc(np.outer(curve.frequencies_per_mm, np.concatenate([[0.0], centres])))).sum(1)
    return MTFCurve(curve.frequencies_per_mm, curve.mtf / np.maximum(box, 0.2))


def mtf_2d(mtf: np.ndarray, size: int = N_FREQUENCIES) -> np.ndarray:
    """Radially symmetric ``size x size`` map of a 0..Nyquist MTF curve, zero frequency at the centre
    (``fftshift`` layout); beyond Nyquist (the corners) it holds the Nyquist value."""
    mtf = np.asarray(mtf, dtype=np.float32)
    r = np.hypot(*np.meshgrid(np.arange(size) - size // 2, np.arange(size) - size // 2, indexing="ij")) / (size // 2)
    return np.interp(r, np.linspace(0, 1, len(mtf)), mtf).astype(np.float32)
