"""Cost of one PGD step per architecture (random weights): seconds per step and relative to ResNet-50 at 224 px.

    python benchmarks/arch_cost.py [--archs resnet18,resnet50] [--repeats 5] [--batch 1] [--threads 2]

One step = a forward and an input-gradient backward of a class loss, as the engine runs it. Every registered
architecture is built once at its dataset's input size (224 px for ImageNet, 32 px for the CIFAR-10 ones);
repetitions are interleaved architecture by architecture (a shared CPU's load drifts over minutes), and the table
gives the fastest and median seconds per step, pixel-steps per second and the cost per pixel relative to
ResNet-50 from the fastest steps (other processes only ever add time), the figure the app's ZeroGPU estimate
(the `cost` of its record in robust_synth/architectures.py) multiplies its ResNet-50 rate by.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from robust_synth import models  # noqa: E402
from robust_synth.architectures import build  # noqa: E402

REFERENCE = "resnet50"


def registered_archs() -> dict[str, tuple[int, int]]:
    """Every registered architecture -> (input side, classes), in registry order."""
    archs = {}
    for spec in models.REGISTRY.values():
        archs.setdefault(spec.arch, (spec.input_size, spec.num_classes))
    return archs


def step_seconds(net: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor) -> float:
    start = time.perf_counter()
    x = x.detach().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(net(x), labels)
    torch.autograd.grad(loss, x)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="", help="comma-separated subset (default: every registered one)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    archs = registered_archs()
    if args.archs:
        archs = {name: archs[name] for name in args.archs.split(",")}
    archs.setdefault(REFERENCE, (224, 1000))
    nets = {}
    for arch, (side, classes) in archs.items():
        net = build(arch, classes)[0].eval()
        for p in net.parameters():
            p.requires_grad_(False)
        inputs = (torch.rand(args.batch, 3, side, side), torch.zeros(args.batch, dtype=torch.long))
        step_seconds(net, *inputs)  # warm-up: first-call allocations
        nets[arch] = (net, inputs, side)
    times = {arch: [] for arch in nets}
    for _ in range(args.repeats):
        for arch, (net, inputs, _) in nets.items():
            times[arch].append(step_seconds(net, *inputs))
    reference = min(times[REFERENCE]) / 224 ** 2
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, {args.repeats} repeats")
    print(f"{'arch':22} {'side':>5} {'min s/step':>11} {'median':>8} {'Mpx-steps/s':>12} {'cost/px vs resnet50':>20}")
    for arch, (_, _, side) in nets.items():
        fastest = min(times[arch])
        rate = args.batch * side * side / fastest
        cost = fastest / side ** 2 / reference
        print(f"{arch:22} {side:5d} {fastest:11.3f} {statistics.median(times[arch]):8.3f} {rate / 1e6:12.3f} "
              f"{cost:20.2f}")


if __name__ == "__main__":
    main()
