"""Load the harmonizer (TorchScript, checked against its model card) and run it over a volume, slice by slice.

Model location (``-m`` / ``HOLOSCAN_MODEL_PATH``): a folder holding ``model.ts`` and ``model_card.json``, the
``model.ts`` file itself, or a models root whose ``DEFAULT`` file names the model folder to use.

Format: ``model.ts`` (TorchScript, what the SDK's model factory loads) and, where the card lists one, its
``exported_program`` ``model.pt2`` (``torch.export``, TorchScript's successor; 512 x 512 slices). The
environment's ``CT_HARMONIZER_MODEL_FORMAT`` chooses: ``auto`` (default: TorchScript, the exported program
where TorchScript does not load, as in a torch without ``torch.jit.load``), ``torchscript`` or ``exported``.
Each file is checked against its sha256 in the card before it is loaded.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from common.errors import InputError

from .orientation import canonical_view

BATCH_SLICES = 1                    # CPU: one slice per forward is the fastest per slice (benchmarks/app_end_to_end.py)
BYTES_PER_PIXEL_IN_FLIGHT = 600     # activations of the default network per input pixel, float32, measured order


FORMAT_ENV = "CT_HARMONIZER_MODEL_FORMAT"
FORMATS = ("auto", "torchscript", "exported")


@dataclass
class LoadedModel:
    module: torch.nn.Module              # TorchScript module, or the exported program's module
    card: dict
    path: Path                           # the file loaded
    device: torch.device
    format: str = "torchscript"          # or "exported"
    input_size: tuple[int, int] | None = None     # the slices an exported program takes; None: any

    @property
    def info(self) -> dict:
        return {"name": self.card["name"], "version": self.card["version"], "sha256": self.card["sha256"],
                "device": str(self.device), "path": str(self.path), "format": self.format,
                "precision": self.precision}

    @property
    def precision(self) -> str:
        """The forward's arithmetic: float32 on the CPU; on CUDA the autocast type ``harmonize_volume`` uses."""
        if self.device.type != "cuda":
            return "float32"
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


def resolve_model(path: Path) -> Path:
    """The ``model.ts`` file that ``path`` designates (see module notes)."""
    path = Path(path)
    if path.is_file():
        return path
    if (path / "model.ts").is_file():
        return path / "model.ts"
    if (path / "DEFAULT").is_file():
        return resolve_model(path / (path / "DEFAULT").read_text().strip())
    raise InputError(f"no model at {path} (expected model.ts, or a DEFAULT file naming a model folder)")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def pick_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


_LOADED: dict[tuple[str, str, str, str], LoadedModel] = {}     # (file, sha256, device) -> the model, in this process


def load_model(path: Path, device: torch.device | None = None, model_format: str | None = None) -> LoadedModel:
    """Load a model after ``verify_model``, in the format ``model_format`` (default: the environment's
    ``CT_HARMONIZER_MODEL_FORMAT``, else auto; see the module notes). A process that runs study after study
    (the cohort runner's workers) loads each verified file once per device."""
    file, card = verify_model(path)
    device = device or pick_device()
    model_format = model_format or os.environ.get(FORMAT_ENV) or "auto"
    if model_format not in FORMATS:
        raise InputError(f"{FORMAT_ENV}={model_format}: choose one of {', '.join(FORMATS)}")
    key = (str(file.resolve()), card["sha256"], str(device), model_format)
    if key not in _LOADED:
        if model_format == "exported":
            loaded = _load_program(file, card, device)
        else:
            try:
                loaded = _load_torchscript(file, card, device)
            except Exception as e:  # noqa: BLE001 - any failure to load TorchScript: the program, if there is one
                if model_format == "torchscript" or not card.get("exported_program"):
                    raise
                logging.getLogger(__name__).info("TorchScript did not load (%s): the exported program instead", e)
                loaded = _load_program(file, card, device)
        if card.get("memory_format") == "channels_last":    # the exporter's word (training.export.memory_format)
            loaded.module = channels_last(loaded.module)
        _LOADED[key] = loaded
    return _LOADED[key]


def _load_torchscript(file: Path, card: dict, device: torch.device) -> LoadedModel:
    from monai.deploy.core.models import TorchScriptModel

    sdk_model = TorchScriptModel(str(file), card.get("name", "harmonizer"))
    sdk_model.predictor = torch.jit.load(str(file), map_location=device).eval()   # the SDK's class, our device
    return LoadedModel(sdk_model.predictor, card, file, device)


def _load_program(file: Path, card: dict, device: torch.device) -> LoadedModel:
    """The card's ``exported_program`` beside ``file``, after its sha256 check."""
    entry = card.get("exported_program")
    if not entry:
        raise InputError(f"model {file} has no exported program (model.pt2) in its card")
    program = file.parent / entry["file"]
    if not program.is_file():
        raise InputError(f"model {file}'s exported program {program} is missing")
    digest = sha256_of(program)
    if digest != entry.get("sha256"):
        raise InputError(f"model {program} fails its integrity check: sha256 {digest[:12]}... "
                         f"!= model card {str(entry.get('sha256'))[:12]}...")
    module = torch.export.load(str(program)).module().to(device)
    return LoadedModel(module, card, program, device, "exported", tuple(entry["input_size"]))


def channels_last(module: torch.nn.Module) -> torch.nn.Module:
    """Store the 2-D convolution weights channels_last (in place; the file and its sha256 are untouched): the
    convolutions then produce and take channels_last activations, which oneDNN runs faster on the CPU at the
    harmonizer's widths (benchmarks/app_end_to_end.py measures it), and CUDA's tensor cores want."""
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() == 4:
                p.data = p.data.contiguous(memory_format=torch.channels_last)
    return module


def read_card(path: Path) -> dict:
    """The model card beside ``path``'s model file, without hashing the file again (the app verifies it once
    before the graph starts, and ``load_model`` when it loads it)."""
    return json.loads((resolve_model(path).parent / "model_card.json").read_text())


def verify_model(path: Path) -> tuple[Path, dict]:
    """(model file, card) after checking the file's sha256 against ``model_card.json`` beside it."""
    file = resolve_model(path)
    card_path = file.parent / "model_card.json"
    if not card_path.is_file():
        raise InputError(f"model {file} has no model_card.json beside it")
    try:
        card = json.loads(card_path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"model card {card_path} is not valid JSON ({e.msg})") from e
    digest = sha256_of(file)
    if digest != card.get("sha256"):
        raise InputError(f"model {file} fails its integrity check: sha256 {digest[:12]}... "
                         f"!= model card {str(card.get('sha256'))[:12]}...")
    return file, card


def batch_size(model: LoadedModel, rows: int, cols: int, default: int = BATCH_SLICES) -> int:
    """Slices per forward pass: ``default`` on CPU (larger batches ran slower per slice and need more memory:
    0.28 s at 1, 0.51 s at 8 for the default network on 2 cores); on CUDA as many as half the free memory
    holds (1..64)."""
    if model.device.type != "cuda":
        return default
    free, _ = torch.cuda.mem_get_info(model.device)
    per_slice = rows * cols * float(model.card.get("bytes_per_pixel", BYTES_PER_PIXEL_IN_FLIGHT))
    return int(max(1, min(64, 0.5 * free // per_slice)))


def harmonize_volume(model: LoadedModel, volume_hu: np.ndarray, mtf2d: np.ndarray, orientation,
                     batch: int = BATCH_SLICES) -> np.ndarray:
    """Run the model on every slice of ``(K, rows, cols)`` HU; returns float32 HU of the same shape.

    A network whose weights ``load_model`` stored channels_last runs channels_last throughout (the one-channel
    input is both layouts at once). CUDA: batch sized by free memory, autocast (bfloat16 where supported, else
    float16), pinned host memory, non-blocking copies. CPU: float32, ``batch`` slices at a time, no CUDA call
    at all."""
    card = model.card
    offset, scale = float(card.get("hu_offset", 1024.0)), float(card.get("hu_scale", 2048.0))
    vol = canonical_view(np.asarray(volume_hu, dtype=np.float32), orientation)
    if model.input_size is not None and tuple(vol.shape[1:]) != model.input_size:
        raise RuntimeError(f"the model's exported program takes {model.input_size[0]} x {model.input_size[1]} "
                           f"slices, this series has {vol.shape[1]} x {vol.shape[2]} (its TorchScript takes any)")
    out = np.empty(vol.shape, np.float32)
    cuda = model.device.type == "cuda"
    if cuda:
        batch = batch_size(model, vol.shape[1], vol.shape[2])
    mtf = torch.from_numpy(np.ascontiguousarray(mtf2d, dtype=np.float32))[None, None].to(model.device)
    autocast: contextlib.AbstractContextManager
    if cuda:
        autocast = torch.autocast("cuda", dtype=getattr(torch, model.precision))
    else:
        autocast = contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        for start in range(0, len(vol), batch):
            chunk = torch.from_numpy(np.ascontiguousarray(vol[start:start + batch]))[:, None]
            chunk = (chunk + offset) / scale
            if cuda:
                chunk = chunk.pin_memory().to(model.device, non_blocking=True)
            y = model.module(chunk, mtf.expand(chunk.shape[0], -1, -1, -1))
            out[start:start + batch] = (y.float()[:, 0] * scale - offset).cpu().numpy()
    return np.ascontiguousarray(canonical_view(out, orientation))
