"""Default PGD settings per task and the rule that picks them for a model's input size."""
from __future__ import annotations

from dataclasses import dataclass, replace

PAPER_SIDE = 224  # the papers' ImageNet-class models see 224×224 inputs


@dataclass(frozen=True)
class Preset:
    """Default PGD settings of a task: L2 radius and step in [0,1] pixel units, number of steps, gradient low-pass,
    step rule and schedule (engine.PGDConfig has the meaning of each)."""
    eps: float
    step_size: float
    steps: int
    grad_blur: float = 0.0  # σ (pixels) of the Gaussian the input gradient is blurred with before each step
    step_rule: str = "normalized"  # the papers' normalised-gradient step; "adam" where it needs fewer steps
    schedule: str = "constant"     # the papers' constant step; "cosine" decays it over the run


def choose_preset(side: int, imagenet: Preset, cifar: Preset | None = None) -> tuple[Preset, str]:
    """The paper's settings for a model of input size `side`, and which rule produced them.

    224 px: the ImageNet numbers. 32 px: the task's CIFAR-10 preset where it has one. Otherwise the
    ImageNet numbers with eps and step scaled by side/224: the L2 norm of the same per-pixel change grows
    with sqrt(pixels), i.e. with the side; a gradient low-pass scales with the side too.
    """
    if side == PAPER_SIDE:
        return imagenet, "paper (224 px)"
    if cifar is not None and side == 32:
        return cifar, "CIFAR-10 preset of the task"
    k = side / PAPER_SIDE
    return (replace(imagenet, eps=imagenet.eps * k, step_size=imagenet.step_size * k, grad_blur=imagenet.grad_blur * k),
            f"paper (224 px) scaled by {side}/224")
