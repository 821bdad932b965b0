"""Export a harmonizer to TorchScript with its model card (the app's only contract with training).

``models/<name>/model.ts``        TorchScript, ``metadata.json`` embedded as an extra file
``models/<name>/model_card.json`` name, version, sha256 of model.ts, I/O contract, provenance, metrics
``models/<name>/MODEL_CARD.md``   the same for people
"""
from __future__ import annotations

import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

from operators.errors import InputError
from operators.harmonize import sha256_of, verify_model

IO_CONTRACT = {
    "inputs": {
        "image": {"shape": "(B, 1, H, W)", "dtype": "float32", "normalisation": "(HU + 1024) / 2048"},
        "mtf2d": {"shape": "(B, 1, 64, 64)", "dtype": "float32",
                  "layout": "zero frequency at [32, 32], radius 32 = the input's Nyquist frequency",
                  "source": "physics.mtf.mtf_2d of 64 samples from 0 to Nyquist"},
    },
    "output": {"shape": "(B, 1, H, W)", "dtype": "float32", "normalisation": "(HU + 1024) / 2048"},
    "hu_offset": 1024.0,
    "hu_scale": 2048.0,
    "mtf_samples": 64,
}


def export(module: torch.nn.Module, out_dir: Path, name: str, version: str, description: str,
           provenance: dict, metrics: dict | None = None) -> dict:
    """Script ``module``, check the scripted copy equals the eager one, save it and its card. Returns the card."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    module = module.eval()
    scripted = torch.jit.script(module)
    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, 1, 96, 80, generator=g)
    mtf = torch.linspace(1, 0.1, 64).repeat(2, 1, 64, 1)
    with torch.no_grad():
        if not torch.allclose(scripted(image, mtf), module(image, mtf), atol=1e-5):
            raise RuntimeError("TorchScript output differs from the eager model")
    meta = {"name": name, "version": version, **IO_CONTRACT}
    model_path = out_dir / "model.ts"
    tmp = model_path.with_suffix(".ts.tmp")
    torch.jit.save(scripted, str(tmp), _extra_files={"metadata.json": json.dumps(meta)})
    tmp.replace(model_path)
    card = {
        "name": name,
        "version": version,
        "description": description,
        "file": "model.ts",
        "sha256": sha256_of(model_path),
        "parameters": int(sum(p.numel() for p in module.parameters())),
        **IO_CONTRACT,
        "memory_format": memory_format(module),
        "provenance": {
            "command": " ".join(["python -m training"] + sys.argv[1:]),
            "exported_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            **provenance,
        },
        "metrics": metrics or {},
    }
    (out_dir / "model_card.json").write_text(json.dumps(card, indent=1) + "\n")
    (out_dir / "MODEL_CARD.md").write_text(card_markdown(card))
    return card


def memory_format(module: torch.nn.Module) -> str:
    """The layout the app should run ``module`` in: ``channels_last`` for a convolutional network none of whose
    layers forces channels-first (torch's instance norm does: it copies a channels_last tensor to channels-first
    and back, which costs more than oneDNN's channels_last convolutions gain), else ``contiguous``."""
    convolutional = any(p.dim() == 4 for p in module.parameters())
    forces_nchw = any(isinstance(m, torch.nn.modules.instancenorm._InstanceNorm) for m in module.modules())
    return "channels_last" if convolutional and not forces_nchw else "contiguous"


def add_metrics(model_dir: Path, metrics: dict) -> dict:
    """Put ``metrics`` (evaluation.report.card_metrics) into the card of ``model_dir``; refused when they were
    measured on another file than this model.ts."""
    model_dir = Path(model_dir)
    file, card = verify_model(model_dir)              # the file is the one its card describes
    measured = metrics.get("model_sha256")
    if measured != card["sha256"]:
        raise InputError(f"these metrics were measured on sha256 {str(measured)[:12]}..., "
                         f"not on {file} ({card['sha256'][:12]}...)")
    card["metrics"] = metrics
    (model_dir / "model_card.json").write_text(json.dumps(card, indent=1) + "\n")
    (model_dir / "MODEL_CARD.md").write_text(card_markdown(card))
    return card


def card_markdown(card: dict) -> str:
    lines = [f"# {card['name']} {card['version']}", "", card["description"], "",
             f"- file: `{card['file']}`, sha256 `{card['sha256']}`",
             f"- parameters: {card['parameters']:,}",
             f"- input: image {card['inputs']['image']['shape']} as {card['inputs']['image']['normalisation']}; "
             f"mtf2d {card['inputs']['mtf2d']['shape']} ({card['inputs']['mtf2d']['layout']})",
             f"- output: {card['output']['shape']} as {card['output']['normalisation']}", "", "## Provenance", ""]
    lines += [f"- {k}: `{v}`" if k == "command" else f"- {k}: {v}" for k, v in card["provenance"].items()]
    lines += ["", "## Metrics", ""]
    if card["metrics"]:
        lines += [f"- {k}: {v}" for k, v in card["metrics"].items()]
    else:
        lines += ["None recorded with the export; see the evaluation report."]
    return "\n".join(lines) + "\n"
