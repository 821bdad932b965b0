"""Export a harmonizer to TorchScript with its model card (the app's only contract with training).

``models/<name>/model.ts``        TorchScript, ``metadata.json`` embedded as an extra file
``models/<name>/model.pt2``       the same network as a ``torch.export`` program (TorchScript's successor), for
                                  512 x 512 slices, any batch: what the app loads where TorchScript cannot
``models/<name>/model_card.json`` name, version, sha256 of model.ts, I/O contract, provenance, metrics
``models/<name>/MODEL_CARD.md``   the same for people
"""
from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

import torch

from common.errors import InputError
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
            "exported_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            **provenance,
        },
        "metrics": metrics or {},
    }
    card["exported_program"] = export_program(module, out_dir)
    (out_dir / "model_card.json").write_text(json.dumps(card, indent=1) + "\n")
    (out_dir / "MODEL_CARD.md").write_text(card_markdown(card))
    return card


PROGRAM_SIZE = (512, 512)       # the exported program's slice size: the network specialises on it (its FFTs)


def export_program(module: torch.nn.Module, out_dir: Path) -> dict | None:
    """``out_dir/model.pt2``: ``module`` through ``torch.export`` for ``PROGRAM_SIZE`` slices and any batch
    (1-64), checked equal to the eager module; returns the card's ``exported_program`` entry (file, sha256,
    input size), or None for a module that does not export (a network that is not traceable)."""
    module = module.eval()
    g = torch.Generator().manual_seed(1)
    image, mtf = torch.rand(2, 1, *PROGRAM_SIZE, generator=g), torch.linspace(1, 0.1, 64).repeat(2, 1, 64, 1)
    batch = torch.export.Dim("batch", min=1, max=64)
    try:
        program = torch.export.export(module, (image, mtf), dynamic_shapes=({0: batch}, {0: batch}))
    except Exception:  # noqa: BLE001 - TorchScript stays the model; the card says there is no program
        return None
    path = Path(out_dir) / "model.pt2"
    tmp = path.with_name(f".{path.stem}.partial.pt2")      # torch.export wants the .pt2 ending
    torch.export.save(program, str(tmp))
    loaded = torch.export.load(str(tmp)).module()
    with torch.no_grad():
        if not torch.allclose(loaded(image[:1], mtf[:1]), module(image[:1], mtf[:1]), atol=1e-5):
            tmp.unlink()
            raise RuntimeError("the exported program's output differs from the eager model")
    tmp.replace(path)
    return {"file": path.name, "sha256": sha256_of(path), "input_size": list(PROGRAM_SIZE), "batch": [1, 64],
            "torch": torch.__version__}


def add_exported_program(model_dir: Path) -> dict:
    """Give an exported harmonizer its ``model.pt2``, rebuilt from its card's network config and the weights
    of its ``model.ts`` (which stays as it is); returns the updated card."""
    from .fit import build_generator

    file, card = verify_model(model_dir)
    cfg = (card.get("provenance") or {}).get("config")
    if not cfg:
        raise InputError(f"model {file} has no network config in its card: it cannot be rebuilt for torch.export")
    module = build_generator(cfg).eval()
    module.load_state_dict(torch.jit.load(str(file), map_location="cpu").state_dict(), strict=True)
    entry = export_program(module, file.parent)
    if entry is None:
        raise InputError(f"model {file} does not export with torch.export")
    return add_card_section(file.parent, "exported_program", entry)


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


CARD_SECTIONS = ("domain", "guard", "exported_program")


def add_card_section(model_dir: Path, key: str, value: dict) -> dict:
    """Put the validated ``domain`` (``training.domain``) or the consistency guard's calibrated limits
    (``guard``, from ``python -m evaluation guard``) into the card; model.ts is untouched."""
    if key not in CARD_SECTIONS:
        raise ValueError(f"a card section is one of {CARD_SECTIONS}, not {key!r}")
    model_dir = Path(model_dir)
    _, card = verify_model(model_dir)
    card[key] = value
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
    for key in CARD_SECTIONS:
        if card.get(key):
            lines += ["", f"## {key.capitalize()}", ""] + [f"- {k}: {v}" for k, v in card[key].items()]
    lines += ["", "## Metrics", ""]
    if card["metrics"]:
        lines += [f"- {k}: {v}" for k, v in card["metrics"].items()]
    else:
        lines += ["None recorded with the export; see the evaluation report."]
    return "\n".join(lines) + "\n"


def _datasets(data) -> list[dict]:
    """For the card: each dataset folder a run read, the simulator command that makes it, its seeds by split."""
    from simulation.dataset import dataset_command

    from .data import data_roots

    out = []
    for root in data_roots(data):
        phantoms = json.loads((root / "manifest.json").read_text())["phantoms"]
        out.append({"folder": str(root), "simulator_command": dataset_command(root),
                    "phantom_seeds_by_split": {s: [q["seed"] for q in phantoms if q["split"] == s]
                                               for s in ("train", "val", "test")}})
    return out


def _losses_used(cfg: dict, step: int) -> str:
    """What the exported weights were trained with: the critic and texture losses join at adversarial_start;
    the lung-density terms (not in the paper) are named when their weights are set, and a weight average."""
    text = _losses(cfg, step)
    if cfg.get("ema_decay"):
        text += f"; the weights are their exponential moving average over the steps (decay {cfg['ema_decay']})"
    return text


def _losses(cfg: dict, step: int) -> str:
    L = cfg["loss"]
    start = L.get("adversarial_start", 0)
    density = [f"{name} x {L[key]}" for key, name in
               (("lung_cdf_weight", f"lung HU histogram below {L.get('lung_cdf_hu', [-950.0])} HU"),
                ("lung_hu_weight", "mean lung HU")) if L.get(key)]
    where = ", image by image" if L.get("lung_density_per_image") else ""
    extra = f" (+ {' + '.join(density)} squared differences{where}, not in the paper)" if density else ""
    if cfg.get("init_from"):
        critic = cfg.get("init_critic")
        critic = "" if not critic else " and critic" if critic is True else f" and {critic}'s critic"
        return (f"warm-started from {cfg['init_from']}'s generator{critic}, then "
                + ("Huber alone" if step <= start else "Huber + WGAN-GP critic + Gram texture loss")
                + f"{extra} for {step} steps")
    if step <= start:
        return f"Huber distance loss alone{extra} (step {step}; the critic and texture losses join at step {start})"
    return f"Huber to step {start}, then Huber + WGAN-GP critic + Gram texture loss{extra} to step {step}"


def export_checkpoint(checkpoint: Path, out: Path, name: str, version: str, metrics: dict | None = None,
                      recipe: dict | None = None) -> dict:
    """Export a run's ``best.pt`` (or ``checkpoint.pt``) generator with a card whose provenance names the
    training command, config, seed, datasets, step, wall time and losses (and the ``recipe``, when one made it)."""
    from .fit import build_generator, hardware
    from .networks import __doc__ as net_doc

    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    cfg = ck["config"]
    g = build_generator(cfg)
    g.load_state_dict(ck["G"])
    run_dir = Path(cfg["run_dir"])
    wall, last_step = None, None
    if (run_dir / "checkpoint.pt").exists():
        last = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=False)
        wall, last_step = last.get("wall_s"), last.get("step")
    provenance = {
        "training_command": (recipe["command"] if recipe else f"python -m training fit --config {cfg['config_path']}"),
        "config": {k: v for k, v in cfg.items() if k != "config_path"},
        "seed": cfg["seed"],
        "data": _datasets(cfg["data"]),
        "checkpoint": str(checkpoint), "step": ck.get("step"),
        "run_wall_time_s": round(wall, 1) if wall else None, "run_last_step": last_step, "hardware": hardware(),
        "losses": _losses_used(cfg, ck.get("step") or 0),
        "texture_features": ck.get("texture_features"), "validation_at_export": ck.get("validation"),
    }
    if recipe:
        provenance["recipe"] = recipe
    return export(g, out, name=name, version=version, description=net_doc.strip().split("\n\n")[0].replace("\n", " "),
                  provenance=provenance, metrics=metrics)
