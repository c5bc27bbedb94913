"""Adversarial (Madry et al. 2018, L2/Linf PGD) and standard training of a classifier; writes safetensors + model card."""
from __future__ import annotations

import argparse
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
from .features import RobustModel

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


@dataclass
class TrainConfig:
    data: str                     # image folder, tar of one, or "torchvision:cifar10"
    out: str                      # output stem: writes <out>.safetensors and <out>.json
    name: str = "cifar10-resnet-l2-0.5"
    arch: str = "cifar_resnet"
    constraint: str = "l2"        # attack norm for adversarial training; ignored when eps == 0
    eps: float = 0.5              # 0 = standard training (MadryLab CIFAR L2 models use 0.25, 0.5, 1.0)
    attack_steps: int = 2         # few steps keep CPU training feasible; step = 2.5·eps/steps (Madry et al.)
    epochs: int = 10
    batch_size: int = 256
    lr: float = 0.2               # peak of a one-cycle schedule (SGD, Nesterov momentum 0.9)
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    seed: int = 0
    device: str = "auto"
    threads: int = 0              # CPU threads (0 = torch default)
    resume: bool = True           # continue from <out>.ckpt if present


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random 4-pixel-padded crop and horizontal flip of a uint8 batch, as floats in [0,1]."""
    b, _, h, w = x.shape
    padded = F.pad(x.float() / 255, (4, 4, 4, 4), mode="reflect")
    dx, dy = torch.randint(0, 9, (2,), generator=gen).tolist()
    out = padded[:, :, dy:dy + h, dx:dx + w]
    flip = torch.rand(b, generator=gen) < 0.5
    out[flip] = out[flip].flip(3)
    return out


def _lr_at(step: int, total: int, peak: float) -> float:
    warm = max(1, int(0.15 * total))
    return peak * step / warm if step < warm else peak * max(0.0, (total - step) / (total - warm))


def adversarial_batch(model: RobustModel, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig,
                      gen: torch.Generator | None = None) -> torch.Tensor:
    """PGD examples maximising the cross-entropy (minimising its negative) inside the eps ball."""
    attack = PGDConfig(constraint=cfg.constraint, eps=cfg.eps, step_size=2.5 * cfg.eps / cfg.attack_steps,
                       steps=cfg.attack_steps, random_start=True, keep_best=False)
    return pgd(model, x, -objectives.class_loss(y), attack, generator=gen).x


def train(cfg: TrainConfig, command: str | None = None) -> dict:
    """Train as cfg says; `command` (the CLI line that asked for it) goes into the model card."""
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if cfg.device == "auto" else cfg.device))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    x_train, y_train, classes = load_split(cfg.data, "train")
    net, nodes = build(cfg.arch, len(classes))
    net = net.to(device, memory_format=torch.channels_last)
    model = RobustModel(net, CIFAR_MEAN, CIFAR_STD, nodes, name=cfg.name, class_names=classes,
                        input_size=x_train.shape[-1], freeze=False).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(x_train) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    ckpt_path = Path(f"{cfg.out}.ckpt")  # not with_suffix: stems like "...-l2-0.5" hold a dot
    ckpt_path.parent.mkdir(parents=True, exist_ok=True)
    start_epoch, elapsed = 0, 0.0
    if cfg.resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        start_epoch, elapsed = state["epoch"], state["elapsed"]
    gen = torch.Generator().manual_seed(cfg.seed + start_epoch)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)

    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.time()
        model.train()
        perm = torch.randperm(len(x_train), generator=gen)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", mininterval=10, file=sys.stdout)
        correct = seen = 0
        for i in bar:
            idx = perm[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            x = _augment(x_train[idx], gen).to(device, memory_format=torch.channels_last)
            y = y_train[idx].to(device)
            if cfg.eps > 0:
                x = adversarial_batch(model, x, y, cfg, gen)
            for group in opt.param_groups:
                group["lr"] = _lr_at(epoch * steps_per_epoch + i, total, cfg.lr)
            with amp:
                logits = model(x).logits.float()
            loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            bar.set_postfix(loss=f"{loss.item():.3f}", train_acc=f"{correct / seen:.3f}", refresh=False)
        elapsed += time.time() - t0
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "epoch": epoch + 1, "elapsed": elapsed}, ckpt_path)
        print(f"epoch {epoch + 1}: train acc {'(adv) ' if cfg.eps > 0 else ''}{correct / seen:.4f}, "
              f"{elapsed / 60:.1f} min so far", flush=True)

    return save_model(net, classes, cfg, elapsed, device, command)


def save_model(net, classes, cfg: TrainConfig, elapsed: float, device, command: str | None = None) -> dict:
    """Write float32 safetensors (BN counters dropped) and the model card; metrics come from evaluate.py."""
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().float().contiguous().cpu() for k, v in net.state_dict().items()
               if not k.endswith("num_batches_tracked")}
    save_file(tensors, f"{out}.safetensors", metadata={"name": cfg.name, "arch": cfg.arch})
    card = {
        "name": cfg.name, "arch": cfg.arch, "dataset": "CIFAR-10", "classes": classes,
        "mean": CIFAR_MEAN, "std": CIFAR_STD, "input_size": 32,
        "robustness": {"norm": cfg.constraint, "eps": cfg.eps} if cfg.eps > 0 else None,
        "training": {**asdict(cfg), "device": str(device), "minutes": round(elapsed / 60, 1),
                     "command": command},
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
    print(json.dumps(card["training"], indent=2))


if __name__ == "__main__":
    main()
