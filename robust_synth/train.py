"""Fast adversarial (Wong et al. 2020) and standard training of a classifier, airbench-style; safetensors + card."""
from __future__ import annotations

import argparse
import copy
import json
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tqdm import tqdm

from . import objectives
from .architectures import build
from .datasets import load_split
from .engine import PGDConfig, pgd
from .robust_accuracy import evaluate
from .features import RobustModel

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
LOOKAHEAD_EVERY = 5  # airbench: the weights are pulled toward their running average every 5 steps


@dataclass
class TrainConfig:
    data: str                     # image folder, tar of one, or "torchvision:cifar10"
    out: str                      # output stem: writes <out>.safetensors and <out>.json
    name: str = "cifar10-resnet-l2-0.5"
    arch: str = "cifar_resnet"
    constraint: str = "l2"        # attack norm for adversarial training; ignored when eps == 0
    eps: float = 0.5              # 0 = standard training (MadryLab CIFAR L2 models use 0.25, 0.5, 1.0)
    attack_steps: int = 1         # 1 = Wong et al. 2020: random start + one step of 1.25·eps; k > 1: PGD-k, 2.5·eps/k
    epochs: int = 20
    batch_size: int = 512
    lr: float = 11.5              # airbench's units: per 1024 examples of summed loss (so batch size can change)
    momentum: float = 0.85        # airbench (Nesterov SGD)
    weight_decay: float = 0.0153  # airbench's units: per 1024 examples of summed loss
    bias_lr_scale: float = 64.0   # airbench: BatchNorm biases learn 64× faster (their weights are not trained)
    label_smoothing: float = 0.2  # airbench; "Bag of tricks for AT" (Pang et al. 2021) finds 0.1-0.2 helps AT too
    whiten: bool = False          # airbench: a frozen patch-whitening stem (standard training; it hurts AT, see arch)
    translate: int = 2            # per-image random shift of up to this many pixels (reflect padding), plus flips
    holdout: int = 1000           # training images kept out for the overfitting guard (adversarial training only)
    guard_drop: float = 0.2       # held-out PGD accuracy this far below its best = catastrophic overfitting
    seed: int = 0
    device: str = "auto"
    threads: int = 0              # CPU threads (0 = torch default)
    resume: bool = True           # continue from <out>.ckpt if present


def augment(x: torch.Tensor, gen: torch.Generator, translate: int) -> torch.Tensor:
    """Per-image random shift (reflect-padded) and horizontal flip of a uint8 batch, as floats in [0,1]."""
    b, c, h, w = x.shape
    out = x.float() / 255
    if translate:
        padded = F.pad(out, (translate,) * 4, mode="reflect")
        dy, dx = torch.randint(0, 2 * translate + 1, (2, b, 1), generator=gen)
        rows, cols = (dy + torch.arange(h))[:, None, :, None], (dx + torch.arange(w))[:, None, None, :]
        out = padded[torch.arange(b)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]
    flip = torch.rand(b, generator=gen) < 0.5
    out[flip] = out[flip].flip(3)
    return out


def whiten_stem(stem: torch.nn.Conv2d, images: torch.Tensor, eps: float = 5e-4) -> None:
    """airbench's stem: the eigenvectors of the images' patch covariance (and their negatives), scaled to unit
    variance, as fixed filters; `images` are normalised as the net sees them. Only the stem's bias still learns."""
    k = stem.kernel_size[0]
    patches = images.unfold(2, k, 1).unfold(3, k, 1).transpose(1, 3).reshape(-1, images.shape[1] * k * k).double()
    eigenvalues, eigenvectors = torch.linalg.eigh(patches.T @ patches / len(patches))
    filters = eigenvectors.T.reshape(-1, images.shape[1], k, k) / torch.sqrt(eigenvalues + eps).view(-1, 1, 1, 1)
    if 2 * len(filters) != stem.out_channels:
        raise ValueError(f"a whitening stem needs {2 * len(filters)} filters, this one has {stem.out_channels}")
    with torch.no_grad():
        stem.weight.copy_(torch.cat((filters, -filters)).float())
    stem.weight.requires_grad_(False)


def lr_factor(step: int, total: int) -> float:
    """airbench's triangle: 0.2 → 1 over the first 23 % of steps, then down to 0.07."""
    peak = 0.23 * total
    if step < peak:
        return 0.2 + 0.8 * step / peak
    return 1.0 - 0.93 * (step - peak) / max(1.0, total - peak)


def overfitting(history: list[float], drop: float) -> bool:
    """Catastrophic overfitting: the latest held-out robust accuracy fell more than `drop` below the best before it."""
    return len(history) >= 2 and history[-1] < max(history[:-1]) - drop


def attack_config(cfg: TrainConfig, steps: int) -> PGDConfig:
    step_size = 1.25 * cfg.eps if steps == 1 else 2.5 * cfg.eps / steps
    return PGDConfig(constraint=cfg.constraint, eps=cfg.eps, step_size=step_size, steps=steps, random_start=True,
                     keep_best=False, score_last=False, autocast=False)


def adversarial_batch(model: RobustModel, x: torch.Tensor, y: torch.Tensor, attack: PGDConfig,
                      gen: torch.Generator | None = None) -> torch.Tensor:
    """Examples maximising the cross-entropy inside the eps ball, with batch-norm in eval mode (Pang et al. 2021)."""
    model.eval()
    try:
        return pgd(model, x, -objectives.class_loss(y), attack, generator=gen).x
    finally:
        model.train()


def make_optimizer(net: torch.nn.Module, cfg: TrainConfig) -> torch.optim.SGD:
    """airbench's Nesterov SGD on a summed loss: lr and decay per 1024 examples; BN weights fixed, biases faster."""
    kilostep = 1024 * (1 + 1 / (1 - cfg.momentum))
    lr, wd = cfg.lr / kilostep, cfg.weight_decay * cfg.batch_size / kilostep
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.weight.requires_grad_(False)  # airbench: BatchNorm without a learned scale
    norm_biases = {id(m.bias) for m in norms}
    others = [p for p in net.parameters() if p.requires_grad and id(p) not in norm_biases]
    norm_biases = [m.bias for m in norms]
    groups = [dict(params=others, lr=lr, weight_decay=wd),
              dict(params=norm_biases, lr=lr * cfg.bias_lr_scale, weight_decay=wd / cfg.bias_lr_scale)]
    opt = torch.optim.SGD(groups, momentum=cfg.momentum, nesterov=True)
    for group in opt.param_groups:
        group["base_lr"] = group["lr"]
    return opt


class Lookahead:
    """airbench's lookahead: every few steps the weights and a running average of them are pulled together."""

    def __init__(self, net: torch.nn.Module):
        self.average = copy.deepcopy(net.state_dict())

    @torch.no_grad()
    def update(self, net: torch.nn.Module, decay: float) -> None:
        for avg, current in zip(self.average.values(), net.state_dict().values()):
            if current.is_floating_point():
                avg.lerp_(current, 1 - decay)
                current.copy_(avg)


def _split(x, y, cfg: TrainConfig):
    """(train x, train y, held-out x, held-out y): a seeded slice is held out only for adversarial training."""
    n = cfg.holdout if cfg.eps > 0 else 0
    if n >= len(x):
        raise ValueError(f"holdout ({n}) must leave training images (have {len(x)})")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg.seed + 1))
    return x[order[n:]], y[order[n:]], x[order[:n]], y[order[:n]]


def _guard_check(model, x_hold, y_hold, cfg: TrainConfig) -> dict:
    """Held-out clean accuracy and PGD-10 robust accuracy (the catastrophic-overfitting check)."""
    return evaluate(model, x_hold, y_hold, eps=cfg.eps, norm=cfg.constraint, steps=10,
                    n_robust=min(500, len(x_hold)), batch_size=250, progress=False)


def train(cfg: TrainConfig, command: str | None = None) -> dict:
    """Train as cfg says; `command` (the CLI line that asked for it) goes into the model card."""
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if cfg.device == "auto" else cfg.device))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    x_all, y_all, classes = load_split(cfg.data, "train")
    x_train, y_train, x_hold, y_hold = _split(x_all, y_all, cfg)
    net, nodes = build(cfg.arch, len(classes))
    net = net.to(device, memory_format=torch.channels_last)
    model = RobustModel(net, CIFAR_MEAN, CIFAR_STD, nodes, name=cfg.name, class_names=classes,
                        input_size=x_train.shape[-1], freeze=False).to(device)
    if cfg.whiten:  # on the first 5000 (shuffled) training images, normalised as the net sees them
        whiten_stem(net.stem, (x_train[:5000].to(device).float() / 255 - model.mean) / model.std)
    opt = make_optimizer(net, cfg)
    lookahead = Lookahead(net)
    steps_per_epoch = math.ceil(len(x_train) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    ckpt_path = Path(f"{cfg.out}.ckpt")  # not with_suffix: stems like "...-l2-0.5" hold a dot
    ckpt_path.parent.mkdir(parents=True, exist_ok=True)
    state = {"epoch": 0, "elapsed": 0.0, "attack_steps": cfg.attack_steps, "history": [], "best": None}
    if cfg.resume and ckpt_path.exists():
        saved = torch.load(ckpt_path, map_location=device, weights_only=True)
        net.load_state_dict(saved["net"])
        opt.load_state_dict(saved["opt"])
        lookahead.average = saved["average"]
        state = saved["state"]
    gen = torch.Generator().manual_seed(cfg.seed + state["epoch"])

    for epoch in range(state["epoch"], cfg.epochs):
        t0 = time.time()
        model.train()
        attack = attack_config(cfg, state["attack_steps"]) if cfg.eps > 0 else None
        perm = torch.randperm(len(x_train), generator=gen)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", mininterval=30, file=sys.stdout)
        correct = seen = 0
        for i in bar:
            step = epoch * steps_per_epoch + i
            idx = perm[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            x = augment(x_train[idx], gen, cfg.translate).to(device, memory_format=torch.channels_last)
            y = y_train[idx].to(device)
            if attack is not None:
                x = adversarial_batch(model, x, y, attack, gen)
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * lr_factor(step, total)
            logits = model(x).logits.float()
            loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing, reduction="sum")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if (step + 1) % LOOKAHEAD_EVERY == 0:
                lookahead.update(net, decay=0.95 ** LOOKAHEAD_EVERY * ((step + 1) / total) ** 3)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            bar.set_postfix(loss=f"{loss.item() / len(y):.3f}", train_acc=f"{correct / seen:.3f}", refresh=False)
        if epoch + 1 == cfg.epochs:
            lookahead.update(net, decay=1.0)  # airbench: finish on the averaged weights
        record = {"epoch": epoch + 1, "train_acc": round(correct / seen, 4), "attack_steps": state["attack_steps"]}
        if attack is not None:
            record.update(_guard_check(model, x_hold, y_hold, cfg))
            robust = [r["robust_acc"] for r in state["history"] if "robust_acc" in r] + [record["robust_acc"]]
            if overfitting(robust, cfg.guard_drop) and state["best"] is not None:
                print(f"epoch {epoch + 1}: held-out PGD-10 accuracy fell to {record['robust_acc']:.3f} (best "
                      f"{max(robust[:-1]):.3f}): catastrophic overfitting; back to epoch {state['best']['epoch']}'s "
                      f"weights, PGD-{max(2, state['attack_steps'] + 1)} from now on", flush=True)
                net.load_state_dict(state["best"]["net"])
                lookahead.average = copy.deepcopy(state["best"]["net"])
                record["guard"] = f"fired: restored epoch {state['best']['epoch']}"
                state["attack_steps"] = max(2, state["attack_steps"] + 1)
            elif record["robust_acc"] >= max(robust):
                state["best"] = {"epoch": epoch + 1, "net": copy.deepcopy(net.state_dict())}
        state["elapsed"] += time.time() - t0
        state["epoch"] = epoch + 1
        state["history"].append(record)
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "average": lookahead.average, "state": state},
                   ckpt_path)
        shown = {k: v for k, v in record.items() if k in ("train_acc", "clean_acc", "robust_acc", "guard")}
        print(f"epoch {epoch + 1}: {'(adv) ' if attack else ''}{shown}, {state['elapsed'] / 60:.1f} min so far",
              flush=True)

    return save_model(net, classes, cfg, state, device, command)


def save_model(net, classes, cfg: TrainConfig, state: dict, device, command: str | None = None) -> dict:
    """Write float32 safetensors (BN counters dropped) and the model card; test metrics come from robust_accuracy.py."""
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().float().contiguous().cpu() for k, v in net.state_dict().items()
               if not k.endswith("num_batches_tracked")}
    save_file(tensors, f"{out}.safetensors", metadata={"name": cfg.name, "arch": cfg.arch})
    card = {
        "name": cfg.name, "arch": cfg.arch, "dataset": "CIFAR-10", "classes": classes,
        "mean": CIFAR_MEAN, "std": CIFAR_STD, "input_size": 32,
        "robustness": {"norm": cfg.constraint, "eps": cfg.eps} if cfg.eps > 0 else None,
        "training": {**asdict(cfg), "device": str(device), "threads": torch.get_num_threads(),
                     "minutes": round(state["elapsed"] / 60, 1), "command": command,
                     "history": state["history"]},
        "parameters": sum(p.numel() for p in net.parameters()),
    }
    Path(f"{out}.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    for f, default in TrainConfig.__dataclass_fields__.items():
        kind = type(default.default) if default.default is not default.default_factory else str
        if f in ("data", "out"):
            parser.add_argument(f"--{f}", required=True)
        elif kind is bool:
            parser.add_argument(f"--{f.replace('_', '-')}", dest=f, type=lambda s: s.lower() in ("1", "true", "yes"),
                                default=default.default)
        else:
            parser.add_argument(f"--{f.replace('_', '-')}", dest=f, type=kind, default=default.default)
    argv = sys.argv[1:] if argv is None else list(argv)
    card = train(TrainConfig(**vars(parser.parse_args(argv))), "python -m robust_synth.train " + shlex.join(argv))
    print(json.dumps({k: v for k, v in card["training"].items() if k != "history"}, indent=2))


if __name__ == "__main__":
    main()
