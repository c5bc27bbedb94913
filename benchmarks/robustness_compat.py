"""Shim: run the MadryLab `robustness` library's PGD Attacker (1.2.1.post2) on a robust_synth model, CPU or GPU.

`robustness` pins old dependencies, so it is installed apart from the project, e.g.
    pip install --no-deps --target /tmp/robustness_pkg robustness==1.2.1.post2 dill cox tensorboardX protobuf
and found through `path` (benchmarks/speed.py: --robustness-path or $ROBUSTNESS_PATH).
Its Attacker hard-codes `orig_input.cuda()`; on CPU the shim makes Tensor.cuda the identity for the duration of
one attack call (and only then). The Attacker is called directly: AttackerModel would add one more inference
forward after the attack.
"""
from __future__ import annotations

import contextlib
import sys
from types import SimpleNamespace

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.feature_extraction import create_feature_extractor


def import_attacker(path: str | None):
    """The `robustness.attacker` module, importing from `path` first; (None, reason) when it cannot be imported."""
    if path and path not in sys.path:
        sys.path.insert(0, path)
    try:
        from robustness import attacker
    except Exception as error:  # noqa: BLE001 - any import failure means "skip with the reason"
        return None, f"{type(error).__name__}: {error}"
    return attacker, None


class MadryNet(nn.Module):
    """robust_synth's network as `robustness` expects it: normalised input, forward(x, with_latent=...)."""

    def __init__(self, model):
        super().__init__()
        self.net = model.net
        nodes = {model.layer_nodes["rep"]: "rep", model.layer_nodes["logits"]: "logits"}
        self.with_rep = create_feature_extractor(model.net, nodes).eval()

    def forward(self, x, with_latent=False, fake_relu=False, no_relu=False):
        if not with_latent:
            return self.net(x)
        out = self.with_rep(x)
        return out["logits"], out["rep"].flatten(1)


@contextlib.contextmanager
def _cuda_is_identity(device: torch.device):
    """On CPU, let the Attacker's hard-coded `.cuda()` return the tensor itself for the duration of the block."""
    if device.type == "cuda":
        yield
        return
    original = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    try:
        yield
    finally:
        torch.Tensor.cuda = original


def make_attacker(attacker_module, model):
    """An Attacker wrapping `model` (a RobustModel) with its mean/std, on the model's device."""
    dataset = SimpleNamespace(mean=model.mean.flatten().cpu(), std=model.std.flatten().cpu())
    return attacker_module.Attacker(MadryNet(model), dataset).to(model.mean.device).eval()


def _unnormalise(attacker, inp):
    return inp * attacker.normalize.new_std + attacker.normalize.new_mean


def inpainting_loss(attacker, x0: torch.Tensor, mask: torch.Tensor, weight: float):
    """custom_loss(model, inp, target): CE + weight·mean(((x − x0)·(1 − m))²), inp being the normalised image."""
    keep = 1 - mask

    def loss(net, inp, target):
        ce = F.cross_entropy(net(inp), target, reduction="none")
        penalty = ((_unnormalise(attacker, inp) - x0) * keep).pow(2).flatten(1).mean(1)
        return ce + weight * penalty, None
    return loss


def inversion_loss(net, inp, target_rep):
    """custom_loss of the robustness inversion notebook: ‖R(x) − R*‖ / ‖R*‖ per sample."""
    _, rep = net(inp, with_latent=True)
    return (rep - target_rep).norm(dim=1) / target_rep.norm(dim=1), None


def attack(attacker, x0: torch.Tensor, target: torch.Tensor, *, eps: float, step_size: float, steps: int,
           custom_loss=None) -> torch.Tensor:
    """Targeted L2 PGD (the loss is minimised) with the best iterate, as the robustness notebooks run it."""
    with _cuda_is_identity(x0.device):
        return attacker(x0, target, constraint="2", eps=eps, step_size=step_size, iterations=steps,
                        targeted=True, custom_loss=custom_loss, use_best=True, do_tqdm=False)
