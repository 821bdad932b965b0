"""End-to-end ``python -m app`` on a simulated 512 x 512 x N study, by stage, with the CPU's measured peak.

    python benchmarks/app_end_to_end.py [--slices 300] [--model models/...]

Prints one table: process start-up (imports + study scan), SDK load and select, series to volume, MTF,
inference, QA report, writing, total wall time and peak RSS of the app process; then the network's forward
GFLOP per slice (torch's FLOP counter on the eager model rebuilt from the card's config) and the achieved
GFLOP/s against a float32 matmul peak and a 3x3-convolution peak measured in the same run; TorchScript vs
eager and vs the other memory layout (channels_last or not); a batch/thread sweep; DICOM write throughput
against a raw write of the same bytes; and the resident memory of one process that runs the app on
``--studies`` studies in a row (the app's own ``main``, a fresh Application each time). The study
is simulated once into data/bench_study_<N> (python -m simulation study ...).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def ensure_study(slices: int) -> Path:
    out = ROOT / "data" / f"bench_study_{slices}"
    if not (out / ".complete").exists():
        subprocess.run([sys.executable, "-m", "simulation", "study", "--out", str(out), "--seed", "5",
                        "--slices", str(slices), "--dose", "1.3", "--kernel", "Br64f"], check=True, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
        (out / ".complete").touch()
    return out


def run_app(study: Path, model: str | None) -> tuple[dict, float, float]:
    out = Path(tempfile.mkdtemp(prefix="bench-out-"))
    cmd = ["bash", "-c", 'ulimit -s 32768; exec "$@"', "run", sys.executable, "-m", "app", "-i", str(study),
           "-o", str(out), "-l", "INFO"] + (["-m", model] if model else [])
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode:
        sys.exit(f"app failed: {proc.stderr.strip().splitlines()[-1]}")
    stages = {m.group(1): float(m.group(2)) for m in re.finditer(r"timing (\S+) ([0-9.]+)", proc.stderr)}
    shutil.rmtree(out)
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    return stages, wall, peak_gb


def matmul_peak_gflops(n: int = 2048) -> float:
    """The fastest of 20 float32 matmuls (about 2 s): a peak is the best the CPU does, and on this VM a median
    of a few calls measured 134-181 GFLOP/s from run to run."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / seconds_per_call(torch.matmul, a, b, warmup=1, repeat=20, fastest=True) / 1e9


def conv_peak_gflops(channels: int = 128, size: int = 128) -> float:
    """The best a 3x3 convolution runs at on this CPU (oneDNN, wide channels: compute-bound), GFLOP/s: the
    fastest of 20 calls."""
    import torch

    conv = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False).eval()
    x = torch.randn(1, channels, size, size)
    return 2 * 9 * channels**2 * size**2 / seconds_per_call(conv, x, warmup=1, repeat=20, fastest=True) / 1e9


def seconds_per_call(net, *inputs, warmup: int = 3, repeat: int = 3, fastest: bool = False) -> float:
    """Median (or with ``fastest`` the least) seconds of ``repeat`` calls after ``warmup`` (TorchScript's
    profiling executor optimises its graph on the second and third calls; the median, because this VM's
    timings jump from call to call)."""
    import torch

    times = []
    with torch.no_grad():
        for i in range(warmup + repeat):
            t = time.perf_counter()
            net(*inputs)
            if i >= warmup:
                times.append(time.perf_counter() - t)
    return min(times) if fastest else sorted(times)[len(times) // 2]


def network_numbers(model_dir: Path, batch_sweep=(1, 4, 8), threads_sweep=(1, 2)) -> list[tuple[str, str]]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from operators.harmonize import channels_last, load_model

    loaded = load_model(model_dir, device=torch.device("cpu"))          # as the app loads it (layout from the card)
    file, card, scripted = loaded.path, loaded.card, loaded.module
    layout = card.get("memory_format", "contiguous")
    rows = [("layout the app runs it in (model card)", layout)]
    cfg = card.get("provenance", {}).get("config")
    eager = None
    if cfg:
        from training.fit import build_generator

        eager = build_generator(cfg).eval()
    x, m = torch.rand(1, 1, 512, 512), torch.rand(1, 1, 64, 64)
    if eager is not None:
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            eager(x, m)
        gflop = fc.get_total_flops() / 1e9
        rows.append(("forward GFLOP per 512x512 slice", f"{gflop:.1f}"))
    else:
        gflop = None
        rows.append(("forward GFLOP per 512x512 slice", "n/a (no learnt network: FFT filter)"))
    peak, conv_peak = matmul_peak_gflops(), conv_peak_gflops()
    rows.append(("float32 matmul peak (GFLOP/s)", f"{peak:.0f}"))
    rows.append(("float32 3x3-convolution peak (GFLOP/s)", f"{conv_peak:.0f} (128 channels, 128x128)"))
    for threads in threads_sweep:
        torch.set_num_threads(threads)
        for batch in batch_sweep:
            xb, mb = x.expand(batch, -1, -1, -1).contiguous(), m.expand(batch, -1, -1, -1)
            per = seconds_per_call(scripted, xb, mb) / batch
            note = f"{per:.3f} s/slice"
            if gflop:
                note += (f", {gflop / per:.0f} GFLOP/s = {100 * gflop / per / peak:.0f} % of the matmul peak, "
                         f"{100 * gflop / per / conv_peak:.0f} % of the convolution peak")
            rows.append((f"TorchScript, batch {batch}, {threads} thread(s)", note))
    torch.set_num_threads(max(threads_sweep))
    other = torch.jit.load(str(file)).eval()                            # the same file in the other layout
    other = channels_last(other) if layout == "contiguous" else other
    variants = [("TorchScript, the other layout (batch 1)", other)]
    if eager is not None:
        variants.append(("eager, batch 1", channels_last(eager) if layout == "channels_last" else eager))
    for name, net in variants:
        rows.append((name, f"{seconds_per_call(net, x, m):.3f} s/slice"))
    return rows + forward_breakdown(scripted, x, m, gflop, peak)


OP_KINDS = {   # aten op -> kind, for the forward's time by kind (torch's profiler names)
    **dict.fromkeys(["mkldnn_convolution", "_convolution", "convolution", "conv2d", "conv_transpose2d",
                     "_slow_conv2d_forward"], "convolution"),
    **dict.fromkeys(["native_batch_norm", "instance_norm", "batch_norm", "_batch_norm_impl_index",
                     "native_group_norm", "group_norm"], "instance norm"),
    **dict.fromkeys(["leaky_relu", "sigmoid", "mul", "maximum", "sum", "mean", "addmm", "relu",
                     "adaptive_avg_pool2d"], "activations and scSE gates"),
    **dict.fromkeys(["_fft_r2c", "_fft_c2r", "complex", "grid_sampler_2d"], "FFT and spectral weights"),
    **dict.fromkeys(["max_pool2d_with_indices", "copy_", "cat", "add", "stack", "replication_pad2d"],
                    "pooling, concatenation, copies"),
}


def forward_breakdown(scripted, x, m, gflop: float | None, peak: float) -> list[tuple[str, str]]:
    """Where the forward's time goes, by kind of operation (torch's profiler, self CPU time of each aten op),
    and what the convolutions alone achieve: nearly all of the FLOPs are theirs."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    with torch.no_grad():
        scripted(x, m)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            scripted(x, m)
    spent = {}
    for e in prof.key_averages():
        if not e.key.startswith("aten::"):
            continue
        kind = OP_KINDS.get(e.key[len("aten::"):], "other")
        spent[kind] = spent.get(kind, 0.0) + e.self_cpu_time_total / 1e6
    total = sum(spent.values())
    rows = [(f"forward time: {k}", f"{100 * v / total:.0f} %") for k, v in sorted(spent.items(), key=lambda kv: -kv[1])]
    if gflop and spent.get("convolution"):
        conv = gflop / spent["convolution"]
        rows.append(("convolutions alone (all FLOPs counted)", f"{conv:.0f} GFLOP/s = {100 * conv / peak:.0f} % of "
                                                               "the matmul peak"))
    return rows


def write_throughput(slices: int = 50) -> list[tuple[str, str]]:
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder = Path(tempfile.mkdtemp(prefix="bench-write-"))
    pixels = np.zeros((512, 512), np.int16).tobytes()
    t = time.perf_counter()
    for i in range(slices):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.Rows = ds.Columns = 512
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation, ds.SamplesPerPixel = 16, 16, 15, 1, 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.PixelData = pixels
        ds.save_as(folder / f"{i}.dcm", enforce_file_format=True)
    dicom_s = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(slices):
        (folder / f"raw{i}").write_bytes(pixels)
    raw_s = time.perf_counter() - t
    shutil.rmtree(folder)
    mb = slices * len(pixels) / 1e6
    return [("DICOM write (pydicom)", f"{mb / dicom_s:.0f} MB/s"), ("raw write, same bytes", f"{mb / raw_s:.0f} MB/s")]


def runs_in_this_process(study: str, n: int, model: str | None) -> list[float]:
    """RSS (MB) of this process after each of ``n`` runs of the app's own ``main`` on ``study``."""
    import gc

    from app.__main__ import main as app_main

    rss = []
    for _ in range(n):
        with tempfile.TemporaryDirectory() as out:
            if app_main(["-i", study, "-o", out] + (["-m", model] if model else [])):
                sys.exit("app failed")
        gc.collect()
        status = Path("/proc/self/status").read_text()
        rss.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)
    return rss


def repeated_rss(study: Path, n: int, model: str | None) -> list[float]:
    """``runs_in_this_process`` in a fresh process (with Holoscan's stack size), so earlier work does not count."""
    code = ("import json, sys; from benchmarks.app_end_to_end import runs_in_this_process as r; "
            "print(json.dumps(r(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)))")
    cmd = ["bash", "-c", 'ulimit -s 32768; exec "$@"', "run", sys.executable, "-c", code, str(study),
           str(n)] + ([model] if model else [])
    proc = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"repeated runs failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--model", default=None, help="model folder (default: the app's default)")
    ap.add_argument("--studies", type=int, default=10, help="consecutive runs in one process (memory check)")
    ap.add_argument("--studies-slices", type=int, default=32, help="slices of the study those runs use")
    ap.add_argument("--only-memory", action="store_true", help="just the consecutive-runs memory check")
    ap.add_argument("--only-e2e", action="store_true", help="just the end-to-end run by stage")
    ap.add_argument("--only-network", action="store_true", help="just the network's numbers and write speed")
    args = ap.parse_args()
    if args.only_memory:
        return print_memory(args)
    if args.only_network:
        return print_network(args)
    study = ensure_study(args.slices)
    stages, wall, peak = run_app(study / "DICOM", args.model)
    volume_gb = args.slices * 512 * 512 * 4 / 1e9
    print(f"python -m app on {args.slices} slices of 512x512 ({os.cpu_count()} CPU cores), model "
          f"{args.model or 'default (' + (ROOT / 'models' / 'DEFAULT').read_text().strip() + ')'}")
    print(f"{'stage':28s} {'seconds':>8s}")
    for name, s in stages.items():
        print(f"{name:28s} {s:8.2f}")
    print(f"{'total wall time':28s} {wall:8.2f}")
    inference = stages.get("harmonizer", 0.0)
    print(f"{'all but the forward pass':28s} {100 * (wall - inference) / wall:7.0f} %")
    print(f"peak RSS {peak:.2f} GB (target <= 3 x {volume_gb:.2f} GB float32 volume + 1.5 GB = "
          f"{3 * volume_gb + 1.5:.2f} GB)")
    if args.only_e2e:
        return
    print()
    print_network(args)
    print()
    print_memory(args)


def print_network(args) -> None:
    model = Path(args.model) if args.model else ROOT / "models"
    for name, value in network_numbers(model) + write_throughput():
        print(f"{name:44s} {value}")


def print_memory(args) -> None:
    rss = repeated_rss(ensure_study(args.studies_slices) / "DICOM", args.studies, args.model)
    print(f"RSS of one process after each of {len(rss)} consecutive runs ({args.studies_slices} slices each), MB:")
    print("  " + " ".join(f"{r:.0f}" for r in rss))
    half = len(rss) // 2
    if half >= 2:          # the first run loads the libraries; flat = the later runs peak no higher
        print(f"  highest of runs 2-{half}: {max(rss[1:half]):.0f} MB; highest of runs {half + 1}-{len(rss)}: "
              f"{max(rss[half:]):.0f} MB ({max(rss[half:]) - max(rss[1:half]):+.0f} MB)")


if __name__ == "__main__":
    main()
