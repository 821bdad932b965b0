"""Patient-specific MTF against known truths: bodies blurred by a Gaussian PSF (analytic f50), and every
kernel of the simulator at both doses (f50 measured through the same chain on a water-disc edge)."""
from functools import lru_cache

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from physics.esf import binned_esf
from physics.mtf import MIN_PROFILES, estimate_mtf, mtf_2d

PIXEL = 500 / 512
UP = 8


@lru_cache(maxsize=8)
def _clean_body(sigma_mm: float, spacing=(PIXEL, PIXEL), centre=(0.0, 0.0), table=False, shape=(512, 512)):
    """An elliptical 0 HU body in air, rasterised 8x finer, blurred by the PSF, averaged onto the pixel grid.

    ``table``: a 6 mm, 300 HU curved table shell touching the body's back, with -900 HU foam on it."""
    dy, dx = spacing
    y = (np.arange(shape[0] * UP) - shape[0] * UP / 2 + 0.5) * dy / UP - centre[0]
    x = (np.arange(shape[1] * UP) - shape[1] * UP / 2 + 0.5) * dx / UP - centre[1]
    yy, xx = np.meshgrid(y, x, indexing="ij", sparse=True)
    fine = np.where((xx / 160.0) ** 2 + (yy / 115.0) ** 2 < 1, 0.0, -1000.0)
    if table:
        r = np.hypot(xx, yy - 115.0 - 600.0)
        fine = np.where((r < 600.0) & (r > 594.0) & (fine < -500), 300.0, fine)
        fine = np.where((r < 600.0) & (r > 580.0) & (fine < -500) & (np.abs(xx) < 100), -900.0, fine)
        fine = np.where((r > 600.0) & (r < 606.0) & (np.abs(xx) < 250), 300.0, fine)
    fine = gaussian_filter(fine, (sigma_mm / (dy / UP), sigma_mm / (dx / UP)))
    return fine.reshape(shape[0], UP, shape[1], UP).mean(axis=(1, 3))


def _series(sigma_mm, noise_hu, slices=8, **kw):
    clean = _clean_body(sigma_mm, **kw)
    rng = np.random.default_rng(int(sigma_mm * 100 + noise_hu))
    return clean[None] + noise_hu * rng.standard_normal((slices,) + clean.shape)


def _gaussian_mtf(sigma_mm: float):
    return lambda f: np.exp(-2 * np.pi**2 * sigma_mm**2 * f**2)


def _presampled_f50(psf_mtf, spacing=(PIXEL, PIXEL)) -> float:
    """f50 of a PSF's MTF (``psf_mtf(f)``) times the pixel's aperture (the presampled MTF), averaged over edge
    directions."""
    f = np.linspace(0, 2, 4001)[:, None]
    theta = np.linspace(0, np.pi / 2, 91)[None, :]
    aperture = np.abs(np.sinc(f * np.cos(theta) * spacing[1]) * np.sinc(f * np.sin(theta) * spacing[0]))
    mtf = psf_mtf(f[:, 0]) * aperture.mean(axis=1)
    return float(f[np.argmax(mtf <= 0.5), 0])


def _expected_f50(sigma_mm: float, spacing=(PIXEL, PIXEL)) -> float:
    """Gaussian MTF times the pixel's aperture (the presampled MTF), averaged over edge directions."""
    return _presampled_f50(_gaussian_mtf(sigma_mm), spacing)


@pytest.mark.parametrize("sigma", [0.3, 0.6, 0.9, 1.2])
@pytest.mark.parametrize("noise", [0.0, 10.0, 80.0])
def test_f50_of_a_gaussian_psf(sigma, noise):
    r = estimate_mtf(_series(sigma, noise), (PIXEL, PIXEL))
    assert r.usable and r.profiles > 1000
    assert abs(r.f50_per_mm / _expected_f50(sigma) - 1) < 0.03, (r.f50_per_mm, _expected_f50(sigma))
    assert len(r.frequencies_per_mm) == 64 and r.frequencies_per_mm[-1] == pytest.approx(0.5 / PIXEL)
    assert r.mtf[0] == pytest.approx(1.0, abs=0.01) and np.all(np.diff(r.mtf[:20]) <= 0.01)


@pytest.mark.parametrize("case", ["non-square pixels", "off-centre", "table touching"])
def test_f50_on_awkward_geometry(case):
    kw, spacing = {}, (PIXEL, PIXEL)
    if case == "non-square pixels":
        spacing = kw["spacing"] = (0.9, 0.7)
    elif case == "off-centre":
        kw["centre"] = (40.0, -60.0)
    else:
        kw["table"] = True
    r = estimate_mtf(_series(0.6, 20.0, **kw), spacing)
    assert r.usable, r.quality
    assert abs(r.f50_per_mm / _expected_f50(0.6, spacing) - 1) < 0.03, (r.f50_per_mm, _expected_f50(0.6, spacing))


def _edge_enhanced(stored_floor_hu: float | None):
    """A body seen through an edge-enhancing PSF, (1 + a) G(0.4 mm) - a G(0.7 mm) with a = 1.5 (MTF peaking at
    1.12, the air undershooting to -1100 HU next to the skin), 5 HU of noise; ``stored_floor_hu``: values
    stored as integers no lower than it, as CT pixel data with a rescale intercept of -1024 are. Returns the
    series and its analytic presampled f50."""
    s1, s2, a = 0.4, 0.7, 1.5
    clean = (1 + a) * _clean_body(s1) - a * _clean_body(s2)
    vol = clean[None] + 5.0 * np.random.default_rng(3).standard_normal((6,) + clean.shape)
    if stored_floor_hu is not None:
        vol = np.maximum(np.rint(vol), stored_floor_hu)
    return vol, _presampled_f50(lambda f: (1 + a) * _gaussian_mtf(s1)(f) - a * _gaussian_mtf(s2)(f))


def test_a_noisy_short_series_is_not_split_by_its_noise():
    """Two slices with 130 HU of noise (a sharp kernel at low dose): each sector of the outline reads its f50
    on few profiles, so the sectors differ by their noise alone. They must not be told apart as if a gown lay
    on some (which moved the estimate by 8-11 % with the draw of the noise); six draws, each within 10 % and
    within three of its own stated standard deviations (measured: 3.5-5.5 %)."""
    clean = _clean_body(0.6)
    truth = _expected_f50(0.6)
    for seed in range(6):
        vol = clean[None] + 130.0 * np.random.default_rng(seed).standard_normal((2,) + clean.shape)
        r = estimate_mtf(vol, (PIXEL, PIXEL))
        assert r.f50_per_mm == pytest.approx(truth, rel=0.10), seed
        assert abs(r.f50_per_mm - truth) < 3 * r.f50_sd_per_mm, (seed, r.f50_per_mm, r.f50_sd_per_mm)


@pytest.mark.parametrize("true_level", [-1000.0, -1040.0, -1080.0])
def test_a_bin_cut_off_by_the_stored_floor_reads_its_true_level(true_level):
    """Air of known level under 60 HU of normal noise, stored no lower than -1024 HU (35, 61 and 83 % of it at
    the floor): the robust bin reads the level within 4 HU (measured: within 2); the mean reads 13-62 HU high."""
    values = np.maximum(np.rint(true_level + 60.0 * np.random.default_rng(7).standard_normal(20000)), -1024.0)
    distance = np.random.default_rng(8).uniform(-0.05, 0.05, len(values))
    _, robust = binned_esf(distance, values, half_width_mm=0.1, statistic="robust", floor_hu=-1024.0)
    _, mean = binned_esf(distance, values, half_width_mm=0.1)
    assert robust[1] == pytest.approx(true_level, abs=4.0) and mean[1] > true_level + 10.0, (robust, mean)


def test_a_few_bright_samples_do_not_move_a_robust_bin():
    """Soft tissue at 40 HU with 20 HU of noise, a twentieth of the samples a gown's fibres at +300 HU: the
    robust bin reads 40 within 2.5 HU (measured: 41.4; the mean: 53)."""
    rng = np.random.default_rng(9)
    values = 40.0 + 20.0 * rng.standard_normal(20000)
    values[::20] = 300.0
    _, robust = binned_esf(rng.uniform(-0.05, 0.05, len(values)), values, half_width_mm=0.1, statistic="robust")
    assert robust[1] == pytest.approx(40.0, abs=2.5), robust


def _noisy_draws(sigma_mm: float, noise_hu: float, slices: int, draws: int, floor_hu: float | None = None):
    """f50 errors and stated standard deviations (both relative to the analytic f50) of ``draws`` noise draws."""
    clean, truth = _clean_body(sigma_mm), _expected_f50(sigma_mm)
    errors, sds = [], []
    for seed in range(draws):
        vol = clean[None] + noise_hu * np.random.default_rng(100 + seed).standard_normal((slices,) + clean.shape)
        if floor_hu is not None:
            vol = np.maximum(np.rint(vol), floor_hu)
        r = estimate_mtf(vol, (PIXEL, PIXEL))
        errors.append(r.f50_per_mm / truth - 1)
        sds.append(r.f50_sd_per_mm / truth)
    return np.array(errors), np.array(sds)


def test_noisy_air_stored_no_lower_than_minus_1024_is_not_read_as_sharpness():
    """CT pixel data with a rescale intercept of -1024 hold nothing below -1024 HU: 90 HU of noise on air at
    -1000 HU is cut off from below for 40 % of its pixels, and the mean of the air next to the skin reads high
    exactly where the edge falls into it. Bin means read such a series 6-11 % sharp (four draws of four slices,
    8.5 % on average); the robust bins must read it within 3 % on average."""
    errors, _ = _noisy_draws(0.6, 90.0, 4, 4, floor_hu=-1024.0)
    assert abs(errors.mean()) < 0.03, errors


def test_the_stated_sd_is_the_spread_over_noise_draws():
    """f50's stated standard deviation (from four interleaved parts of the outline) against the spread of f50
    over eight independent noise draws of the same series (130 HU, two slices): the same within a factor 2."""
    errors, sds = _noisy_draws(0.6, 130.0, 2, 8)
    spread = errors.std(ddof=1)
    assert 0.5 < sds.mean() / spread < 2.0, (sds, errors)


def test_the_skin_is_traced_on_the_slice_and_its_neighbours():
    """The contour the profiles' distances are measured from follows the noise of the image it is traced on.
    A slice with both neighbours is traced on the three slices' mean, so against the exact outline (the
    ellipse's Euclidean distance, at the pixels within 3 mm of it) its distances err by about 1/sqrt(3) of
    those traced on the slice alone (200 HU of noise; measured: 0.57-0.64 over three draws)."""
    from scipy.spatial import cKDTree

    from physics.mtf import STATS, _edge_samples

    clean = _clean_body(0.6)
    n = clean.shape[0]
    c = (np.arange(n) - n / 2 + 0.5) * PIXEL
    yy, xx = np.meshgrid(c, c, indexing="ij")
    t = np.linspace(0, 2 * np.pi, 200_000, endpoint=False)
    d, _ = cKDTree(np.stack([160 * np.cos(t), 115 * np.sin(t)], 1)).query(
        np.stack([xx.ravel(), yy.ravel()], 1), distance_upper_bound=15)
    d = np.where(np.isfinite(d), d, 15).reshape(n, n)
    exact = np.where((xx / 160) ** 2 + (yy / 115) ** 2 > 1, d, -d)
    for seed in range(2):
        vol = clean[None] + 200.0 * np.random.default_rng(seed).standard_normal((3, n, n))
        err = []
        for neighbours in ([], [vol[0], vol[2]]):
            dist, true, _, _ = _edge_samples(vol[1], (PIXEL, PIXEL), dict.fromkeys(STATS, 0), neighbours,
                                             values_from=exact)
            near = np.abs(true) < 3
            err.append(np.std(dist[near] - true[near]))
        assert err[1] < 0.7 * err[0], (seed, err)


def test_edge_enhancing_psf_reads_its_f50():
    vol, expected = _edge_enhanced(None)
    r = estimate_mtf(vol, (PIXEL, PIXEL))
    assert r.usable and abs(r.f50_per_mm / expected - 1) < 0.02, (r.f50_per_mm, expected)


def test_an_undershoot_cut_off_by_the_stored_floor_is_said_not_read():
    """An edge-enhancing PSF undershoots to -1100 HU in the air next to the skin; stored no lower than -1024
    (a rescale intercept of -1024) that undershoot is gone, and with it what sets f50 (the air half read about
    4 % sharp before this was checked). The estimate must say so instead of reading a number."""
    vol, _ = _edge_enhanced(-1024.0)
    r = estimate_mtf(vol, (PIXEL, PIXEL))
    assert not r.usable and "stored at the floor" in r.quality["reason"], r.quality
    assert np.isnan(r.f50_per_mm)


def test_sharper_psf_measures_higher_f50():
    f50 = [estimate_mtf(_series(s, 40.0, slices=4), (PIXEL, PIXEL)).f50_per_mm for s in (1.2, 0.9, 0.6, 0.3)]
    assert np.all(np.diff(f50) > 0), f50


def test_deterministic():
    vol = _series(0.6, 40.0, slices=3)
    a, b = estimate_mtf(vol, (PIXEL, PIXEL)), estimate_mtf(vol.copy(), (PIXEL, PIXEL))
    assert a.to_json() == b.to_json()


def test_the_estimate_is_the_same_on_one_thread_or_several(monkeypatch):
    """Slices are read a core's worth at a time and taken in order until enough profiles are in: where it
    stops, and so the estimate, must not depend on the number of cores (a target met after two slices of six,
    with three and four cores computing more than are used)."""
    vol = _series(0.6, 40.0, slices=6)

    def run(cores):
        monkeypatch.setattr("os.cpu_count", lambda: cores)
        return estimate_mtf(vol, (PIXEL, PIXEL), target_profiles=1500).to_json()

    one = run(1)
    assert MIN_PROFILES <= one["profiles"] < 3 * 1500      # stopped early, after a few slices of the six
    assert run(3) == one and run(4) == one


@pytest.mark.parametrize("volume, spacing, reason", [
    (np.zeros((1, 256, 256)), (1.0, 1.0), "no air"),
    (np.full((1, 256, 256), -1000.0), (1.0, 1.0), "no body"),
    (np.zeros((1, 256, 256)), (0.0, 1.0), "spacing"),
    (np.full((1, 256, 256), np.nan), (1.0, 1.0), "non-finite"),
    (np.zeros((1, 8, 8)), (1.0, 1.0), "too small"),
])
def test_unusable_input_is_flagged_not_raised(volume, spacing, reason):
    r = estimate_mtf(volume, spacing)
    assert not r.usable and reason in r.quality["reason"]
    assert np.isnan(r.f50_per_mm) and r.to_json()["f50_per_mm"] is None


def test_body_cut_by_the_field_of_view_is_flagged():
    # a 200 mm field on a 320 x 230 mm body: skin shows only in the four corners, cut by the image's edges
    img = _clean_body(0.6, spacing=(200 / 256, 200 / 256), shape=(256, 256))
    r = estimate_mtf(img[None], (200 / 256, 200 / 256))
    assert not r.usable and "field of view" in r.quality["reason"], r.quality


def test_mtf_2d_is_radial_with_dc_at_the_centre():
    m = mtf_2d(np.linspace(1, 0.2, 64))
    assert m.shape == (64, 64) and m[32, 32] == pytest.approx(1.0)
    assert m[32, 40] == pytest.approx(m[40, 32]) == pytest.approx(m[24, 32])


@pytest.fixture(scope="module")
def simulated_chest():
    """One chest phantom (table and arms by its seed) scanned by all 16 kernels at 1.3 and 6.5 mGy."""
    from simulation.kernels import KERNEL_NAMES
    from simulation.phantom import make_phantom
    from simulation.scanner import scan_volume

    ph = make_phantom(21, 3)
    return scan_volume(ph.object_hu, [1.3, 6.5], list(KERNEL_NAMES), seed=21)


def test_every_kernel_and_dose_of_the_simulator(simulated_chest, kernel_f50):
    from simulation.geometry import FORCE
    from simulation.kernels import get_kernel

    errors, measured = {}, {}
    for (dose, kernel), vol in simulated_chest.items():
        r = estimate_mtf(vol, (FORCE.pixel_mm, FORCE.pixel_mm))
        assert r.usable, (dose, kernel, r.quality)
        measured[dose, kernel] = r.f50_per_mm
        errors[dose, kernel] = r.f50_per_mm / kernel_f50[kernel] - 1
    err = np.abs(list(errors.values()))
    # measured: median 2.42 %, worst 4.65 %, every kernel read high by 0.3-4.7 % (seeded, so the same on every
    # run; 1.33 and 3.01 % before the noise was kept from choosing profiles, bins and the LSF's centre, a choice
    # made on the widened platform's validation sets); the limits are the estimator's goals
    assert np.median(err) <= 0.03 and err.max() <= 0.06, errors
    # monotone: at each dose, a kernel with a clearly higher chain f50 measures higher on the patient
    for (dose, a), fa in measured.items():
        for (dose_b, b), fb in measured.items():
            if dose_b == dose and get_kernel(b).f50 > get_kernel(a).f50 + 0.05:
                assert fb > fa, (dose, a, b, fa, fb)


def _tilted_series(sigma_mm: float, slope: float, thickness_mm: float, slices: int = 5, noise_hu: float = 10.0):
    """A 0 HU elliptical body in air whose half-axes grow by ``slope`` mm per mm along z, blurred in-plane by a
    Gaussian PSF; each slice the mean of sections 0.25 mm apart over ``thickness_mm`` (contiguous slices)."""
    up, n = 4, 256
    y = (np.arange(n * up) - n * up / 2 + 0.5) * PIXEL / up
    yy, xx = np.meshgrid(y, y, indexing="ij", sparse=True)
    out = []
    rng = np.random.default_rng(3)
    for k in range(slices):
        sections = []
        for dz in np.arange(0.125, thickness_mm, 0.25) - thickness_mm / 2:
            z = (k - slices // 2) * thickness_mm + dz
            a, b = 100.0 + slope * z, 70.0 + slope * z
            fine = np.where((xx / a) ** 2 + (yy / b) ** 2 < 1, 0.0, -1000.0)
            sections.append(gaussian_filter(fine, sigma_mm / (PIXEL / up)).reshape(n, up, n, up).mean(axis=(1, 3)))
        out.append(np.mean(sections, axis=0) + noise_hu * rng.standard_normal((n, n)))
    return np.stack(out)


def test_skin_tilting_along_z_is_not_read_as_blur():
    """Slices 2 mm thick of a body widening 0.28 mm per mm: each averages edges 0.56 mm apart. The in-plane
    MTF is the PSF's; the same edge without the correction reads lower."""
    import physics.mtf as mtf

    vol = _tilted_series(0.3, 0.28, 2.0)
    r = estimate_mtf(vol, (PIXEL, PIXEL))
    assert r.usable, r.quality
    assert abs(r.f50_per_mm / _expected_f50(0.3) - 1) < 0.03, (r.f50_per_mm, _expected_f50(0.3))
    single = [estimate_mtf(v[None], (PIXEL, PIXEL)).f50_per_mm for v in vol[1:4]]   # no neighbours: no correction
    assert np.mean(single) < 0.97 * _expected_f50(0.3), single
    assert mtf.MAX_Z_BLUR_MM >= 0.56


def test_skin_too_tilted_for_the_slice_thickness_is_said():
    vol = _tilted_series(0.6, 0.5, 3.0)       # edges averaged over 1.5 mm
    r = estimate_mtf(vol, (PIXEL, PIXEL))
    assert not r.usable and "tilts along z" in r.quality["reason"], r.quality


@pytest.fixture(scope="module")
def irregular_chest():
    """A chest whose outline has folds, breasts, harmonics and arms against it, 3 slices of 1 mm averaged
    over 0.5 mm sections, scanned with a soft, an edge-enhancing and a sharp kernel of the widened family."""
    from simulation.kernel_family import family_kernel, vendor_like
    from simulation.phantom import Outline, make_phantom
    from simulation.scanner import scan_volume

    outline = Outline(harmonics=0.01, folds=3, breasts=True, cloth=False, arms_touching=True, size=0.85)
    ph = make_phantom(44, 3, kind="copd", outline=outline, sub_slice_mm=0.5)
    kernels = [family_kernel(0.25), vendor_like("GE-like LUNG"), family_kernel(0.8)]
    return scan_volume(ph.object_hu, [2.0], kernels, seed=44), kernels


def test_irregular_outline_reads_each_kernel(irregular_chest):
    from evaluation.mtf_accuracy import reference_f50
    from simulation.geometry import FORCE

    vols, kernels = irregular_chest
    for k in kernels:
        r = estimate_mtf(vols[(2.0, k.name)], (FORCE.pixel_mm, FORCE.pixel_mm))
        ref = reference_f50(k.to_json())
        assert r.usable and abs(r.f50_per_mm / ref - 1) < 0.05, (k.name, r.f50_per_mm, ref, r.quality)


@pytest.fixture(scope="module")
def gowned_chest():
    """A chest with a thin gown lying along its front, touching the skin at the troughs of its folds and a few
    mm off it elsewhere (the simulator's cloth: half of the outline the estimate can read), 3 slices of 1 mm
    at 2 mGy, scanned with an edge-enhancing, a sharp and a soft kernel."""
    from simulation.kernel_family import family_kernel, vendor_like
    from simulation.phantom import Outline, make_phantom
    from simulation.scanner import scan_volume

    outline = Outline(harmonics=0.005, folds=1, breasts=False, cloth=True, arms_touching=False, size=1.0)
    ph = make_phantom(45, 3, kind="copd", outline=outline, sub_slice_mm=0.5)
    kernels = [vendor_like("GE-like LUNG"), family_kernel(0.7), family_kernel(0.3)]
    return scan_volume(ph.object_hu, [2.0], kernels, seed=45), kernels


def test_a_gown_along_the_skin_is_not_read_as_blur(gowned_chest):
    """Pooled over the whole outline, the gowned half read these kernels 8-21 % low; the sectors of the
    outline whose own f50s agree are kept (measured: +5.0, -0.2, +0.1 %)."""
    from evaluation.mtf_accuracy import reference_f50
    from simulation.geometry import FORCE

    vols, kernels = gowned_chest
    for k in kernels:
        r = estimate_mtf(vols[(2.0, k.name)], (FORCE.pixel_mm, FORCE.pixel_mm))
        ref = reference_f50(k.to_json())
        assert r.usable and abs(r.f50_per_mm / ref - 1) < 0.06, (k.name, r.f50_per_mm, ref, r.quality)


@pytest.mark.xfail(strict=True, reason="known limit: the fat's step under a thin skin reaches the mirrored air half "
                                       "of a wide LSF, which then reads narrow (measured +2.2 %; docs/design.md)")
def test_fat_under_a_thin_skin_does_not_move_a_smooth_kernels_f50():
    """A 2 mm skin (40 HU) over fat (-100 HU), as in both simulators' phantoms, noise-free, blurred by a wide
    Gaussian PSF (sigma 1 mm, f50 0.18 /mm). Without the fat the same body reads within 0.1 %."""
    up, n = 4, 512
    y = (np.arange(n * up) - n * up / 2 + 0.5) * PIXEL / up
    yy, xx = np.meshgrid(y, y, indexing="ij", sparse=True)
    fine = np.where((xx / 160.0) ** 2 + (yy / 110.0) ** 2 < 1, 40.0, -1000.0)
    fine = np.where((xx / 158.0) ** 2 + (yy / 108.0) ** 2 < 1, -100.0, fine)
    img = gaussian_filter(fine, 1.0 / (PIXEL / up)).reshape(n, up, n, up).mean(axis=(1, 3))
    r = estimate_mtf(np.stack([img] * 3), (PIXEL, PIXEL))
    assert r.usable and abs(r.f50_per_mm / _expected_f50(1.0) - 1) <= 0.01, (r.f50_per_mm, _expected_f50(1.0))
