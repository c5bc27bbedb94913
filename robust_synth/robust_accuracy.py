"""Clean, PGD (MadryLab protocol: 20 steps of 2.5·eps/20) and AutoAttack robust accuracy; CLI updates model cards."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from tqdm import tqdm

from . import objectives
from .datasets import load_split
from .engine import PGDConfig, pgd
from .models import WEIGHTS_DIR, get_spec, load_model


def _check_images(images, labels) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be a (N, 3, H, W) tensor, got {getattr(images, 'shape', type(images))}")
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise TypeError(f"images must be uint8 in [0,255] or float in [0,1], got {images.dtype}")
    if not isinstance(labels, torch.Tensor) or labels.shape != (len(images),):
        got = getattr(labels, "shape", type(labels))
        raise ValueError(f"labels must be a ({len(images)},) tensor of class indices, got {got}")


def _unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0,255] or float [0,1] -> float32 [0,1]."""
    return images.float() / 255 if images.dtype == torch.uint8 else images.float()


def _batches(n: int, batch_size: int, desc: str, progress: bool):
    return tqdm(range(0, n, batch_size), desc=desc, disable=not progress, mininterval=5, file=sys.stderr)


@torch.no_grad()
def _correct(model, images, labels, batch_size, device, progress) -> torch.Tensor:
    hits = []
    for i in _batches(len(images), batch_size, "clean", progress):
        x = _unit(images[i:i + batch_size]).to(device)
        hits.append((model(x).logits.argmax(1) == labels[i:i + batch_size].to(device)).cpu())
    return torch.cat(hits)


def _fooling_objective(targets: torch.Tensor, fooled: torch.Tensor) -> objectives.Objective:
    """-CE(f(x), y) (the engine minimises); records in `fooled` every sample misclassified at any evaluated iterate."""
    ce = objectives.class_loss(targets)

    def fn(out, x):
        fooled.logical_or_(out.logits.detach().argmax(1) != targets)
        return -ce(out, x)
    return objectives.Objective(fn, "-class_ce", ce.layers)


def _robust(model, images, labels, attack: PGDConfig, batch_size, device, seed, progress) -> torch.Tensor:
    generator = torch.Generator(device=device).manual_seed(seed)
    hits = []
    for i in _batches(len(images), batch_size, f"PGD-{attack.steps}", progress):
        x = _unit(images[i:i + batch_size]).to(device)
        y = labels[i:i + batch_size].to(device)
        fooled = torch.zeros(len(y), dtype=torch.bool, device=device)
        pgd(model, x, _fooling_objective(y, fooled), attack, generator=generator)
        hits.append((~fooled).cpu())
    return torch.cat(hits)


class _Logits(torch.nn.Module):
    """A RobustModel as a plain logits classifier on [0,1] inputs, the interface torchattacks expects."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x).logits.float()


def _autoattack(model, images, labels, ids: list[int], eps, norm, batch_size, seed, progress,
                log: Path | None = None) -> torch.Tensor:
    """Per-image robustness under AutoAttack's standard version (APGD-CE, APGD-T, FAB-T, Square) from torchattacks.

    ids: each image's index in the dataset split. log: a JSON-lines file, first the run's settings ({"settings":
    model, weights, eps, norm, seed}), then finished batches ({"ids", "hits"}); images already in it are not
    attacked again, so an interrupted run (AutoAttack takes seconds per image on a CPU) continues where it stopped.
    A log written for other settings is refused: its hits would be counted for the wrong model or radius.
    """
    try:
        import torchattacks
    except ImportError:
        raise RuntimeError("AutoAttack needs the torchattacks package: pip install --no-deps -r "
                           "requirements-eval.txt") from None
    device = next(model.parameters()).device
    # eval(): torchattacks restores the wrapper's own mode after each attack, and a new Module is in train mode
    attack = torchattacks.AutoAttack(_Logits(model).eval(), norm={"l2": "L2", "linf": "Linf"}[norm], eps=eps,
                                     version="standard", n_classes=model.num_classes, seed=seed)
    settings = {"model": model.name, "weights_sha256": getattr(model, "weights_sha256", None), "eps": eps,
                "norm": norm, "seed": seed}
    done = _logged_hits(log, settings) if log is not None else {}
    todo = [j for j, i in enumerate(ids) if i not in done]
    for start in _batches(len(todo), batch_size, "AutoAttack", progress):
        batch = todo[start:start + batch_size]
        x, y = _unit(images[batch]).to(device), labels[batch].to(device)
        with torch.no_grad():
            hits = (model(attack(x, y)).logits.argmax(1) == y).cpu().tolist()
        done.update(zip((ids[j] for j in batch), hits))
        if log is not None:
            with log.open("a") as f:
                f.write(json.dumps({"ids": [ids[j] for j in batch], "hits": hits}) + "\n")
    return torch.tensor([done[i] for i in ids], dtype=torch.bool)


def _logged_hits(log: Path, settings: dict) -> dict[int, bool]:
    """The finished images of an AutoAttack log written with these settings; a new log starts with them."""
    if not log.exists() or not log.read_text().strip():
        log.write_text(json.dumps({"settings": settings}) + "\n")
        return {}
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    if records[0].get("settings") != settings:
        raise ValueError(f"{log} holds AutoAttack results for {records[0].get('settings', 'unrecorded settings')}, "
                         f"not for {settings}: give this run a log of its own")
    return {i: hit for record in records[1:] for i, hit in zip(record["ids"], record["hits"])}


def evaluate(model, images: torch.Tensor, labels: torch.Tensor, eps: float, norm: str = "l2", steps: int = 20,
             n: int | None = None, n_robust: int | None = None, batch_size: int = 256, seed: int = 0,
             random_start: bool = False, progress: bool = True, n_autoattack: int = 0,
             autoattack_log: Path | None = None) -> dict:
    """Clean accuracy on n images and PGD robust accuracy on the first n_robust of them (a seeded random subset).

    images: (N, 3, H, W) uint8 or float in [0,1]; labels: (N,) class indices. eps in [0,1] pixel units.
    Attack: PGD maximising the cross-entropy, `steps` steps of 2.5·eps/steps (Madry et al. 2018). A sample is
    robust only if it is classified correctly clean and at every iterate the attack evaluated (start, each step,
    final): each is a valid adversarial candidate, and neither the highest-loss iterate (MadryLab's use_best)
    nor the last one is always the misclassified one, so this figure is never above either rule's, at no extra cost.
    eps = 0 skips the attack: robust accuracy is then clean accuracy on the robust subset.
    n_autoattack > 0 also runs AutoAttack (standard version, torchattacks) on the first n_autoattack images:
    autoattack_acc counts an image robust if it is classified correctly clean and after the attack;
    autoattack_log makes that part resumable (see _autoattack).
    """
    _check_images(images, labels)
    if eps < 0 or norm not in ("l2", "linf") or steps < 1:
        raise ValueError(f"need eps >= 0, norm 'l2' or 'linf', steps >= 1; got eps={eps}, norm={norm!r}, steps={steps}")
    if n_autoattack < 0 or (n_autoattack and eps == 0):
        raise ValueError(f"n_autoattack must be >= 0, and needs eps > 0; got n_autoattack={n_autoattack}, eps={eps}")
    if len(images) == 0 or (n is not None and n < 1) or (n_robust is not None and n_robust < 1):
        raise ValueError(f"need at least one image and n, n_robust >= 1; got {len(images)} images, n={n}, "
                         f"n_robust={n_robust}")
    n = len(images) if n is None else min(n, len(images))
    n_robust = n if n_robust is None else min(n_robust, n)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
    images, labels = images[order], labels[order].long()
    device = next(model.parameters()).device
    step_size = 2.5 * eps / steps
    was_training = model.training
    model.eval()
    t0 = time.time()
    try:
        clean = _correct(model, images, labels, batch_size, device, progress)
        robust = clean[:n_robust].clone()
        if eps > 0:
            attack = PGDConfig(constraint=norm, eps=eps, step_size=step_size, steps=steps,
                               random_start=random_start, keep_best=False, autocast=False)
            robust &= _robust(model, images[:n_robust], labels[:n_robust], attack, batch_size, device, seed, progress)
        extra = {}
        if n_autoattack:
            k = min(n_autoattack, n)
            auto = clean[:k].clone()
            hit = auto.nonzero().squeeze(1)  # only images classified correctly clean can still be robust
            auto[hit] = _autoattack(model, images[hit], labels[hit], order[hit].tolist(), eps, norm, batch_size,
                                    seed, progress, autoattack_log)
            extra = {"autoattack_acc": round(auto.float().mean().item(), 4), "n_autoattack": k,
                     "autoattack": "standard (APGD-CE, APGD-T, FAB-T, Square), torchattacks"}
    finally:
        model.train(was_training)
    return {"clean_acc": round(clean.float().mean().item(), 4), "n": n,
            "robust_acc": round(robust.float().mean().item(), 4), "n_robust": n_robust,
            "eps": eps, "norm": norm, "steps": steps, "step_size": step_size, "random_start": random_start,
            **extra, "seed": seed, "seconds": round(time.time() - t0, 1)}


def _device_name(device: torch.device) -> str:
    return f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else str(device)


def update_card(model_name: str, metrics: dict) -> str:
    """Write `metrics` under "metrics" in weights/<file>.json of an embedded model; returns the card's path."""
    spec = get_spec(model_name)
    if spec.source != "embedded":
        raise ValueError(f"only embedded models have a card in weights/; {model_name} is a {spec.source} model")
    path = WEIGHTS_DIR / f"{spec.file}.json"
    card = json.loads(path.read_text()) if path.exists() else {"name": spec.name}
    card["metrics"] = metrics
    path.write_text(json.dumps(card, indent=2) + "\n")
    return str(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="registered model name, e.g. cifar10-resnet-l2-0.5")
    parser.add_argument("--data", required=True, help="image folder, .tar(.gz) of one, or torchvision:cifar10")
    parser.add_argument("--split", default="test")
    parser.add_argument("--eps", type=float, required=True, help="attack radius in [0,1] pixel units (0: clean only)")
    parser.add_argument("--norm", choices=("l2", "linf"), default="l2")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--n", type=int, default=None, help="images for clean accuracy (default: all)")
    parser.add_argument("--n-robust", type=int, default=None, help="first images of those for PGD (default: --n)")
    parser.add_argument("--n-autoattack", type=int, default=0,
                        help="first images of those for AutoAttack, standard version (default: 0 = skip)")
    parser.add_argument("--autoattack-log", type=Path, default=None,
                        help="JSON-lines file of finished AutoAttack images, headed by the model, weights, eps, norm "
                        "and seed it was written for: re-running the command resumes; other settings are refused")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--random-start", action="store_true")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--update-card", action="store_true", help="write the metrics into weights/<model>.json")
    args = parser.parse_args(argv)
    if args.update_card and get_spec(args.model).source != "embedded":
        parser.error(f"--update-card needs an embedded model; {args.model} has no card in weights/")
    model = load_model(args.model, device=args.device)
    images, labels, _ = load_split(args.data, args.split, size=model.input_size)
    metrics = evaluate(model, images, labels, args.eps, args.norm, args.steps, n=args.n, n_robust=args.n_robust,
                       batch_size=args.batch_size, seed=args.seed, random_start=args.random_start,
                       n_autoattack=args.n_autoattack, autoattack_log=args.autoattack_log)
    metrics.update(data=args.data, split=args.split, weights_sha256=model.weights_sha256,
                   device=_device_name(torch.device(args.device)),
                   date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   command="python -m robust_synth.robust_accuracy "
                   + shlex.join(sys.argv[1:] if argv is None else argv))
    print(json.dumps(metrics, indent=2))
    if args.update_card:
        print(f"wrote metrics to {update_card(args.model, metrics)}", file=sys.stderr)


if __name__ == "__main__":
    main()
