"""The no-ground-truth behaviour checks against known answers: the truth explains its own scan and passes;
each corruption of it (a shift, noise, ringing, a blob) fails the check named for it and only that one."""
import numpy as np
import pytest
from scipy import ndimage as ndi

from physics.consistency import behaviour
from physics.kernel_table import model_mtf

F = np.linspace(0.0, 0.512, 64)


@pytest.fixture(scope="module")
def scanned():
    """A chest slice's truth and its Br40f scan at 6.5 mGy, with the kernel's MTF (not a measured one)."""
    from physics.noise import noise_sd
    from simulation.geometry import FORCE
    from simulation.phantom import make_phantom
    from simulation.scanner import scan_slice

    ph = make_phantom(31, 1, kind="nodule", arms=False)
    x = scan_slice(ph.object_hu[0], [6.5], ["Br40f"], seed=31, slice_index=0)[(6.5, "Br40f")]
    spacing = (FORCE.pixel_mm, FORCE.pixel_mm)
    return ph.gt_hu[0].astype(np.float64), x.astype(np.float64), spacing, noise_sd(x, spacing)


def _checks(scanned, y):
    gt, x, spacing, sd = scanned
    return behaviour(x, y, spacing, F, model_mtf(F, 0.40), sd)


def test_the_truth_explains_its_scan(scanned):
    checks = _checks(scanned, scanned[0])
    assert all(c.holds for c in checks.values()), {k: c.value for k, c in checks.items()}
    assert 0.8 < checks["reblur_residual_ratio"].value < 1.15      # the residual is the scan's noise


def _body(scanned):
    from physics.noise import soft_tissue
    return soft_tissue(scanned[1].astype(np.float32), scanned[2][0])


@pytest.mark.parametrize("corruption, fails", [
    ("shift", "soft_tissue_shift_hu"),
    ("noise", "noise_ratio"),
    ("ringing", "new_overshoot_hu"),
    ("blob", "reblur_structure"),
])
def test_each_corruption_fails_its_check(scanned, corruption, fails):
    gt = scanned[0].copy()
    rng = np.random.default_rng(0)
    tissue = _body(scanned)
    if corruption == "shift":           # soft tissue 8 HU too dense
        y = gt + 8.0 * tissue
    elif corruption == "noise":         # twice the scan's fine texture added back
        y = gt + 2.0 * scanned[3] * ndi.gaussian_filter(rng.standard_normal(gt.shape), 0.7) / 0.4
    elif corruption == "ringing":       # unsharp masking: over- and undershoot at every edge
        y = gt + 1.0 * (gt - ndi.gaussian_filter(gt, 2.0))
    else:                               # a 9 mm disc of +150 HU in the soft tissue
        from physics.consistency import uniform_tissue
        calm = uniform_tissue(scanned[1], tissue, scanned[2][0])
        cy, cx = np.unravel_index(np.argmax(ndi.distance_transform_edt(calm)), calm.shape)
        yy, xx = np.mgrid[:gt.shape[0], :gt.shape[1]]
        y = gt + 150.0 * (np.hypot(yy - cy, xx - cx) * 500 / 512 < 4.5)
    checks = _checks(scanned, y)
    assert not checks[fails].holds, (fails, checks[fails].value)
    others = {k: c.value for k, c in checks.items() if k != fails and not c.holds}
    if corruption == "shift":
        assert not others, others



@pytest.fixture(scope="module")
def series(scanned):
    """The scanned slice as a one-slice series, with its lungs and NPS (the guard's provisional limits: a
    model's calibrated ones are its own, and the truth need not meet a smoothing model's structure limit)."""
    from physics.masks import lung_mask
    from physics.noise import nps

    gt, x, spacing, sd = scanned
    return gt, x, spacing, sd, lung_mask(x[None], spacing[0]), nps(x[None], spacing)


def _series_checks(series, y):
    from physics.consistency import series_behaviour

    gt, x, spacing, sd, lungs, spectrum = series
    return series_behaviour(x[None], y[None], spacing, F, model_mtf(F, 0.40), sd, lungs, None,
                            spectrum.frequencies_per_mm, spectrum.nps_1d)


def test_the_truth_passes_the_series_guard(series):
    checks = _series_checks(series, series[0])
    assert all(c.holds for c in checks.values()), {k: c.value for k, c in checks.items() if not c.holds}


def test_the_series_guard_is_the_same_on_one_thread_or_several(series, monkeypatch):
    """Its checked slices run on a thread pool: each slice's values, noise seed included, are the slice's own,
    so a 4-slice series gives identical values on one thread and on four."""
    from physics.consistency import series_behaviour

    gt, x, spacing, sd, lungs, spectrum = series
    xs, ys, ls = (np.stack([a, np.roll(a, 7, axis=1), a[::-1], np.roll(a, -5, axis=0)]) for a in (x, gt, lungs[0]))

    def run(cores):
        monkeypatch.setattr("os.cpu_count", lambda: cores)
        checks = series_behaviour(xs, ys, spacing, F, model_mtf(F, 0.40), sd, ls, 1.0, spectrum.frequencies_per_mm,
                                  spectrum.nps_1d)
        return {k: (c.value, c.per_slice) for k, c in checks.items()}

    one, four = run(1), run(4)
    assert len(one["reblur_structure"][1]) == 4
    assert one == four


@pytest.mark.parametrize("where", ["lung", "tissue"])
@pytest.mark.parametrize("amplitude, diameter_mm", [(100, 9), (400, 9), (800, 9), (400, 5), (400, 15)])
def test_the_series_guard_catches_a_blob_of_any_amplitude_size_and_place(series, where, amplitude, diameter_mm):
    from physics.noise import soft_tissue

    gt, x, spacing, _, lungs, _ = series
    region = lungs[0] if where == "lung" else soft_tissue(x.astype(np.float32), spacing[0])
    inside = ndi.distance_transform_edt(region) * spacing[0]
    cy, cx = np.unravel_index(np.argmax(inside), inside.shape)
    yy, xx = np.mgrid[:gt.shape[0], :gt.shape[1]]
    y = gt + amplitude * (np.hypot(yy - cy, xx - cx) * spacing[0] <= diameter_mm / 2)
    checks = _series_checks(series, y)
    assert not all(c.holds for c in checks.values())


@pytest.mark.parametrize("n_slices", [4, 75, 300])
def test_a_tail_limit_holds_its_false_alarm_rate_at_any_series_length(n_slices):
    """Per-slice values drawn from a Gumbel law (the maximum of many Gaussian local means), whose series
    maximum over n slices exceeds t with the known probability 1 - exp(-n exp(-(t - mu) / beta)): the limit
    fitted on 4-slice validation series keeps a long series at its false-alarm rate, as a short one. (The
    mean excess over the 90th percentile overestimates the Gumbel scale a little: the rate errs low.)"""
    from physics.consistency import TailLimit

    mu, beta, alpha = 6.0, 0.8, 0.004
    rng = np.random.default_rng(5)
    validation = rng.gumbel(mu, beta, 2000)             # e.g. 500 series x 4 slices
    limit = TailLimit.fit(validation, alpha).limit(n_slices)
    exact = 1.0 - np.exp(-n_slices * np.exp(-(limit - mu) / beta))
    assert alpha / 8 < exact <= alpha, exact
    # and the fixed limit that suits 4 slices would not: a 300-slice series exceeds it far more often
    fixed = TailLimit.fit(validation, alpha).limit(4)
    assert 1.0 - np.exp(-300 * np.exp(-(fixed - mu) / beta)) > 20 * alpha


def test_the_series_guard_resolves_a_tail_limit_for_its_slices(series):
    """A card's tail limit is applied for the number of slices measured, and the check carries its values."""
    from physics.consistency import TailLimit, series_behaviour

    gt, x, spacing, sd, lungs, spectrum = series
    tail = TailLimit(threshold=5.0, probability=0.1, scale=1.0, series_false_alarm=0.004)
    vol_x, vol_y, vol_l = np.stack([x, x]), np.stack([gt, gt]), np.concatenate([lungs, lungs])
    checks = series_behaviour(vol_x, vol_y, spacing, F, model_mtf(F, 0.40), sd, vol_l, 1.0,
                              spectrum.frequencies_per_mm, spectrum.nps_1d,
                              limits={"reblur_structure": tail.to_json()})
    c = checks["reblur_structure"]
    assert len(c.per_slice) == 2 and c.value == max(c.per_slice)
    assert c.limit == pytest.approx(5.0 + np.log(2 * 0.1 / 0.004))


def _calm_residual(noise_sd_hu: float, bump_hu: float, bump_mm: float, seed: int = 2):
    """A 0.5 mm-pixel residual over a 100 mm square: white noise of the given SD plus a disc of ``bump_hu``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:200, :200]
    disc = np.hypot(yy - 100, xx - 100) * 0.5 <= bump_mm / 2
    return noise_sd_hu * rng.standard_normal((200, 200)) + bump_hu * disc, np.ones((200, 200), bool)


def test_a_few_hu_of_residual_at_high_dose_is_not_structure():
    """A calm residual (0.1 HU of noise, a scan at very high dose) holding a 20 mm, 2 HU difference: in robust
    SDs of that noise alone it would read as a blob tens of SDs high; under the floor it stays a small number
    (at most 2 HU over the floor)."""
    from physics.consistency import STRUCTURE_FLOOR_HU, structure

    residual, mask = _calm_residual(0.1, 2.0, 20.0)
    assert structure(residual, mask, 0.5) <= 2.0 / STRUCTURE_FLOOR_HU + 0.1


def test_the_floor_hides_no_blob_and_leaves_noisy_residuals_alone():
    """The same calm residual with a 9 mm, +50 HU blob still reads far beyond any limit the guard uses (> 15);
    and in a residual whose noise is well above the floor the statistic is the usual robust-SD count: pure
    white noise of SD 100 HU (local means of SD 7 HU) reads as the largest of a few hundred independent
    Gaussian local means: 3-4.5 SDs."""
    from physics.consistency import structure

    residual, mask = _calm_residual(0.1, 50.0, 9.0)
    assert structure(residual, mask, 0.5) > 15.0
    residual, mask = _calm_residual(100.0, 0.0, 9.0)
    assert 3.0 < structure(residual, mask, 0.5) < 4.5


def test_the_separable_median_is_scipys():
    """``median5`` against scipy's median filter (5 along rows, then 5 along columns), on a CT-like slice with
    ties (integer HU), flat areas, edges and the image border."""
    from physics.consistency import median5

    rng = np.random.default_rng(4)
    img = np.rint(rng.normal(0, 30, (67, 90))).astype(np.float32)
    img[:, 40:] += 1000.0
    img[10:20, 5:25] = -1000.0
    expected = ndi.median_filter(ndi.median_filter(img, size=(1, 5)), size=(5, 1))
    assert np.array_equal(median5(img), expected)
