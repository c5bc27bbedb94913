"""Bulk benchmark: images/s of `python -m robust_synth.bulk generate` on 1 and N processes (torchrun), and the ratio.

    python benchmarks/bulk.py [--model cifar10-resnet-l2-0.5] [--per-class 8] [--steps 10] [--batch-size 8]
                              [--procs 1 2] [--threads 1] [--repeats 1]

Each configuration runs the same command (same items, seeds and batches) under torch.distributed.run into a fresh
folder; the rate is the one the run itself prints (images made / seconds of the work loop on rank 0, after the
global count: start-up, model loading and rendezvous excluded). The configurations alternate repeat by repeat, so
a background load hits them alike. Each process gets --threads intra-op threads (torchrun's default is 1); on a
GPU machine every process takes its own GPU (LOCAL_RANK).
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
RATE = re.compile(r"\(([\d.]+) images/s on (\d+) process")


def run_once(procs: int, args, out: Path) -> float:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs), "--standalone",
               "-m", "robust_synth.bulk", "generate", "--model", args.model, "--per-class", str(args.per_class),
               "--steps", str(args.steps), "--batch-size", str(args.batch_size), "--no-progress", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    match = RATE.search(done.stdout)
    if done.returncode or not match:
        raise SystemExit(f"run with {procs} process(es) failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return float(match.group(1))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="cifar10-resnet-l2-0.5")
    parser.add_argument("--per-class", type=int, default=8, help="images per class (all classes of the model)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads per process")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    print(f"{args.model}, {args.per_class} images per class, {args.steps} steps, batch {args.batch_size}, "
          f"{args.threads} thread(s) per process, {device}")
    rates = {p: [] for p in args.procs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for p in args.procs:
                rates[p].append(run_once(p, args, Path(tmp) / f"p{p}-r{r}"))
    base = statistics.median(rates[args.procs[0]])
    print("| processes | images/s (median) | runs | vs first |\n|---:|---:|---:|---:|")
    for p in args.procs:
        rate = statistics.median(rates[p])
        print(f"| {p} | {rate:.2f} | {', '.join(f'{x:.2f}' for x in rates[p])} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
