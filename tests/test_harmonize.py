"""The harmonizer runner: CPU runs never touch CUDA; the orientation round trip; batch sizes don't matter."""
import numpy as np
import pytest
import torch

from app_helpers import ROOT
from operators.harmonize import canonical_flips, harmonize_volume, load_model
from physics.mtf import mtf_2d


@pytest.fixture(scope="module")
def model():
    return load_model(ROOT / "models" / "physics_baseline", device=torch.device("cpu"))


def test_cpu_path_never_touches_cuda(model, monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("CUDA touched on a CPU run")

    for name in ("mem_get_info", "synchronize", "is_bf16_supported", "current_device", "set_device", "init"):
        monkeypatch.setattr(torch.cuda, name, forbidden)
    monkeypatch.setattr(torch.Tensor, "pin_memory", forbidden)
    vol = np.random.default_rng(0).normal(-500, 100, (3, 64, 64)).astype(np.float32)
    out = harmonize_volume(model, vol, mtf_2d(np.linspace(1, 0.3, 64)), [1, 0, 0, 0, 1, 0])
    assert out.shape == vol.shape and out.dtype == np.float32


def test_batch_size_does_not_change_the_result(model):
    vol = np.random.default_rng(1).normal(-500, 100, (5, 48, 40)).astype(np.float32)
    m = mtf_2d(np.linspace(1, 0.3, 64))
    a = harmonize_volume(model, vol, m, [1, 0, 0, 0, 1, 0], batch=1)
    b = harmonize_volume(model, vol, m, [1, 0, 0, 0, 1, 0], batch=8)
    assert np.allclose(a, b, atol=1e-3)


@pytest.mark.parametrize("iop, flips", [([1, 0, 0, 0, 1, 0], (False, False)), ([1, 0, 0, 0, -1, 0], (True, False)),
                                        ([-1, 0, 0, 0, 1, 0], (False, True)), ([-1, 0, 0, 0, -1, 0], (True, True))])
def test_canonical_flips(iop, flips):
    assert canonical_flips(iop) == flips
