"""Evaluation metrics on cases whose answers are known by hand."""
import numpy as np
import pytest

from evaluation.combat import combat
from evaluation.detectability import d_prime
from evaluation.nodules import mesh_features, nodule_features, segment_nodule, whole_nodules
from physics.image_quality import image_metrics


def _ball(radius_vox: float, shape=(40, 40, 40)):
    z, y, x = np.indices(shape) - np.array(shape)[:, None, None, None] / 2 + 0.5
    return np.sqrt(x**2 + y**2 + z**2) <= radius_vox


def test_sphere_is_spherical():
    f = mesh_features(_ball(12), (1.0, 1.0, 1.0))
    assert f["sphericity"] == pytest.approx(1.0, abs=0.08)
    assert f["volume_mm3"] == pytest.approx(4 / 3 * np.pi * 12**3, rel=0.03)
    assert f["surface_to_volume"] == pytest.approx(3 / 12, rel=0.1)


def test_elongated_shape_is_less_spherical():
    rod = np.zeros((40, 40, 40), bool)
    rod[5:35, 17:23, 17:23] = True
    assert mesh_features(rod, (1, 1, 1))["sphericity"] < 0.8


def test_kmeans_segments_a_noisy_nodule():
    ball = _ball(6)
    vol = np.where(ball, 0.0, -850.0) + np.random.default_rng(0).normal(0, 30, ball.shape)
    mask = segment_nodule(vol, ball, (1, 1, 1))
    assert mask.sum() == pytest.approx(ball.sum(), rel=0.1)


def test_a_vessel_touching_the_nodule_is_not_segmented_with_it():
    ball = _ball(6)
    vessel = np.zeros_like(ball)
    vessel[18:22, 18:22, :] = True             # a 4-voxel-wide vessel through the nodule, as bright
    vol = np.where(ball | vessel, 0.0, -850.0)
    mask = segment_nodule(vol, ball, (1, 1, 1), margin_mm=2.0)
    inside = np.sqrt(np.sum((np.indices(ball.shape) - 19.5) ** 2, axis=0)) <= 8.0
    assert mask.sum() == pytest.approx(ball.sum(), rel=0.25)
    assert not (mask & ~inside).any()          # nothing beyond the nodule's 2 mm margin


def test_a_nodule_cut_by_the_slab_is_left_out():
    labels = np.zeros((40, 40, 40), np.uint8)
    labels[_ball(6)] = 1
    labels[:4, 2:8, 2:8] = 2                   # touches the first slice
    assert whole_nodules(labels) == [1]
    assert set(nodule_features(np.where(labels > 0, 0.0, -850.0), labels, (1, 1, 1))) == {1}


def test_image_metrics_known_values():
    gt = np.random.default_rng(1).uniform(-1000, 500, (64, 64))
    same = image_metrics(gt, gt)
    assert same["ssim"] == pytest.approx(1.0) and same["nrmse_percent"] == pytest.approx(0.0, abs=1e-6)
    scaled = (gt + 1024) * 1.1 - 1024          # normalised image times 1.1: NRMSE 10 % exactly (no clipping here)
    assert image_metrics(scaled, gt)["nrmse_percent"] == pytest.approx(10.0, rel=1e-4)
    shifted = gt + 2048 * 0.01                  # 0.01 in normalised units everywhere: PSNR = 40 dB
    assert image_metrics(shifted, gt)["psnr_db"] == pytest.approx(40.0, abs=0.01)


def test_combat_removes_an_injected_batch_shift():
    rng = np.random.default_rng(0)
    subjects = [f"p{i}" for i in range(6)]
    batches, feats, subj = [], [], []
    truth = {s: rng.normal(0, 5, 2) for s in subjects}
    shift = {"ref": np.zeros(2), "b1": np.array([8.0, -4.0]), "b2": np.array([-6.0, 3.0])}
    for b in shift:
        for s in subjects:
            for _ in range(2):
                batches.append(b)
                subj.append(s)
                feats.append(truth[s] + shift[b] + rng.normal(0, 0.5, 2))
    out = combat(np.array(feats), batches, "ref", subj)
    b = np.array(batches)
    for name in ("b1", "b2"):
        before = np.abs(np.array(feats)[b == name].mean(0) - np.array(feats)[b == "ref"].mean(0))
        after = np.abs(out[b == name].mean(0) - out[b == "ref"].mean(0))
        assert np.all(after < 0.1 * before)
    assert np.allclose(out[b == "ref"], np.array(feats)[b == "ref"])   # the reference batch is left as it is


def test_d_prime_scales_as_the_formula_says():
    f = np.linspace(0, 0.5, 64)
    mtf = np.exp(-(f / 0.4) ** 2)
    nps = np.full((32, 32), 100.0)
    d = d_prime(f, mtf, nps, 1.0)
    assert 0 < d < d_prime(f, mtf, nps, 1.0, alpha=1e-30)                          # the alpha term only lowers d'
    d0 = d_prime(f, mtf, nps, 1.0, alpha=1e-30)
    assert d_prime(f, mtf, 4 * nps, 1.0, alpha=1e-30) == pytest.approx(d0 / 4, rel=1e-9)   # d' ~ 1 / NPS
    assert d_prime(f, 0.5 * mtf, nps, 1.0) == pytest.approx(d / 4, rel=1e-3)    # d' ~ MTF^2
    assert d_prime(f, mtf, nps, 1.0, contrast_hu=200) == pytest.approx(4 * d, rel=1e-3)   # d' ~ contrast^2


def test_d_prime_of_a_perfect_system_in_white_noise_is_the_task_energy_over_the_nps():
    """MTF 1, white NPS sigma^2 * pixel area, alpha -> 0 (1e-300: the eye filter's E^2 is ~1e-67 at 5 /mm, so
    1e-8 or even 1e-30 would cut the integral there): Eq. 9 reduces to the integral of W^2 / NPS, which by
    Parseval is contrast^2 * disc area / NPS (the disc's spectrum beyond 5 cycles/mm holds about 1 % of it:
    1 / (pi^2 r f); the zero-frequency sample, where E = 0, another 0.5 %)."""
    pixel, sigma = 0.1, 20.0
    f = np.linspace(0, 0.5 / pixel, 64)
    nps = np.full((512, 512), sigma**2 * pixel**2)
    expected = 100.0**2 * np.pi * 2.0**2 / (sigma**2 * pixel**2)
    assert d_prime(f, np.ones_like(f), nps, pixel, alpha=1e-300) == pytest.approx(expected, rel=0.02)


def _ellipse(a_mm: float, b_mm: float, centre=(0.0, 0.0)):
    from simulation.geometry import FORCE

    x = FORCE.recon_centres_mm()
    xx, yy = np.meshgrid(x, x)
    return np.where(((xx - centre[0]) / a_mm) ** 2 + ((yy - centre[1]) / b_mm) ** 2 < 1, 0.0, -1000.0)[None], xx, yy


def _tangent_median(a_mm: float, b_mm: float) -> float:
    """Analytic: an ellipse's tangent line at parameter t lies 1/sqrt(cos^2 t/a^2 + sin^2 t/b^2) from its
    centre; the median of that over arc length."""
    t = np.linspace(0, 2 * np.pi, 200_001)[:-1]
    p = 1 / np.sqrt(np.cos(t) ** 2 / a_mm ** 2 + np.sin(t) ** 2 / b_mm ** 2)
    ds = np.hypot(a_mm * np.sin(t), b_mm * np.cos(t))
    order = np.argsort(p)
    cum = np.cumsum(ds[order])
    return float(p[order][np.searchsorted(cum, cum[-1] / 2)])


@pytest.mark.parametrize("a, b, centre", [(150.0, 150.0, (3.3, -7.1)), (160.0, 100.0, (0.0, 0.0))])
def test_the_skins_tangent_distance_is_the_outlines_geometry(a, b, centre):
    """A disc off the isocentre: its radius; an ellipse at it: the arc-length median of its tangent lines'
    distances."""
    from evaluation.external_set import skin_tangent_mm

    img, _, _ = _ellipse(a, b, centre)
    expected = a if a == b else _tangent_median(a, b)
    assert skin_tangent_mm(img) == pytest.approx(expected, rel=0.01)


def test_the_skins_tangent_distance_leaves_out_skin_without_air_outside():
    """A board 4-8 mm above the ellipse's flat top (tangent lines 100 mm away): that skin is not where the
    MTF is read, so the median moves to the rest of the outline, further out."""
    from evaluation.external_set import skin_tangent_mm

    img, xx, yy = _ellipse(160.0, 100.0)
    img[0][(np.abs(xx) < 60) & (yy > 104) & (yy < 108)] = 0.0
    assert skin_tangent_mm(img) > _tangent_median(160.0, 100.0) + 1.0


def test_an_external_set_at_an_unknown_dose_is_a_one_line_error(tmp_path, capsys):
    """The external set's doses are those whose tube current is known (1.3 and 6.5 mGy): another is refused
    before anything is rendered or written."""
    from evaluation.__main__ import main

    assert main(["external-set", "--out", str(tmp_path / "x"), "--doses", "2.0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "2.0" in err and "\n" not in err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("fat", [False, True])
def test_a_kernels_f50_at_its_own_skin_is_the_scanners_whatever_lies_under_the_skin(fat):
    """A voxel phantom (a 160 x 110 mm ellipse of soft tissue, with or without fat under a 2 mm skin) blurred
    by a Gaussian PSF (sigma 0.7 mm) and read at the image grid's pixel centres: the f50 at its own skin is
    that of the Gaussian times the voxels' own edge as the image grid reads it (a ramp one voxel wide, and
    each pixel centre the mean of the voxels either side of it: cos(pi p f)), within 1.5 %."""
    from scipy.ndimage import gaussian_filter

    from evaluation.external_set import own_edge_f50s
    from simulation.geometry import FORCE
    from simulation.phantom import to_image_grid
    from simulation.shapes import paint

    x = FORCE.pixel_centres_mm(FORCE.object_size)
    xx, yy = np.meshgrid(x, x)
    obj = np.full(xx.shape, -1000.0)
    for a, b, hu in [(160.0, 110.0, 40.0)] + ([(158.0, 108.0, -100.0)] if fat else []):
        rho = np.sqrt((xx / a) ** 2 + (yy / b) ** 2)
        grad = np.hypot(xx / a**2, yy / b**2) / np.maximum(rho, 1e-9)
        paint(obj, (rho - 1) / np.maximum(grad, 1e-9), hu, FORCE.object_pixel_mm)
    sigma = 0.7
    scan = to_image_grid(gaussian_filter(obj, sigma / FORCE.object_pixel_mm), FORCE)
    f = np.linspace(0.0, 1.0, 100_001)
    p = FORCE.object_pixel_mm
    truth = np.exp(-2 * (np.pi * sigma * f) ** 2) * np.sinc(p * f) * np.cos(np.pi * p * f)
    expected = f[np.argmax(truth < 0.5)]
    assert own_edge_f50s({"g": scan}, obj)["g"] == pytest.approx(expected, rel=0.015)
