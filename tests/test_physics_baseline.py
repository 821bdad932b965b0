"""The physics baseline harmonizer: it brings a series to its target MTF (measured independently on the
output's skin-air edge), keeps large-area HU, and reads the MTF input (a model that ignored it would fail)."""
import numpy as np
import pytest
import torch
from test_physics_mtf import PIXEL, _series

from physics.mtf import estimate_mtf, mtf_2d
from training.physics_baseline import PhysicsBaseline

TARGET_F50 = 0.684 * 0.5 / PIXEL      # the baseline's target, 0.684 Nyquist, in cycles/mm


def _run(vol, mtf_curve):
    x = torch.from_numpy(((vol + 1024) / 2048).astype(np.float32))[:, None]
    m = torch.from_numpy(mtf_2d(mtf_curve))[None, None].expand(len(vol), -1, -1, -1)
    with torch.no_grad():
        return PhysicsBaseline()(x, m)[:, 0].numpy() * 2048 - 1024


@pytest.mark.parametrize("sigma", [0.3, 0.6])
def test_output_reaches_the_target_mtf(sigma):
    vol = _series(sigma, 5.0, slices=3)
    measured = estimate_mtf(vol, (PIXEL, PIXEL))
    out = _run(vol, measured.mtf)
    assert estimate_mtf(out, (PIXEL, PIXEL)).f50_per_mm == pytest.approx(TARGET_F50, rel=0.08)
    assert abs(out[:, 200:300, 200:300].mean() - vol[:, 200:300, 200:300].mean()) < 1.0


def test_the_mtf_input_matters():
    vol = _series(0.6, 5.0, slices=1)
    f = np.linspace(0, 0.5 / PIXEL, 64)
    sharp = np.exp(-2 * np.pi**2 * 0.3**2 * f**2)
    smooth = np.exp(-2 * np.pi**2 * 0.9**2 * f**2)
    a, b = _run(vol, sharp), _run(vol, smooth)
    assert np.abs(a - b).max() > 50
    # told the input is smooth, it sharpens: the output's f50 is higher than when told it is sharp
    assert estimate_mtf(b, (PIXEL, PIXEL)).f50_per_mm > estimate_mtf(a, (PIXEL, PIXEL)).f50_per_mm


def test_torchscript_equals_eager():
    m = PhysicsBaseline().eval()
    s = torch.jit.script(m)
    x, mtf = torch.rand(2, 1, 64, 48), torch.rand(2, 1, 64, 64)
    assert torch.allclose(m(x, mtf), s(x, mtf), atol=1e-6)
