"""``python -m evaluation report --data DATASET --model MODEL [--model NAME=MODEL ...] [--out DIR] [--json]``

Also ``external-set`` (the XCIST-rendered validation set), ``mtf-accuracy`` (the skin-air MTF against each
rendition's kernel), ``real-slices`` (real scanners' slices through models; ``--model input`` is the input)
and ``guard`` (the consistency guard's limits from validation phantoms, written into a model's card; its
false alarms and detection of corrupted outputs on held-out phantoms).

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
    x = sub.add_parser("external-set", help="render phantoms with XCIST (gecatsim): the external validation set")
    x.add_argument("--out", type=Path, required=True)
    x.add_argument("--phantoms", type=int, default=4, help="half COPD, half nodule phantoms")
    x.add_argument("--slices", type=int, default=2)
    x.add_argument("--seed", type=int, default=9000, help="seed of the first phantom")
    x.add_argument("--doses", type=float, nargs="+", metavar="MGY",
                   help="nominal CTDIvol of the renditions, among 1.3 and 6.5 (default: both)")
    x.add_argument("--split", choices=("test", "val"), default="test",
                   help="test: the external set proper, never used to choose; val: other seeds, for choosing what "
                        "concerns XCIST's kernels")
    x.add_argument("--jobs", type=int, default=1, help="phantoms rendered at once, one process (one core) each")
    x.add_argument("--sub-slice-mm", type=float,
                   help="each slice the mean of the phantom's sections this far apart (default 0.25; 1: one section)")
    m = sub.add_parser("mtf-accuracy", help="skin-air f50 against each rendition's kernel, over a dataset")
    m.add_argument("--data", type=Path, required=True)
    m.add_argument("--split", default=None, help="default: every phantom")
    m.add_argument("--json", action="store_true")
    m.add_argument("--own-edge", action="store_true",
                   help="an external set: against each kernel's f50 at the phantom's own edge, not the discs'")
    s = sub.add_parser("real-slices", help="real scanners' slices through models: the no-ground-truth checks")
    s.add_argument("--model", action="append", required=True)
    s.add_argument("--json", action="store_true")
    g = sub.add_parser("guard", help="calibrate the consistency guard on validation phantoms, assess on held-out")
    g.add_argument("--model", type=Path, required=True, help="model folder; --write-card puts the limits in its card")
    g.add_argument("--val", type=Path, help="dataset whose val phantoms set the limits (default: assess "
                                            "under the limits already in the model's card)")
    g.add_argument("--test", type=Path, action="append", default=[],
                   help="dataset whose test phantoms are only reported (repeat: each reported on its own)")
    g.add_argument("--max-phantoms", type=int)
    g.add_argument("--corrupt-every", type=int, default=4,
                   help="corrupt the output of every N-th held-out series (default 4; 0: none)")
    g.add_argument("--write-card", action="store_true")
    g.add_argument("--out", type=Path, help="folder for guard.json (every value) and detection.png")
    args = p.parse_args(argv)
    from common.errors import InputError

    if args.command != "report":
        try:
            return _companions(args)
        except (InputError, ValueError, FileNotFoundError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2

    from .plots import batch_bias, bland_altman, examples
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


def _guard(args) -> int:
    from .guard_calibration import CORRUPTIONS, assess, calibrate, run

    if args.val is None:
        from operators.harmonize import read_card

        limits = (read_card(args.model).get("guard") or {}).get("limits")
        if not limits or args.write_card:
            print("error: --val is needed to calibrate (the card has no guard limits, or --write-card)", file=sys.stderr)
            return 2
        val = None
        print("limits (the model card's): " + json.dumps(limits))
    else:
        val = run(args.val, "val", args.model, False, max_phantoms=args.max_phantoms)
        limits = calibrate(val["clean"])
        print("limits (validation maximum x margin; structure: per-slice tail): " + json.dumps(limits))
    result: dict = {"validation": val, "limits": limits}
    if args.write_card:
        from training.export import add_card_section

        add_card_section(args.model, "guard", {"limits": limits, "calibrated_on": f"{args.val} (val split), {val['series']} series",
                               "command": "python -m evaluation guard " + " ".join(sys.argv[2:])})
        print(f"limits written into {args.model}/model_card.json")
    for i, data in enumerate(args.test):
        test = assess(run(data, "test", args.model, True, seed=1 + i, max_phantoms=args.max_phantoms,
                          corrupt_every=args.corrupt_every), limits)
        result["held_out" if i == 0 else f"held_out_{data.name}"] = test
        print(f"held-out {data}: {test['false_alarms']} false alarms in {test['series']} clean series "
              f"({100 * test['false_alarm_rate']:.1f} %; {', '.join(test['false_alarm_checks']) or 'none'})")
        if not args.corrupt_every:                # no corrupted series, no detection table
            continue
        print(f"{'corruption':20s} " + " ".join(f"{'amount':>8s} {'caught':>7s}" for _ in range(1)))
        for kind, amounts in CORRUPTIONS.items():
            cells = [f"{a:>5} {100 * test['detection'][f'{kind} {a}']['rate']:5.0f} %" for a in amounts]
            print(f"{kind:20s} " + "   ".join(cells))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "guard.json").write_text(json.dumps(result, indent=1, default=float) + "\n")
        summary = {"limits": limits, "validation_series": val["series"] if val else None, "held_out": {
            key: {k: part[k] for k in ("data", "series", "false_alarms", "false_alarm_rate", "false_alarm_checks",
                                       "detection")}
            for key, part in result.items() if key.startswith("held_out")}}
        (args.out / "summary.json").write_text(json.dumps(summary, indent=1, default=float) + "\n")
        if args.test and args.corrupt_every:      # no corrupted series, no detection curve
            from .guard_calibration import detection_plot

            print(f"wrote {detection_plot(result['held_out'], args.out / 'detection.png')}")
    return 0


def _companions(args) -> int:
    if args.command == "guard":
        return _guard(args)
    if args.command == "external-set":
        from .external_set import MAS, SUB_SLICE_MM, make_external_set

        seeds = [(args.seed + i, "copd" if i % 2 == 0 else "nodule") for i in range(args.phantoms)]
        m = make_external_set(args.out, seeds, args.slices, doses=tuple(args.doses or MAS), split=args.split,
                              jobs=args.jobs,
                              sub_slice_mm=SUB_SLICE_MM if args.sub_slice_mm is None else args.sub_slice_mm)
        print(f"external set in {args.out}: {len(m['phantoms'])} phantoms x {len(m['doses_mgy'])} doses x "
              f"{len(m['kernels'])} kernels; kernel f50 {m['kernel_f50_per_mm']}")
        return 0
    if args.command == "mtf-accuracy":
        from .mtf_accuracy import dataset_errors, summary

        errors = dataset_errors(args.data, args.split, own_edge=args.own_edge)
        if args.json:
            print(json.dumps({"summary": summary(errors), "renditions": [dict(vars(e), error=e.error, z=e.z) for e in errors]},
                             indent=1, default=float))
            return 0
        for e in errors:
            print(f"{e.phantom}  {e.kernel:30s} {e.dose_mgy:6.2f} mGy  reference f50 {e.reference_f50:.3f}  "
                  f"skin-air {e.estimated_f50:.3f} ± {e.estimated_sd:.3f}  {100 * e.error:+6.1f} %  {e.reason or ''}")
        print(json.dumps(summary(errors)))
        return 0
    from .real_slices import evaluate, print_table

    named = [spec for spec in args.model if spec != "input"]
    models = {"input": None} if len(named) < len(args.model) else {}
    models.update(_models(named))
    result = evaluate(models)
    print(json.dumps(result, indent=1, default=float) if args.json else "", end="")
    if not args.json:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
