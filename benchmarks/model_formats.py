"""The harmonizer's forward in each format on this CPU: TorchScript (model.ts), the torch.export program
(model.pt2, as the app loads it), and the same program compiled ahead of time by AOTInductor.

    python benchmarks/model_formats.py [--model models/harmonizer_v10] [--repeat 5] [--threads 2]

Prints one table: seconds per 512 x 512 slice (median of ``--repeat`` calls after 2 warm-up calls, each
format in turn in the same process, so compare them as ratios), the ratio to TorchScript, the largest output
difference to TorchScript (HU) and the time to load (AOTInductor: to compile, which the app does not do).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=ROOT / "models" / "harmonizer_v10")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    import torch
    from app_end_to_end import seconds_per_call

    from operators.harmonize import load_model

    torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    g = torch.Generator().manual_seed(0)
    x, mtf = torch.rand(1, 1, 512, 512, generator=g), torch.linspace(1, 0.1, 64).repeat(1, 1, 64, 1)
    rows = []
    t = time.perf_counter()
    ts = load_model(args.model, cpu, "torchscript")
    modules = {"TorchScript (model.ts)": (ts.module, time.perf_counter() - t)}
    t = time.perf_counter()
    program = load_model(args.model, cpu, "exported")
    modules["torch.export program (model.pt2)"] = (program.module, time.perf_counter() - t)
    try:
        import torch._inductor

        t = time.perf_counter()
        exported = torch.export.load(str(program.path))
        package = Path(tempfile.mkdtemp(prefix="aoti-")) / "model.pt2"
        torch._inductor.aoti_compile_and_package(exported, package_path=str(package))
        modules["AOTInductor package (compiled here)"] = (torch._inductor.aoti_load_package(str(package)),
                                                          time.perf_counter() - t)
    except Exception as e:  # noqa: BLE001 - no compiler: the table says so
        failed = ("AOTInductor package", "n/a", "", "", f"did not compile: {type(e).__name__}")
    else:
        failed = None
    with torch.inference_mode():
        reference = ts.module(x, mtf)
    base = None
    for name, (module, load_s) in modules.items():
        seconds = seconds_per_call(module, x, mtf, warmup=2, repeat=args.repeat)
        base = base or seconds
        with torch.inference_mode():
            diff = float((module(x, mtf) - reference).abs().max()) * 2048.0
        rows.append((name, f"{seconds:.3f}", f"{seconds / base:.2f}", f"{diff:.4f}", f"{load_s:.1f}"))
    rows += [failed] if failed else []
    print(f"\n{args.model.name}, {args.threads} threads, torch {torch.__version__}\n")
    head = ("format", "s per slice", "vs TorchScript", "max |diff| HU", "load (compile) s")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
