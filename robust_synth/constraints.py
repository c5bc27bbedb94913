"""Perturbation sets for PGD on images in [0,1]: L2 ball, Linf ball, unconstrained (Adam / L-BFGS)."""
from __future__ import annotations

import torch


def _per_sample_norm(t: torch.Tensor) -> torch.Tensor:
    """L2 norm of each sample of a (B, ...) tensor, shaped (B, 1, 1, 1) for broadcasting."""
    return t.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (t.dim() - 1)))


class Constraint:
    """A perturbation set: where to start, how to step, how to project back."""

    name = "base"
    bounded = True          # a ball of radius eps around the centre (the recipe records eps)
    own_optimizer = False   # True: a torch optimiser takes the steps (no step rule, schedule or CUDA graph)
    couples_samples = False  # True: one sample's step depends on the others' (cannot share a batch)

    def __init__(self, eps: float, step_size: float):
        if not eps > 0:
            raise ValueError(f"eps must be a positive number, got {eps}")
        if not step_size > 0:
            raise ValueError(f"step_size must be a positive number, got {step_size}")
        self.eps, self.step_size = float(eps), float(step_size)

    def random_start(self, center: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError

    def bind(self, x: torch.Tensor) -> None:
        """Start a new run on x (a constraint with optimiser state creates it here; the balls keep none)."""

    def step(self, x: torch.Tensor, grad: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """One descent step of length scale × step_size along the direction `grad` (the engine minimises)."""
        raise NotImplementedError

    def project(self, x: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class L2Ball(Constraint):
    """{x : ||x - center||_2 <= eps} ∩ [0,1]; steps along the normalised gradient."""

    name = "l2"

    def random_start(self, center, generator):
        noise = torch.randn(center.shape, generator=generator, device=center.device, dtype=center.dtype)
        radius = torch.rand((center.shape[0],) + (1,) * (center.dim() - 1), generator=generator,
                            device=center.device, dtype=center.dtype)
        delta = noise / _per_sample_norm(noise) * radius * self.eps
        return self.project(center + delta, center)

    def step(self, x, grad, scale=1.0):
        return x - (scale * self.step_size) * grad / _per_sample_norm(grad)

    def project(self, x, center):
        delta = x - center
        delta = delta * (self.eps / _per_sample_norm(delta)).clamp(max=1.0)
        # Clamping to [0,1] only moves coordinates toward center (itself in [0,1]): the result stays in the ball.
        return (center + delta).clamp(0.0, 1.0)


class LinfBall(Constraint):
    """{x : ||x - center||_inf <= eps} ∩ [0,1]; sign-gradient steps."""

    name = "linf"

    def random_start(self, center, generator):
        u = torch.rand(center.shape, generator=generator, device=center.device, dtype=center.dtype)
        return self.project(center + (2 * u - 1) * self.eps, center)

    def step(self, x, grad, scale=1.0):
        return x - (scale * self.step_size) * grad.sign()

    def project(self, x, center):
        return torch.max(torch.min(x, center + self.eps), center - self.eps).clamp(0.0, 1.0)


class Unconstrained(Constraint):
    """No ball, only [0,1]; a torch optimiser (L-BFGS or Adam) takes the steps (style transfer)."""

    name = "none"
    OPTIMIZERS = ("lbfgs", "adam")
    bounded = False
    own_optimizer = True

    def __init__(self, eps: float = float("inf"), step_size: float = 1.0, optimizer: str = "lbfgs"):
        super().__init__(eps=float("inf"), step_size=step_size)
        if optimizer not in self.OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {self.OPTIMIZERS}, got {optimizer!r}")
        self.optimizer_name = optimizer
        self._opt = None
        self._param = None

    @property
    def couples_samples(self) -> bool:
        """L-BFGS keeps one history over the whole batch; Adam's moments are per element."""
        return self.optimizer_name == "lbfgs"

    def random_start(self, center, generator):
        u = torch.rand(center.shape, generator=generator, device=center.device, dtype=center.dtype)
        return u

    def bind(self, x: torch.Tensor) -> None:
        """Create the optimiser state for a new run on x (its history lives across steps)."""
        self._param = x.detach().clone().requires_grad_(False)
        if self.optimizer_name == "lbfgs":
            # max_iter=1 and no line search: exactly one function evaluation per step.
            self._opt = torch.optim.LBFGS([self._param], lr=self.step_size, max_iter=1, history_size=50)
        else:
            self._opt = torch.optim.Adam([self._param], lr=self.step_size)

    def step(self, x, grad, scale=1.0):
        """The optimiser's own step (its learning rate is step_size; `scale` is not used)."""
        if self._opt is None:
            raise RuntimeError("Unconstrained.bind(x) must be called before step()")
        with torch.no_grad():
            self._param.copy_(x)
        self._param.grad = grad.detach().to(self._param.dtype)
        self._opt.step(lambda: torch.zeros((), device=x.device)) if self.optimizer_name == "lbfgs" else self._opt.step()
        return self._param.detach().clone()

    def project(self, x, center):
        return x.clamp(0.0, 1.0)


CONSTRAINTS = {"l2": L2Ball, "linf": LinfBall, "none": Unconstrained}


def make_constraint(name: str, eps: float, step_size: float, optimizer: str = "lbfgs") -> Constraint:
    """Look a constraint up by name ("l2", "linf", "none")."""
    if name not in CONSTRAINTS:
        raise ValueError(f"constraint must be one of {sorted(CONSTRAINTS)}, got {name!r}")
    if name == "none":
        return Unconstrained(step_size=step_size, optimizer=optimizer)
    return CONSTRAINTS[name](eps=eps, step_size=step_size)
