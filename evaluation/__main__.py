"""``python -m evaluation report --data DATASET --model MODEL [--model NAME=MODEL ...] [--out DIR] [--json]``

Runs each model on every rendition of the held-out (test-split) phantoms of a simulator dataset and prints
the paper's tables; ``--out`` also writes result.json and the figures. The first --model is "H"; others can be
named, e.g. ``--model baseline=models/physics_baseline --model unet=models/unet_v1``.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="Current stack size")


def _models(specs: list[str]) -> dict[str, Path]:
    out = {}
    for i, spec in enumerate(specs):
        name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        out[name or ("H" if i == 0 else f"model{i}")] = Path(path)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("report")
    r.add_argument("--data", type=Path, required=True, help="a simulator dataset (its test split is used)")
    r.add_argument("--model", action="append", required=True)
    r.add_argument("--split", default="test")
    r.add_argument("--out", type=Path)
    r.add_argument("--json", action="store_true", help="print every number as JSON instead of tables")
    r.add_argument("--max-phantoms", type=int)
    r.add_argument("--rendition-step", type=int, default=1, help="use every n-th rendition (quick looks)")
    r.add_argument("--card-metrics", type=Path, metavar="DIR",
                   help="also write DIR/<model name>.json, the flat summary a model card holds (python -m training card)")
    args = p.parse_args(argv)
    from operators.errors import InputError

    from .plots import bland_altman, batch_bias, examples
    from .report import card_metrics, evaluate, print_tables

    try:
        result = evaluate(args.data, _models(args.model), args.split, args.max_phantoms, args.rendition_step)
    except (InputError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    public = {k: v for k, v in result.items() if not k.startswith("_")}
    if args.json:
        print(json.dumps(public, indent=1, default=float))
    else:
        print_tables(result)
    if args.card_metrics:
        args.card_metrics.mkdir(parents=True, exist_ok=True)
        for name in result["models"]:
            (args.card_metrics / f"{name}.json").write_text(json.dumps(card_metrics(result, name), indent=1) + "\n")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "result.json").write_text(json.dumps(public, indent=1, default=float) + "\n")
        first = next(iter(result["models"]))
        for path in (bland_altman(result, args.out, first), batch_bias(result, args.out), examples(result, args.out)):
            if path:
                print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
