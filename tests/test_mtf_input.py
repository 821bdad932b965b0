"""The harmonizer's MTF input falls back from the measured edge to the kernel's table entry to the default."""
import numpy as np
import pytest
from test_physics_mtf import PIXEL, _series

from operators.mtf_input import mtf_input
from physics.kernel_table import DEFAULT_F50, kernel_f50


def test_measured_when_the_edge_is_usable():
    out, m2d = mtf_input(_series(0.6, 10.0, slices=2), (PIXEL, PIXEL), ["Br40f"])
    assert out["source"] == "measured" and out["quality"]["usable"] and m2d.shape == (64, 64)


@pytest.mark.parametrize("kernel, source, f50", [(["Br59f", "3"], "kernel-table", 0.59), ("B30f", "kernel-table", 0.30),
                                                 ("STANDARD", "default", DEFAULT_F50), (None, "default", DEFAULT_F50)])
def test_fallbacks_when_the_body_fills_the_field(kernel, source, f50):
    tissue = np.zeros((2, 256, 256), np.float32)        # a small field inside the body: no skin-air edge
    out, m2d = mtf_input(tissue, (0.5, 0.5), kernel)
    assert out["source"] == source and not out["quality"]["usable"] and out["quality"]["reason"]
    assert out["f50_per_mm"] == pytest.approx(f50)
    # the curve crosses one half at f50 and the 2-D map is that curve, radially
    assert np.interp(0.5, out["mtf"][::-1], out["frequencies_per_mm"][::-1]) == pytest.approx(f50, rel=0.02)
    assert m2d[32, 32] == pytest.approx(1.0)


def test_kernel_names():
    assert kernel_f50("Br40f") == 0.40 and kernel_f50(["Qr61f", "3"]) == 0.61 and kernel_f50("Bl57d") == 0.57
    assert kernel_f50("LUNG") is None and kernel_f50("") is None
