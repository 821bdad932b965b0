"""The harmonizer runner: CPU runs never touch CUDA; the orientation round trip; batch sizes don't matter."""
import numpy as np
import pytest
import torch
from app_helpers import ROOT

from operators.harmonize import LoadedModel, harmonize_volume, load_model
from operators.orientation import canonical_flips
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


def test_channels_last_weights_give_the_same_harmonized_hu(tmp_path):
    """The memory layout is a speed choice only: a small harmonizer gives the same HU stored either way."""
    from training.export import export
    from training.networks import GeneratorConfig, HarmonizerGenerator, xavier_init

    torch.manual_seed(0)
    g = HarmonizerGenerator(GeneratorConfig(features=(4, 8), spectral_channels=2, omega_channels=4, post_channels=4))
    xavier_init(g)
    card = export(g, tmp_path / "m", "test", "0.0.1", "tiny", provenance={})
    assert card["memory_format"] == "channels_last"
    loaded = load_model(tmp_path / "m", device=torch.device("cpu"))
    conv = next(p for p in loaded.module.parameters() if p.dim() == 4 and p.shape[1] > 1 and p.shape[2] > 1)
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    plain = LoadedModel(torch.jit.load(str(tmp_path / "m" / "model.ts")).eval(), card, loaded.path, loaded.device)
    vol = np.random.default_rng(2).normal(-600, 150, (2, 64, 48)).astype(np.float32)
    m = mtf_2d(np.linspace(1, 0.3, 64))
    a = harmonize_volume(loaded, vol, m, [1, 0, 0, 0, 1, 0])
    b = harmonize_volume(plain, vol, m, [1, 0, 0, 0, 1, 0])
    assert np.abs(a - b).max() < 0.05                  # HU
