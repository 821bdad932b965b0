import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYTHONPATH", str(ROOT))

DISC_CENTRE, DISC_RADIUS = (3.3, -7.1), 100.0


def disc_distance():
    """Signed distance (mm) of every image pixel to the water disc's edge, and its radius."""
    from simulation.geometry import FORCE

    x = FORCE.pixel_centres_mm()
    xx, yy = np.meshgrid(x, x)
    r = np.hypot(xx - DISC_CENTRE[0], yy - DISC_CENTRE[1])
    return r - DISC_RADIUS, r


@pytest.fixture(scope="session")
def noise_free_disc():
    """A 20 cm water disc scanned without noise by every kernel: the chain's edge-phantom measurement."""
    from simulation.kernels import KERNEL_NAMES
    from simulation.phantom import disc_object
    from simulation.scanner import scan_slice

    return scan_slice(disc_object(DISC_RADIUS, DISC_CENTRE, hu_inside=0.0), [None], list(KERNEL_NAMES),
                      seed=0, slice_index=0)


@pytest.fixture(scope="session")
def kernel_f50(noise_free_disc):
    """Each kernel's f50 through the whole chain, from the disc's radial ESF (both halves: water is uniform)."""
    from evaluation.mtf_accuracy import disc_edge_f50
    from simulation.kernels import KERNEL_NAMES

    return {k: disc_edge_f50(noise_free_disc[(None, k)], centre_mm=DISC_CENTRE, radius_mm=DISC_RADIUS)
            for k in KERNEL_NAMES}
