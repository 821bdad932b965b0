"""The virtual scanner measured like a real one: MTF from an edge phantom, noise vs dose, HU, registration."""
import numpy as np
import pytest
from conftest import DISC_CENTRE, DISC_RADIUS
from conftest import disc_distance as _radial_distance

from physics.esf import binned_esf, mtf_from_esf
from simulation.kernels import KERNEL_NAMES, get_kernel
from simulation.phantom import disc_object, make_phantom
from simulation.scanner import scan_slice


@pytest.fixture(scope="module")
def water_disc():
    return disc_object(DISC_RADIUS, DISC_CENTRE, hu_inside=0.0)


@pytest.fixture(scope="module")
def noise_free(noise_free_disc):
    return noise_free_disc


def test_every_kernel_hits_its_nominal_f50_through_the_whole_chain(kernel_f50):
    measured = kernel_f50
    for name in KERNEL_NAMES:
        nominal = get_kernel(name).f50
        assert abs(measured[name] / nominal - 1) < 0.10, (name, measured[name], nominal)
    # smooth -> sharp: kernels of a higher sharpness index measure a strictly higher f50
    for a in KERNEL_NAMES:
        for b in KERNEL_NAMES:
            if get_kernel(a).f50 < get_kernel(b).f50:
                assert measured[a] < measured[b], (a, b)


def test_water_reads_zero_hu(noise_free):
    _, r = _radial_distance()
    inside = r < DISC_RADIUS - 10
    for name in ("Br32f", "Br40f", "Qr59f", "Br69f"):
        assert abs(noise_free[(None, name)][inside].mean()) < 5.0


@pytest.fixture(scope="module")
def noisy(water_disc):
    return scan_slice(water_disc, [1.3, 6.5], ["Br40f", "Br40f(3)"], seed=3, slice_index=0)


def test_noise_sd_scales_as_inverse_square_root_of_dose(noisy):
    _, r = _radial_distance()
    roi = r < 50
    low, high = noisy[(1.3, "Br40f")][roi].std(), noisy[(6.5, "Br40f")][roi].std()
    assert abs(low / high / np.sqrt(5.0) - 1) < 0.10, (low, high)
    # both doses give a physically plausible body-scan noise level for a 20 cm water cylinder
    assert 5 < high < 30 and 10 < low < 70


def test_iterative_lowers_noise_and_keeps_the_mean(noisy):
    _, r = _radial_distance()
    roi = r < 50
    for dose in (1.3, 6.5):
        fbp, it = noisy[(dose, "Br40f")][roi], noisy[(dose, "Br40f(3)")][roi]
        assert it.std() < 0.8 * fbp.std()
        assert abs(it.mean() - fbp.mean()) < 1.0


def test_iterative_keeps_the_edge(water_disc):
    d, _ = _radial_distance()
    near = np.abs(d) < 12
    img = scan_slice(water_disc, [6.5], ["Br59f(3)"], seed=1, slice_index=0)[(6.5, "Br59f(3)")]
    f50 = mtf_from_esf(*binned_esf(d[near], img[near])).f50
    assert abs(f50 / 0.59 - 1) < 0.10


@pytest.fixture(scope="module")
def chest():
    ph = make_phantom(11, 1, kind="copd")
    img = scan_slice(ph.object_hu[0], [6.5], ["Br32f"], seed=11, slice_index=0)[(6.5, "Br32f")]
    return ph, img


def test_reconstruction_is_registered_to_the_ground_truth(chest):
    ph, img = chest
    gt = ph.gt_hu[0]
    a, b = gt - gt.mean(), img - img.mean()
    xc = np.fft.irfft2(np.fft.rfft2(a) * np.conj(np.fft.rfft2(b)), s=a.shape)
    peak = np.unravel_index(np.argmax(xc), xc.shape)
    assert peak == (0, 0), f"reconstruction shifted by {peak} pixels"
    flipped = [np.corrcoef(gt.ravel(), f.ravel())[0, 1] for f in (img[::-1], img[:, ::-1])]
    assert np.corrcoef(gt.ravel(), img.ravel())[0, 1] > 0.95 > max(flipped)


def test_lung_parenchyma_hu_matches_ground_truth(chest):
    from scipy.ndimage import binary_erosion

    ph, img = chest
    lung = binary_erosion(ph.lung[0] > 0, iterations=3)
    assert lung.sum() > 5000
    assert abs(img[lung].mean() - ph.gt_hu[0][lung].mean()) < 5.0
