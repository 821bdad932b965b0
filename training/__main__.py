"""Training companion CLI.

    python -m training fit --config training/configs/default.yaml     # train (resumes from run_dir)
    python -m training export runs/harmonizer_v1/best.pt --out models/harmonizer_v1 [--metrics M.json]
    python -m training baseline --out models/physics_baseline          # the physics baseline
    python -m training validate runs/a/best.pt runs/b/best.pt [--slices 96] [--data DIR ...]   # choose between runs

A config's ``data`` is one dataset folder or a list of them; a run trains on the train phantoms of each and
validates on their val phantoms.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="Current stack size")   # holoscan, imported by monai's namespace


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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fit", help="train the harmonizer or the U-Net ablation from a YAML config")
    f.add_argument("--config", type=Path, required=True)
    e = sub.add_parser("export", help="export a checkpoint's generator to TorchScript with its model card")
    e.add_argument("checkpoint", type=Path)
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--name", default="ct-harmonizer")
    e.add_argument("--version", default="1.0.0")
    e.add_argument("--metrics", type=Path, help="JSON of held-out metrics to put in the card")
    c = sub.add_parser("card", help="put held-out metrics into an exported model's card (model.ts untouched)")
    c.add_argument("model_dir", type=Path)
    c.add_argument("--metrics", type=Path, required=True,
                   help="python -m evaluation report ... --card-metrics M.json, run on this very model.ts")
    v = sub.add_parser("validate", help="a checkpoint's validation metrics on more validation slices than training uses")
    v.add_argument("checkpoints", type=Path, nargs="+", help="best.pt or checkpoint.pt files")
    v.add_argument("--slices", type=int, default=96, help="(phantom, slice, rendition) draws; training uses 6-12")
    v.add_argument("--data", nargs="+", help="dataset folders whose val phantoms to use (default: the run's own)")
    b = sub.add_parser("baseline", help="export the physics (MTF-ratio) baseline to TorchScript with its card")
    b.add_argument("--out", type=Path, default=Path("models/physics_baseline"))
    args = p.parse_args(argv)

    if args.command == "fit":
        from .fit import run

        run(args.config)
    elif args.command == "export":
        import torch

        from .export import export
        from .fit import build_generator, hardware
        from .networks import __doc__ as net_doc

        ck = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
        cfg = ck["config"]
        g = build_generator(cfg)
        g.load_state_dict(ck["G"])
        run_dir = Path(cfg["run_dir"])
        wall, last_step = None, None
        if (run_dir / "checkpoint.pt").exists():
            last = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=False)
            wall, last_step = last.get("wall_s"), last.get("step")
        provenance = {
            "training_command": f"python -m training fit --config {cfg['config_path']}",
            "config": {k: v for k, v in cfg.items() if k != "config_path"},
            "seed": cfg["seed"],
            "data": _datasets(cfg["data"]),
            "checkpoint": str(args.checkpoint), "step": ck.get("step"),
            "run_wall_time_s": round(wall, 1) if wall else None, "run_last_step": last_step, "hardware": hardware(),
            "losses": _losses_used(cfg, ck.get("step") or 0),
            "texture_features": ck.get("texture_features"), "validation_at_export": ck.get("validation"),
        }
        metrics = json.loads(args.metrics.read_text()) if args.metrics else None
        card = export(g, args.out, name=args.name, version=args.version,
                      description=net_doc.strip().split("\n\n")[0].replace("\n", " "),
                      provenance=provenance, metrics=metrics)
        print(f"wrote {args.out}/model.ts sha256 {card['sha256']}")
    elif args.command == "card":
        from .export import add_metrics

        from operators.errors import InputError

        try:
            card = add_metrics(args.model_dir, json.loads(args.metrics.read_text()))
        except InputError as e:
            sys.exit(f"error: {e}")
        print(f"metrics added to {args.model_dir}/model_card.json (sha256 {card['sha256']})")
    elif args.command == "validate":
        import torch

        from .fit import Trainer

        for path in args.checkpoints:
            ck = torch.load(path, map_location="cpu", weights_only=False)
            cfg = dict(ck["config"], validation_slices=args.slices, ema_decay=None)
            if args.data:
                cfg["data"] = args.data      # to compare runs that were validated on other phantoms
            trainer = Trainer(cfg)
            trainer.attach_data(train=[])
            trainer.G.load_state_dict(ck.get("G_ema") or ck["G"])     # a checkpoint's weight average if it has one
            metrics = trainer.validate()
            print(f"{path} (step {ck.get('step')}, {args.slices} slices): "
                  + ", ".join(f"{k} {val:.4f}" for k, val in metrics.items()))
    elif args.command == "baseline":
        from .export import export
        from .physics_baseline import PhysicsBaseline, __doc__ as doc

        card = export(PhysicsBaseline(), args.out, name="ct-harmonizer-physics-baseline", version="1.0.0",
                      description=doc.strip().split("\n\n")[0].replace("\n", " "),
                      provenance={"training": "none: a fixed physics filter, no learnt weights"})
        print(f"wrote {args.out}/model.ts sha256 {card['sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
