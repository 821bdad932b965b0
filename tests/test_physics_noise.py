"""Noise SD and NPS measured in a body against noise of known power and spectrum."""
import numpy as np
import pytest
from scipy import ndimage as ndi

from physics.noise import noise_sd, nps

PIXEL = 0.8


def _body_with_noise(sigma_hu: float, smoothing_px: float = 0.0, slices: int = 4, seed: int = 0):
    """A 0 HU elliptical body in air with stationary Gaussian noise (white, or white smoothed by a Gaussian).

    Returns the volume and the exact 2-D NPS of the noise (HU^2 mm^2 on the 24x24 ROI frequency grid)."""
    rng = np.random.default_rng(seed)
    n = 384
    y, x = (np.mgrid[0:n, 0:n] - n / 2) * PIXEL
    body = (x / 140) ** 2 + (y / 100) ** 2 < 1
    noise = rng.standard_normal((slices, n, n))
    if smoothing_px:
        noise = ndi.gaussian_filter(noise, (0, smoothing_px, smoothing_px), mode="wrap")
        noise /= np.sqrt(1.0 / (4 * np.pi * smoothing_px**2))   # unit variance again (continuous limit)
    vol = np.where(body, 0.0, -1000.0) + sigma_hu * noise
    f = np.fft.fftshift(np.fft.fftfreq(24))
    fr2 = f[:, None] ** 2 + f[None, :] ** 2                     # cycles/pixel
    shape = np.exp(-4 * np.pi**2 * smoothing_px**2 * fr2) * 4 * np.pi * smoothing_px**2 if smoothing_px else 1.0
    return vol.astype(np.float32), sigma_hu**2 * PIXEL**2 * shape * np.ones_like(fr2)


@pytest.mark.parametrize("sigma", [10.0, 40.0])
def test_noise_sd_of_white_noise(sigma):
    vol, _ = _body_with_noise(sigma)
    assert noise_sd(vol, (PIXEL, PIXEL)) == pytest.approx(sigma, rel=0.05)


def test_noise_sd_of_correlated_noise():
    vol, _ = _body_with_noise(25.0, smoothing_px=1.0)
    # local SDs of correlated noise read a little low (fewer independent samples in a 6 mm square)
    assert noise_sd(vol, (PIXEL, PIXEL)) == pytest.approx(25.0, rel=0.12)


@pytest.mark.parametrize("smoothing", [0.0, 1.0])
def test_nps_matches_the_known_spectrum(smoothing):
    vol, truth = _body_with_noise(30.0, smoothing_px=smoothing)
    r = nps(vol, (PIXEL, PIXEL))
    assert r.rois >= 40
    assert r.noise_sd_hu == pytest.approx(30.0, rel=0.05)
    assert r.global_noise_sd_hu == pytest.approx(30.0, rel=0.05 if not smoothing else 0.12)   # as noise_sd reads it
    # away from zero frequency (the plane fit removes the lowest bins), the 2-D NPS follows the truth
    f = np.fft.fftshift(np.fft.fftfreq(24))
    ring = (np.hypot(f[:, None], f[None, :]) > 0.08) & (np.hypot(f[:, None], f[None, :]) < 0.35)
    ratio = r.nps_2d[ring].mean() / truth[ring].mean()
    assert ratio == pytest.approx(1.0, rel=0.08)
    if smoothing:
        assert r.f_mean < 0.25 / PIXEL          # low-pass texture: power sits at low frequencies


def test_no_tissue_gives_nan_not_an_error():
    air = np.full((2, 128, 128), -1000.0, np.float32)
    assert np.isnan(noise_sd(air, (1.0, 1.0)))
    assert nps(air, (1.0, 1.0)).rois == 0


def test_noise_sd_on_the_simulator_matches_two_realisations():
    """CT noise (correlated by the kernel, stronger at the centre) in a water cylinder: the truth is the SD of
    the difference of two scans with independent noise, over the same disc, divided by sqrt 2."""
    from conftest import DISC_CENTRE, DISC_RADIUS, disc_distance

    from simulation.geometry import FORCE
    from simulation.phantom import disc_object
    from simulation.scanner import scan_slice

    disc = disc_object(DISC_RADIUS, DISC_CENTRE, hu_inside=0.0)
    a, b = (scan_slice(disc, [1.3], ["Br40f", "Br64f"], seed=s, slice_index=0) for s in (5, 6))
    d, _ = disc_distance()
    for kernel in ("Br40f", "Br64f"):
        img = a[(1.3, kernel)]
        truth = ((img - b[(1.3, kernel)]) / np.sqrt(2))[d < -8].std()
        assert noise_sd(img[None], (FORCE.pixel_mm, FORCE.pixel_mm)) == pytest.approx(truth, rel=0.08)
        assert nps(img[None], (FORCE.pixel_mm, FORCE.pixel_mm)).noise_sd_hu == pytest.approx(truth, rel=0.08)


def test_the_noise_is_the_same_on_one_thread_or_several(monkeypatch):
    """The slices are measured on a thread per core; the numbers must not depend on how many there are."""
    vol, _ = _body_with_noise(20.0, smoothing_px=0.7, slices=6, seed=3)

    def run(cores):
        monkeypatch.setattr("os.cpu_count", lambda: cores)
        r = nps(vol, (PIXEL, PIXEL))
        return noise_sd(vol, (PIXEL, PIXEL)), r.global_noise_sd_hu, r.rois, r.nps_2d.tolist()

    assert run(1) == run(4)
