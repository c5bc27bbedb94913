"""Composable per-sample objectives (shape (B,)) with readable names: add them, scale them, negate them."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

REP = "rep"  # the penultimate representation R(x) (2048-d for ResNet-50)


class Objective:
    """A per-sample loss fn(out, x) -> (B,), the layers it reads, and a name for logs and the UI."""

    def __init__(self, fn: Callable, name: str, layers: Sequence[str] = ()):
        self.fn, self.name, self.layers = fn, name, tuple(dict.fromkeys(layers))

    def __call__(self, out, x: torch.Tensor) -> torch.Tensor:
        return self.fn(out, x)

    def __add__(self, other: "Objective") -> "Objective":
        if not isinstance(other, Objective):
            return NotImplemented
        return Objective(lambda out, x: self(out, x) + other(out, x), f"{self.name} + {other.name}",
                         self.layers + other.layers)

    def __mul__(self, k: float) -> "Objective":
        if not isinstance(k, (int, float)):
            return NotImplemented
        return Objective(lambda out, x: k * self(out, x), f"{k:g}·{self.name}", self.layers)

    __rmul__ = __mul__

    def __neg__(self) -> "Objective":
        return Objective(lambda out, x: -self(out, x), f"-{self.name}", self.layers)

    def __sub__(self, other: "Objective") -> "Objective":
        if not isinstance(other, Objective):
            return NotImplemented
        return Objective(lambda out, x: self(out, x) - other(out, x), f"{self.name} - {other.name}",
                         self.layers + other.layers)

    def __repr__(self) -> str:
        return f"Objective({self.name})"


def _on_device(t: torch.Tensor) -> Callable[[torch.device], torch.Tensor]:
    """on(device) -> t on that device, copied once per device: no host-to-device copy (a sync) at every step."""
    copies = {t.device: t}

    def on(device: torch.device) -> torch.Tensor:
        if device not in copies:
            copies[device] = t.to(device)
        return copies[device]
    return on


def _check_targets(targets: torch.Tensor) -> torch.Tensor:
    if targets.dim() != 1 or targets.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"targets must be a 1-d integer tensor of class indices, "
                        f"got {targets.dtype} {tuple(targets.shape)}")
    return targets.long()


def class_loss(targets: torch.Tensor) -> Objective:
    """Cross-entropy toward `targets` (B,): minimising it makes the model see the target class."""
    targets = _on_device(_check_targets(targets))
    return Objective(lambda out, x: F.cross_entropy(out.logits.float(), targets(x.device), reduction="none"),
                     "class_ce")


def logit_margin(targets: torch.Tensor) -> Objective:
    """max_{j≠y} z_j − z_y (Carlini-Wagner margin): minimising it pushes the target logit above the rest."""
    targets = _on_device(_check_targets(targets))

    def fn(out, x):
        z = out.logits.float()
        y = targets(x.device)
        zy = z.gather(1, y[:, None]).squeeze(1)
        others = z.scatter(1, y[:, None], float("-inf"))
        return others.max(1).values - zy
    return Objective(fn, "logit_margin")


def representation_match(target_rep: torch.Tensor, layer: str = REP) -> Objective:
    """‖R(x) − R*‖ / ‖R*‖ per sample (Engstrom et al. 2019, representation inversion)."""
    target = target_rep.detach().flatten(1).float()
    denom = _on_device(target.norm(dim=1).clamp_min(1e-12))
    target = _on_device(target)

    def fn(out, x):
        return (out[layer].flatten(1).float() - target(x.device)).norm(dim=1) / denom(x.device)
    return Objective(fn, f"rep_match[{layer}]", [layer])


def feature(k: int, layer: str = REP) -> Objective:
    """Activation of unit/channel k of `layer` (spatial mean for conv maps). Maximise it with -feature(k)."""
    if not isinstance(k, int) or k < 0:
        raise ValueError(f"feature index must be a non-negative integer, got {k!r}")

    def fn(out, x):
        a = out[layer]
        if k >= a.shape[1]:
            raise ValueError(f"feature {k} is out of range: layer {layer!r} has {a.shape[1]} features "
                             f"(0..{a.shape[1] - 1})")
        a = a[:, k].float()
        return a.flatten(1).mean(1) if a.dim() > 1 else a
    return Objective(fn, f"feature[{layer}:{k}]", [layer])


def _check_mask(mask: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    if mask.dim() != 4 or mask.shape[0] not in (1, x0.shape[0]) or mask.shape[1] != 1 or mask.shape[2:] != x0.shape[2:]:
        raise ValueError(f"mask must have shape (B or 1, 1, {x0.shape[2]}, {x0.shape[3]}), got {tuple(mask.shape)}")
    return mask.float()


def masked_mse(x0: torch.Tensor, mask: torch.Tensor) -> Objective:
    """mean(((x − x0)·(1 − m))²) per sample: keeps pixels outside the mask (m = 1 where free) near x0."""
    keep = _on_device(1 - _check_mask(mask, x0))
    x0 = _on_device(x0.detach().float())
    return Objective(lambda out, x: (((x - x0(x.device)) * keep(x.device)) ** 2).flatten(1).mean(1), "masked_mse")


def masked_l2(x0: torch.Tensor, mask: torch.Tensor) -> Objective:
    """‖(x − x0)·(1 − m)‖₂ per sample: the feature-painting consistency term (Engstrom et al. 2019)."""
    keep = _on_device(1 - _check_mask(mask, x0))
    x0 = _on_device(x0.detach().float())
    return Objective(lambda out, x: ((x - x0(x.device)) * keep(x.device)).flatten(1).norm(dim=1), "masked_l2")


def gram_matrix(feats: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) maps, or (B, N, C) tokens of a vision transformer, -> (B, C, C) Gram matrix normalised by C·H·W
    (Gatys et al. 2016; N tokens stand for H·W positions)."""
    if not isinstance(feats, torch.Tensor):
        raise TypeError(f"gram_matrix expects a tensor, got {type(feats).__name__}")
    if feats.dim() == 3:
        feats = feats.transpose(1, 2).unsqueeze(-1)  # (B, N, C) -> (B, C, N, 1)
    if feats.dim() != 4:
        raise ValueError(f"gram_matrix expects a (B, C, H, W) or (B, N, C) tensor, got shape {tuple(feats.shape)}")
    b, c, h, w = feats.shape
    f = feats.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def style_loss(target_grams: dict[str, torch.Tensor], weights: dict[str, float] | None = None) -> Objective:
    """Σ_l w_l ‖G_l(x) − G_l(s)‖²_F per sample; target_grams maps layer -> (1 or B, C, C)."""
    if not target_grams:
        raise ValueError("style_loss needs at least one style layer")
    weights = weights or {name: 1.0 for name in target_grams}
    targets = {k: _on_device(v.detach().float()) for k, v in target_grams.items()}

    def fn(out, x):
        total = 0
        for name, g in targets.items():
            diff = gram_matrix(out[name].float()) - g(x.device)
            total = total + weights[name] * diff.pow(2).flatten(1).sum(1)
        return total
    return Objective(fn, "style", list(targets))


def content_loss(target_feats: torch.Tensor, layer: str) -> Objective:
    """mean((F_l(x) − F_l(c))²) per sample."""
    target = _on_device(target_feats.detach().float())
    return Objective(lambda out, x: (out[layer].float() - target(x.device)).pow(2).flatten(1).mean(1),
                     f"content[{layer}]", [layer])


def total_variation() -> Objective:
    """Mean absolute difference between neighbouring pixels, per sample (anisotropic TV)."""
    def fn(out, x):
        dh = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().flatten(1).mean(1)
        dw = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().flatten(1).mean(1)
        return dh + dw
    return Objective(fn, "tv")
