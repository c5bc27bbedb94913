"""Speed benchmark: time per PGD step of our engine vs the bare model (the floor) vs the `robustness` library.

    python benchmarks/speed.py [--quick] [--device cpu|cuda] [--robustness-path /tmp/robustness_pkg]

For each case (loss × model × batch size) the three implementations run the same model, inputs, loss and
number of steps, interleaved repetition by repetition (rotating the order); the table shows median
milliseconds per step, images·steps per second and the ratios of medians. Engine and `robustness` times are
whole calls divided by the steps (setup and the final scoring forward included); the bare floor is exactly
`steps` × (one forward + one input-gradient backward of the same loss).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import robustness_compat as compat  # noqa: E402
from robust_synth import PGDConfig, load_model, objectives, pgd  # noqa: E402
from robust_synth.architectures import build  # noqa: E402
from robust_synth.features import RobustModel  # noqa: E402
from robust_synth.catalog import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402

INPAINT_WEIGHT = 10.0  # λ of the inpainting loss (Santurkar et al. 2019)


@dataclass
class Case:
    """One loss on one model at one batch size: our objective, the robustness custom_loss and target, settings."""
    name: str
    model: RobustModel
    x0: torch.Tensor
    objective: objectives.Objective
    target: torch.Tensor
    custom_loss: object
    eps: float
    step_size: float
    steps: int
    grad_blur: float = 0.0


def resnet50_random(device) -> RobustModel:
    torch.manual_seed(0)
    net, nodes = build("resnet50", 1000)
    return RobustModel(net, IMAGENET_MEAN, IMAGENET_STD, nodes, name="resnet50-random", input_size=224).to(device)


def make_cases(model: RobustModel, label: str, batch: int, steps: int, attacker) -> list[Case]:
    """Generation (class loss; also with the 32-px generation default, the 1-px gradient blur and 1-px steps),
    inpainting (class loss + mask penalty), inversion (representation matching)."""
    g = torch.Generator().manual_seed(batch)
    device, side = model.mean.device, model.input_size
    x0 = torch.rand(batch, 3, side, side, generator=g).to(device)
    y = torch.randint(0, model.num_classes or 1000, (batch,), generator=g).to(device)
    mask = torch.zeros(batch, 1, side, side, device=device)
    mask[:, :, side // 4: side // 2, side // 4: side // 2] = 1
    with torch.no_grad():
        rep = model(torch.rand(batch, 3, side, side, generator=g).to(device), layers=["rep"])["rep"].flatten(1)
    noise = (torch.randn(batch, 3, side, side, generator=g) / 20 + 0.5).clamp(0, 1).to(device)
    inpaint = objectives.class_loss(y) + INPAINT_WEIGHT * objectives.masked_mse(x0, mask)
    custom_inpaint = attacker and compat.inpainting_loss(attacker, x0, mask, INPAINT_WEIGHT)
    tag = f"{label} b{batch}"
    return [
        Case(f"generation  {tag}", model, x0, objectives.class_loss(y), y, None, 30.0, 0.5, steps),
        Case(f"gen+blur    {tag}", model, x0, objectives.class_loss(y), y, None, 30.0, 1.0, steps, grad_blur=1.0),
        Case(f"inpainting  {tag}", model, x0, inpaint, y, custom_inpaint, 21.6, 0.1, steps),
        Case(f"inversion   {tag}", model, noise, objectives.representation_match(rep), rep,
             compat.inversion_loss, 1000.0, 1.0, steps),
    ]


def run_engine(case: Case):
    cfg = PGDConfig(eps=case.eps, step_size=case.step_size, steps=case.steps, grad_blur=case.grad_blur)
    return pgd(case.model, case.x0, case.objective, cfg).x


def run_bare(case: Case):
    """The floor: steps × (one forward + one input-gradient backward of the same loss), nothing else."""
    layers = case.objective.layers
    for _ in range(case.steps):
        x = case.x0.detach().requires_grad_(True)
        loss = case.objective(case.model(x, layers=layers), x)
        (grad,) = torch.autograd.grad(loss.sum(), x)
    return grad


def run_robustness(case: Case, attacker):
    return compat.attack(attacker, case.x0, case.target, eps=case.eps, step_size=case.step_size, steps=case.steps,
                         custom_loss=case.custom_loss)


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure(case: Case, attacker, reps: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median and minimum seconds per step of each implementation, interleaved and order-rotated across
    repetitions."""
    runs = {"engine": lambda: run_engine(case), "bare": lambda: run_bare(case)}
    if attacker is not None and not case.grad_blur:  # the robustness library has no gradient blur
        runs["robustness"] = lambda: run_robustness(case, attacker)
    names = list(runs)
    times = {n: [] for n in names}
    device = case.x0.device
    for fn in runs.values():  # warm-up: FX tracing, allocator, cuDNN autotuning
        fn()
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            times[name].append(timed(runs[name], device) / case.steps)
    return {n: statistics.median(t) for n, t in times.items()}, {n: min(t) for n, t in times.items()}


def report(case: Case, per_step: dict[str, float], fastest: dict[str, float]) -> None:
    """One line: medians per implementation, the ratios of medians, and engine/bare of the fastest repetitions
    (a machine's noise only ever adds time, so the minima estimate the work itself)."""
    batch = case.x0.shape[0]
    cols = [f"{n} {per_step[n] * 1e3:8.2f} ms/step {batch / per_step[n]:8.1f} img·step/s" for n in per_step]
    ratios = f"engine/bare {per_step['engine'] / per_step['bare']:.3f} (fastest {fastest['engine'] / fastest['bare']:.3f})"
    if "robustness" in per_step:
        ratios += f"  robustness/engine {per_step['robustness'] / per_step['engine']:.3f}"
    print(f"{case.name:24s} | " + " | ".join(cols) + f" | {ratios}", flush=True)


def end_to_end_generation(device, reps: int) -> None:
    """robust_synth.generate of 4 samples at default settings on the embedded robust model, end to end."""
    try:
        from robust_synth import generate
    except ImportError as error:
        print(f"end-to-end generation: skipped ({error})")
        return
    model = load_model("cifar10-resnet-l2-0.5", device)
    generate(model, "cat", n=4, seed=0)  # warm-up
    times = [timed(lambda: generate(model, "cat", n=4, seed=rep), device) for rep in range(reps)]
    print(f"end-to-end generate(cifar10-resnet-l2-0.5, 'cat', n=4, default settings): median "
          f"{statistics.median(times):.3f} s over {reps} runs (min {min(times):.3f} s)")


def concurrent_generation(device, reps: int, requests: int = 8) -> None:
    """`requests` concurrent generate(n=1) calls: one after another (the app's default) vs sharing one PGD batch."""
    from robust_synth import generate
    model = load_model("cifar10-resnet-l2-0.5", device)

    def one(i):
        generate(model, i % 10, n=1, seed=i)

    def sequential():
        for i in range(requests):
            one(i)

    def batched():
        os.environ["ROBUST_SYNTH_BATCH_IMAGES"] = str(requests)
        try:
            threads = [threading.Thread(target=one, args=(i,)) for i in range(requests)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            del os.environ["ROBUST_SYNTH_BATCH_IMAGES"]

    batched()  # warm-up
    times = {"sequential": [], "batched": []}
    for rep in range(reps):
        for name, run in sorted({"sequential": sequential, "batched": batched}.items(), reverse=rep % 2 == 1):
            times[name].append(timed(run, device))
    seq, bat = (statistics.median(times[k]) for k in ("sequential", "batched"))
    print(f"{requests} concurrent generate(n=1) requests: one after another {seq:.3f} s ({requests / seq:.1f} "
          f"requests/s), batched (ROBUST_SYNTH_BATCH_IMAGES={requests}) {bat:.3f} s ({requests / bat:.1f} "
          f"requests/s): throughput x{seq / bat:.2f}")


def duration_check(device) -> None:
    """The seconds the app asks ZeroGPU for (robust_synth.app.gpu.estimate_seconds) vs the measured time of the same call.

    The target (issue 6) is within 2x on the ZeroGPU device; on any other device the ratio is only indicative.
    """
    from robust_synth import tasks
    from robust_synth.app.gpu import estimate_seconds
    model = load_model("cifar10-resnet-l2-0.5", device)
    photo = (torch.rand(32, 32, 3, generator=torch.Generator().manual_seed(0)) * 255).byte().numpy()
    calls = {"generate": lambda: tasks.generate(model, "cat", n=4),
             "super_resolve": lambda: tasks.super_resolve(model, photo),
             "translate": lambda: tasks.translate(model, photo, "dog"),
             "invert": lambda: tasks.invert(model, photo)}
    values = {"generate": {"n": 4}}
    for task, call in calls.items():
        call()  # warm-up: the estimate's start-up allowance covers the first call of a worker
        took = statistics.median(timed(call, device) for _ in range(3))
        asked = estimate_seconds(task, {"model": model.name, **values.get(task, {})})
        print(f"duration {task:14s}: asked {asked:5.1f} s, measured {took:6.2f} s, asked/measured {asked / took:6.1f}")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer steps and repetitions; ResNet-50 at batch 1 only")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--robustness-path", default=os.environ.get("ROBUSTNESS_PATH"),
                   help="folder holding an isolated install of robustness==1.2.1.post2 (default $ROBUSTNESS_PATH)")
    p.add_argument("--reps", type=int, help="timed repetitions per implementation (default 5, quick 3)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")
    p.add_argument("--skip-resnet50", action="store_true")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    reps = args.reps or (3 if args.quick else 5)
    gpu = f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    print(f"device {device}{gpu}; torch {torch.__version__}; {torch.get_num_threads()} CPU threads; "
          f"{platform.processor() or platform.machine()}; reps {reps} (medians)")
    attacker_module, why = compat.import_attacker(args.robustness_path)
    if attacker_module is None:
        print(f"robustness library: skipped (not importable: {why}); pass --robustness-path")
    else:
        print(f"robustness library {sys.modules['robustness'].__version__} from {sys.modules['robustness'].__path__[0]}")

    cifar = load_model("cifar10-resnet-l2-0.5", device)
    plans = [(cifar, "cifar10", b, 20 if args.quick else 60) for b in (1, 16)]
    if not args.skip_resnet50:
        plans += [(resnet50_random(device), "resnet50-224", b, 3 if args.quick else 5) for b in ((1,) if args.quick else (1, 16))]
    for model, label, batch, steps in plans:
        attacker = attacker_module and compat.make_attacker(attacker_module, model)
        for case in make_cases(model, label, batch, steps, attacker):
            report(case, *measure(case, attacker, reps))
    end_to_end_generation(device, reps)
    concurrent_generation(device, reps)
    duration_check(device)


if __name__ == "__main__":
    main()
