"""Parameter limits (steps, eps, n, frames, output side, input pixels, time, queue) read from environment variables.

The library defaults are generous enough for every reference setting of the papers (representation
inversion runs up to 10000 steps with eps 1000); a public deployment tightens them through
ROBUST_SYNTH_<FIELD> variables, e.g. ROBUST_SYNTH_MAX_STEPS=2000 or ROBUST_SYNTH_MAX_SECONDS=60.
`current()` reads the environment at call time, so a change applies to the next request.
"""
from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, fields

ENV_PREFIX = "ROBUST_SYNTH_"
MAX_SEED = 2**32 - 1  # fits numpy, torch and JavaScript numbers exactly
# The app runs 8 requests at once, batched (measured faster on CPU: docs/load.md), except on ZeroGPU,
# where every @spaces.GPU call runs in its own process: concurrent requests never meet in one batch there.
ON_ZERO_GPU = os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "true")
DEFAULT_CONCURRENT_REQUESTS = 1 if ON_ZERO_GPU else 8


@dataclass(frozen=True)
class Limits:
    max_steps: int = 10000            # representation inversion goes up to 10000 steps (Engstrom et al. 2019)
    max_eps: float = 1000.0           # inversion / feature visualisation use eps 1000 (effectively unconstrained)
    max_step_size: float = 100.0      # references use 0.1-1; 100 leaves room for experiments without overflow
    max_n: int = 16                   # images per request: a 4x4 grid
    max_frames: int = 16              # interpolation frames per request
    max_side: int = 1024              # output side in pixels (super-resolution, style transfer)
    max_input_pixels: int = 40_000_000  # decoded-pixel limit for uploads: 40 MP covers any camera photo
    max_seconds: float = 120.0        # per-request time limit so one user cannot hold the GPU
    queue_size: int = 4096            # a memory backstop on queued events: requests are refused by expected wait
    #                                   (app/admission.py) long before, unless each takes under max_seconds / 4096
    batch_images: int = 1             # >1: concurrent PGD runs of library callers with one model and settings share
    #                                   a batch of up to this many images (1: off)
    concurrent_requests: int = DEFAULT_CONCURRENT_REQUESTS  # the app runs this many requests at once, their PGD runs
    #                                   with one model and settings batched (up to this many images; 1: neither)

    def summary(self) -> str:
        """One line for the UI, e.g. 'Limits: steps <= 10000, eps <= 1000, ...'."""
        return (f"Limits: steps <= {self.max_steps}, eps <= {self.max_eps:g}, step size <= {self.max_step_size:g}, "
                f"n <= {self.max_n}, frames <= {self.max_frames}, output side <= {self.max_side} px, "
                f"input <= {self.max_input_pixels / 1e6:g} MP, {self.max_seconds:g} s per request.")


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def _parse(field_name: str, kind: type, text: str):
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value <= 0:
        raise ValueError(f"environment variable {env_name(field_name)} must be a positive "
                         f"{'integer' if kind is int else 'number'}, got {text!r}")
    return value


def current() -> Limits:
    """The limits in force now: defaults overridden by ROBUST_SYNTH_<FIELD> environment variables."""
    overrides = {}
    for f in fields(Limits):
        text = os.environ.get(env_name(f.name))
        if text is not None and text.strip():
            overrides[f.name] = _parse(f.name, type(f.default), text.strip())
    return Limits(**overrides)


def _is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_int(label: str, value, low: int, high: int) -> None:
    if not _is_integer(value) or not low <= value <= high:
        raise ValueError(f"{label} must be an integer between {low} and {high}, got {value!r}")


def _check_positive(label: str, value, high: float) -> None:
    if not _is_number(value) or not math.isfinite(value) or not 0 < value <= high:
        raise ValueError(f"{label} must be a number greater than 0 and at most {high:g}, got {value!r}")


def check_run(*, steps=None, eps=None, step_size=None, n=None, frames=None, side=None, seed=None) -> None:
    """Raise ValueError with one sentence for a parameter that is missing its type, not finite or over its limit.

    Parameters left as None are not checked. Booleans are not integers; 60.0 is not an integer either.
    """
    limits = current()
    if steps is not None:
        _check_int("steps", steps, 1, limits.max_steps)
    if eps is not None:
        _check_positive("eps", eps, limits.max_eps)
    if step_size is not None:
        _check_positive("step_size", step_size, limits.max_step_size)
    if n is not None:
        _check_int("n", n, 1, limits.max_n)
    if frames is not None:
        _check_int("frames", frames, 2, limits.max_frames)
    if side is not None:
        _check_int("side", side, 1, limits.max_side)
    if seed is not None:
        _check_int("seed", seed, 0, MAX_SEED)
