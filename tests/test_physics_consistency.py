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
    from simulation.geometry import FORCE
    from simulation.phantom import make_phantom
    from simulation.scanner import scan_slice
    from physics.noise import noise_sd

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

