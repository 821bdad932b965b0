"""One study in a warm worker: the app's job run twice in one process, the second run's time by stage.

    python benchmarks/warm_study.py [--slices 300] [--model models/harmonizer_v10] [--runs 2]

What a cohort worker pays per study once its imports and model are loaded (``app.__main__.run_study``, as
``python -m cohort`` calls it). Prints each run's stages in seconds and the time outside the forward pass
(every stage but ``harmonizer``). The study is simulated once into data/bench_study_<N> (as
benchmarks/app_end_to_end.py does).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "harmonizer_v10")
    ap.add_argument("--runs", type=int, default=2, help="runs in the one process; the first pays the start")
    args = ap.parse_args()

    from app_end_to_end import ensure_study

    study = ensure_study(args.slices)
    from app.__main__ import run_study
    from operators.jobs_operator import STAGE_SECONDS

    rows = []
    for run in range(args.runs):
        out = Path(tempfile.mkdtemp(prefix="bench-warm-"))
        start = time.perf_counter()
        run_study(study, out / "out", args.model)
        wall = time.perf_counter() - start
        stages = {k: v for k, v in STAGE_SECONDS.items() if k != "total"}
        rows.append((run + 1, wall, stages))
        shutil.rmtree(out)
    names = list(rows[-1][2])
    print(f"\n{args.slices}-slice study, {args.model.name}, {os.cpu_count()} CPUs; seconds\n")
    print("| run | " + " | ".join(names) + " | outside the forward | wall |")
    print("|---" * (len(names) + 3) + "|")
    for run, wall, stages in rows:
        outside = sum(v for k, v in stages.items() if k != "harmonizer")
        print(f"| {run} | " + " | ".join(f"{stages.get(k, 0.0):.2f}" for k in names) + f" | {outside:.2f} | {wall:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
