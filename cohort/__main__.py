"""``python -m cohort -i COHORT -o OUT [-m MODEL] [--workers N] [--address ADDR]``: harmonize every study of a
cohort (a CSV manifest or a folder of study folders) on long-lived workers, and write one table.

OUT/studies/<study>/   each study's derived series (and DICOM results), as ``python -m app`` writes them
OUT/records/<study>.json   each study's record, written last: a rerun skips the studies that are done
OUT/cohort.parquet, OUT/cohort.csv   one row per series: scanner, kernel, kVp, dose, slice thickness,
    measured MTF f50, noise, each biomarker before and after, the gate's and guard's verdicts, the model's
    sha256, timings, and the Bland-Altman differences to the subject's reference rendition
OUT/summary.json, OUT/subjects.csv, OUT/bland_altman.png   the spread of each biomarker per subject before
    and after, and the Bland-Altman bias and limits

Exit status: 0 every study ran (a refused series is a row of the table, with its reason); 4 a study failed
after its retries (its row says why); 2 bad manifest or options (one line).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _parse(argv):
    p = argparse.ArgumentParser(prog="python -m cohort", description=__doc__.split("\n\n")[0])
    p.add_argument("-i", "--input", type=Path, required=True, help="CSV manifest (path[,study,subject]) or folder")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("-m", "--model", type=Path, default=ROOT / "models", help="as python -m app's -m")
    p.add_argument("--workers", type=int, default=None,
                   help="workers (default: 2 on a local cluster; one per GPU, else per CPU, on --address)")
    p.add_argument("--address", default=None, help="a running Ray cluster (e.g. auto or ray://HOST:10001)")
    p.add_argument("--engine", choices=["ray", "serial"], default="ray",
                   help="serial: one worker in this process, no Ray (default: ray)")
    p.add_argument("--retries", type=int, default=2, help="more attempts for a study whose worker died")
    p.add_argument("--reference-kernel", default=None,
                   help="the reference rendition's kernel (regular expression); default: highest CTDIvol, "
                        "then the lowest measured MTF f50")
    p.add_argument("--outputs", default="seg,sr,sc", help="as python -m app's --outputs")
    p.add_argument("--outside-domain", action="store_true", help="as python -m app's --outside-domain")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = _parse(argv)
    from common.errors import InputError

    from .manifest import read_manifest
    from .runner import run_cohort
    from .table import add_bland_altman, choose_references, cohort_rows, plot_bland_altman, summary, write_table

    outputs = {x for x in args.outputs.split(",") if x} - {"none"}
    if outputs - {"seg", "sr", "sc"} or ("sr" in outputs and "seg" not in outputs):
        print(f"error: --outputs {args.outputs}: choose from seg, sr, sc or none (sr needs seg)", file=sys.stderr)
        return 2
    try:
        studies = read_manifest(args.input)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    workers = args.workers or (None if args.address else 2)
    started = time.perf_counter()
    run = run_cohort(studies, args.output, args.model, workers=workers, engine=args.engine, address=args.address,
                     retries=args.retries, outputs=outputs, outside_domain=args.outside_domain)
    rows = cohort_rows(run.records)
    add_bland_altman(rows, choose_references(rows, args.reference_kernel))
    written = write_table(rows, args.output)
    result = summary(rows)
    result["cohort"]["seconds"] = time.perf_counter() - started
    result["cohort"]["skipped_as_done"] = len(run.skipped)
    (args.output / "summary.json").write_text(json.dumps(result, indent=1))
    import pandas as pd

    pd.DataFrame(result["subjects"]).to_csv(args.output / "subjects.csv", index=False)
    figure = plot_bland_altman(rows, args.output)
    failed = [r for r in run.records if r["status"] != "done"]
    counts = result["cohort"]["series"]
    print(f"{len(studies)} studies ({len(run.skipped)} already done), {counts['written']} series written, "
          f"{counts['refused']} refused, {len(failed)} studies failed: {', '.join(str(p) for p in written)}"
          + (f", {figure}" if figure else ""))
    for rec in failed:
        print(f"failed {rec['study']}: {rec['reason']} (after {rec['attempts']} attempts)", file=sys.stderr)
    return 4 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
