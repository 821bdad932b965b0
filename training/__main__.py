"""Training companion CLI.

    python -m training recipe training/recipes/harmonizer_v11.yaml   # data -> phases -> export -> evaluation
    python -m training fit --config training/configs/default.yaml     # train (resumes from run_dir)
    python -m training export runs/harmonizer_v1/best.pt --out models/harmonizer_v1 [--metrics M.json]
    python -m training baseline --out models/physics_baseline          # the physics baseline
    python -m training domain models/harmonizer_v1 --data data/train_v1               # the card's validated domain
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    rc = sub.add_parser("recipe", help="simulate, train in phases, export and evaluate: one resumable command")
    rc.add_argument("recipe", type=Path)
    rc.add_argument("--root", type=Path, default=Path("."), help="folder the recipe's data/runs/models paths are in")
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
    d = sub.add_parser("domain", help="measure the domain a model was trained on and put it in its card")
    d.add_argument("model_dir", type=Path)
    d.add_argument("--data", nargs="+", required=True, help="the training platform's dataset folders")
    d.add_argument("--split", default="train")
    v = sub.add_parser("validate", help="a checkpoint's validation metrics on more validation slices than training uses")
    v.add_argument("checkpoints", type=Path, nargs="+", help="best.pt or checkpoint.pt files")
    v.add_argument("--slices", type=int, default=96, help="(phantom, slice, rendition) draws; training uses 6-12")
    v.add_argument("--data", nargs="+", help="dataset folders whose val phantoms to use (default: the run's own)")
    x = sub.add_parser("export-program", help="give an exported harmonizer its torch.export model.pt2 (model.ts "
                                              "untouched), rebuilt from the card's config and model.ts's weights")
    x.add_argument("model_dir", type=Path)
    b = sub.add_parser("baseline", help="export the physics (MTF-ratio) baseline to TorchScript with its card")
    b.add_argument("--out", type=Path, default=Path("models/physics_baseline"))
    args = p.parse_args(argv)

    if args.command == "recipe":
        from .recipe import Recipe

        try:
            model = Recipe(args.recipe, args.root, log=lambda line: print(line, flush=True)).run()
        except (ValueError, FileNotFoundError) as e:
            sys.exit(f"error: {e}")
        print(f"model {model}: card {model / 'model_card.json'}")
    elif args.command == "fit":
        from .fit import run

        run(args.config)
    elif args.command == "export":
        from .export import export_checkpoint

        metrics = json.loads(args.metrics.read_text()) if args.metrics else None
        card = export_checkpoint(args.checkpoint, args.out, args.name, args.version, metrics=metrics)
        print(f"wrote {args.out}/model.ts sha256 {card['sha256']}")
    elif args.command == "card":
        from common.errors import InputError

        from .export import add_metrics

        try:
            card = add_metrics(args.model_dir, json.loads(args.metrics.read_text()))
        except InputError as e:
            sys.exit(f"error: {e}")
        print(f"metrics added to {args.model_dir}/model_card.json (sha256 {card['sha256']})")
    elif args.command == "domain":
        from .domain import measure_domain
        from .export import add_card_section

        domain = measure_domain(args.data, args.split)
        add_card_section(args.model_dir, "domain", domain)
        print(json.dumps(domain))
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
    elif args.command == "export-program":
        from common.errors import InputError

        from .export import add_exported_program

        try:
            entry = add_exported_program(args.model_dir)["exported_program"]
        except InputError as e:
            sys.exit(f"error: {e}")
        print(f"wrote {args.model_dir}/{entry['file']} sha256 {entry['sha256']}")
    elif args.command == "baseline":
        from .export import export
        from .physics_baseline import PhysicsBaseline
        from .physics_baseline import __doc__ as doc

        card = export(PhysicsBaseline(), args.out, name="ct-harmonizer-physics-baseline", version="1.0.0",
                      description=doc.strip().split("\n\n")[0].replace("\n", " "),
                      provenance={"training": "none: a fixed physics filter, no learnt weights"})
        print(f"wrote {args.out}/model.ts sha256 {card['sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
