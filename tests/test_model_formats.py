"""The shipped harmonizer as TorchScript and as a torch.export program: the same output, each file checked."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from app_helpers import ROOT

from common.errors import InputError
from operators.harmonize import _LOADED, harmonize_volume, load_model

MODEL = ROOT / "models" / "harmonizer_v10"


@pytest.fixture(scope="module")
def chest_slice():
    """One 512 x 512 simulated chest slice (HU) and its MTF input, as the app makes it."""
    from operators.mtf_input import mtf_input
    from simulation.phantom import make_phantom
    from simulation.scanner import scan_volume

    ph = make_phantom(3, 1)
    hu = np.asarray(scan_volume(ph.object_hu, [1.3], ["Br64f"], seed=3)[(1.3, "Br64f")], np.float32)
    return hu, mtf_input(hu, (0.9765625, 0.9765625), "Br64f")[1]


def test_the_exported_program_gives_the_torchscript_output(chest_slice):
    hu, mtf2d = chest_slice
    cpu = torch.device("cpu")
    ts = load_model(MODEL, cpu, "torchscript")
    program = load_model(MODEL, cpu, "exported")
    assert (ts.format, program.format) == ("torchscript", "exported")
    orientation = [1, 0, 0, 0, 1, 0]
    a = harmonize_volume(ts, hu, mtf2d, orientation)
    b = harmonize_volume(program, hu, mtf2d, orientation)
    assert np.abs(a - hu).max() > 10          # the network did change the slice
    assert np.abs(a - b).max() < 0.01         # HU


def test_auto_loads_the_exported_program_where_torchscript_does_not_load(monkeypatch):
    def no_torchscript(*args, **kwargs):
        raise RuntimeError("torch.jit.load is not supported")

    monkeypatch.setattr(torch.jit, "load", no_torchscript)
    _LOADED.clear()
    try:
        assert load_model(MODEL, torch.device("cpu"), "auto").format == "exported"
        with pytest.raises(RuntimeError, match="not supported"):
            load_model(MODEL, torch.device("cpu"), "torchscript")
    finally:
        _LOADED.clear()


def test_an_exported_program_whose_bytes_changed_is_refused(tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(MODEL, copy)
    data = bytearray((copy / "model.pt2").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.pt2").write_bytes(bytes(data))
    with pytest.raises(InputError, match="model.pt2 fails its integrity check"):
        load_model(copy, torch.device("cpu"), "exported")
    (copy / "model.pt2").unlink()
    with pytest.raises(InputError, match="is missing"):
        load_model(copy, torch.device("cpu"), "exported")
