"""Lung density biomarkers on histograms whose answers are known by hand."""
import numpy as np
import pytest

from physics.biomarkers import lung_biomarkers


def test_known_histogram():
    # 1000 voxels: 100 at -980 HU, 900 at -800 HU, 1 mm^3 each
    hu = np.array([-980.0] * 100 + [-800.0] * 900)
    b = lung_biomarkers(hu, np.ones_like(hu, bool), voxel_mm3=1.0)
    assert b["laa950_percent"] == pytest.approx(10.0)
    assert b["perc15_hu"] == pytest.approx(-800.0)          # the 15th percentile falls in the -800 block
    # mass: 100 * 44/1024 + 900 * 224/1024 g/cm^3 over 1 mm^3 each = (4400 + 201600) / 1024 mg
    assert b["lung_mass_g"] == pytest.approx((4400 + 201600) / 1024 / 1000)
    assert b["lung_volume_ml"] == pytest.approx(1.0)


def test_water_weighs_one_gram_per_millilitre():
    b = lung_biomarkers(np.zeros((10, 10, 10)), np.ones((10, 10, 10), bool), voxel_mm3=1.0)
    assert b["lung_mass_g"] == pytest.approx(1.0) and b["laa950_percent"] == 0.0


def test_empty_mask():
    b = lung_biomarkers(np.zeros(5), np.zeros(5, bool), 1.0)
    assert np.isnan(b["laa950_percent"]) and b["lung_mass_g"] == 0.0


def test_fill_holes_equals_scipy():
    """The masks' one-labelling hole filling gives scipy.ndimage.binary_fill_holes' answer exactly."""
    from scipy import ndimage as ndi

    from physics.masks import fill_holes

    rng = np.random.default_rng(0)
    for density in (0.3, 0.5, 0.7):
        for _ in range(20):
            m = rng.random((48, 40)) < density
            assert np.array_equal(fill_holes(m), ndi.binary_fill_holes(m))
    assert not fill_holes(np.zeros((8, 8), bool)).any() and fill_holes(np.ones((8, 8), bool)).all()


def test_lung_mask_matches_the_phantom_lungs():
    """On the noisiest sharp rendition of a simulated chest (table and arms by its seed), the lung mask agrees
    with the phantom's own lung label (Dice >= 0.99) and finds no lung on the table or outside the body."""
    from physics.masks import lung_mask
    from simulation.geometry import FORCE
    from simulation.phantom import make_phantom
    from simulation.scanner import scan_volume

    ph = make_phantom(21, 3)
    vol = scan_volume(ph.object_hu, [1.3], ["Br64f"], seed=21)[(1.3, "Br64f")]
    found, truth = lung_mask(vol, pixel_mm=FORCE.pixel_mm), ph.lung > 0
    assert 2 * (found & truth).sum() / (found.sum() + truth.sum()) >= 0.99
    assert not (found & ~ph.body.astype(bool)).any()
