"""The domain gate's measurements against known anatomy: a chest slab shows lungs, the same slab with its
lungs filled and real head and neck slices do not; a quantity outside the card's range is named, one the
series does not tell is not held against it."""
from __future__ import annotations

import numpy as np
import pytest

from physics import domain
from physics.masks import lung_mask


@pytest.fixture(scope="module")
def chest():
    from simulation.geometry import FORCE
    from simulation.phantom import make_phantom

    ph = make_phantom(31, 2, kind="copd", arms=False)
    return ph.gt_hu.astype(np.float32), FORCE.pixel_mm


def test_a_chest_shows_lungs_and_the_same_without_them_does_not(chest):
    vol, pixel = chest
    lungs = lung_mask(vol, pixel)
    assert domain.lung_fraction(vol, lungs, pixel) > 0.2
    filled = np.where(lungs, 40.0, vol)
    assert domain.lung_fraction(filled, lung_mask(filled, pixel), pixel) < 0.02


@pytest.mark.parametrize("name", ["693_UNCR.dcm", "bad_sequence.dcm", "CT_small.dcm"])
def test_real_head_and_neck_slices_show_no_lungs(name):
    from evaluation.real_slices import read_real_slice, real_slice_path

    if real_slice_path(name) is None:
        pytest.skip(f"{name}'s package is not installed")
    sl = read_real_slice(name)
    pixel = float(min(sl.spacing_mm))
    assert domain.lung_fraction(sl.hu, lung_mask(sl.hu, pixel), pixel) < domain.MIN_LUNG_FRACTION


CARD = {"min_lung_fraction": 0.1, "kvp": [120, 120], "pixel_spacing_mm": [0.93, 1.03],
        "slice_thickness_mm": [0.9, 1.1], "mtf_f50_per_mm": [0.29, 0.8], "noise_sd_hu": [3, 130]}
INSIDE = {"lung_fraction": 0.3, "kvp": 120.0, "pixel_spacing_mm": 0.977, "slice_thickness_mm": 1.0,
          "mtf_f50_per_mm": 0.5, "noise_sd_hu": 40.0}


def test_inside_passes_and_each_quantity_outside_is_named():
    assert domain.verdict(domain.check(CARD, INSIDE)) == (True, "inside the model's validated domain")
    for name, value in (("kvp", 100.0), ("pixel_spacing_mm", 0.7), ("slice_thickness_mm", 5.0),
                        ("mtf_f50_per_mm", 0.9), ("noise_sd_hu", 200.0)):
        inside, line = domain.verdict(domain.check(CARD, dict(INSIDE, **{name: value})))
        assert not inside and line.count(name) == 1, line
    inside, line = domain.verdict(domain.check(CARD, dict(INSIDE, lung_fraction=0.02)))
    assert not inside and "no lungs in the field" in line


def test_what_a_series_does_not_tell_is_not_held_against_it():
    unknown = dict(INSIDE, kvp=None, mtf_f50_per_mm=None)
    assert domain.verdict(domain.check(CARD, unknown))[0]


def test_a_card_without_a_domain_checks_nothing_and_says_so():
    assert domain.check(None, INSIDE) == []
    assert domain.verdict([]) == (True, "the model's card states no validated domain: not checked")
