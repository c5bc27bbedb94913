"""Batch concurrent requests that share a model and settings into one call; each caller gets its own slice.

API
    batcher = Batcher(run_batch, max_batch=16, max_wait_s=0.005, size=lambda item: 1)
    result = batcher.submit(key, item)     # blocks until the item's batch has run; thread-safe

    run_batch(key, items) -> one result per item, in order. Items submitted with equal (hashable) keys are
    grouped: the first caller of a group waits up to max_wait_s for more, or until the group holds max_batch
    (counted with `size`), then runs run_batch in its own thread and hands every caller its result. An exception
    from run_batch is raised in every caller of that group. No background thread: work runs in request threads.

    For PGD: pgd_batcher() is a Batcher whose key is (model, cfg) and whose items are PGDRequest; pgd_batch()
    runs a list of requests as one pgd() call and returns one PGDResult per request:
        batcher = pgd_batcher(max_batch=16)
        result = batcher.submit((model, cfg), PGDRequest(x0, objective, seed=7))

    The tasks batch through shared_pgd_batcher(n) when limits.current().batch_images = n > 1
    (ROBUST_SYNTH_BATCH_IMAGES), for runs without a model wrapper and with a PGD constraint (not L-BFGS).
    Inside `with batching_through(batcher):` (per thread / context) they submit to `batcher` instead: any object
    with submit(key, request) -> PGDResult, e.g. robust_synth.bulk's lockstep batcher.

    A request's result does not depend on what it was batched with: every operation in pgd() is per sample,
    each objective sees only its own request's slice of the model output, and random starts are drawn per
    request from its own seed (as pgd(..., generator=torch.Generator(device).manual_seed(seed)) draws them).
    Equal up to float rounding: convolution algorithms may change with the batch size.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import itertools
import threading
from dataclasses import dataclass
from typing import Callable, Hashable

import torch

from .engine import Cancelled, OnStep, PGDConfig, PGDResult, pgd
from .features import ModelOutput
from .objectives import Objective


class _Group:
    """Items collected under one key; `closed` is set when full, `done` when results (or an error) are in."""

    def __init__(self):
        self.items, self.size = [], 0
        self.results, self.error = None, None
        self.closed, self.done = threading.Event(), threading.Event()


class Batcher:
    """Groups items with equal keys submitted from concurrent threads into one run_batch call (see module doc)."""

    def __init__(self, run_batch: Callable[[Hashable, list], list], *, max_batch: int = 16,
                 max_wait_s: float = 0.005, size: Callable[[object], int] = lambda item: 1):
        if not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be a positive integer, got {max_batch!r}")
        if not max_wait_s >= 0:
            raise ValueError(f"max_wait_s must be a non-negative number of seconds, got {max_wait_s!r}")
        self.run_batch, self.max_batch, self.max_wait_s, self.size = run_batch, max_batch, max_wait_s, size
        self.batches_run = 0   # run_batch calls so far (for monitoring and tests)
        self._lock = threading.Lock()
        self._open: dict[Hashable, _Group] = {}

    def submit(self, key: Hashable, item):
        """Run `item` in a batch with concurrent items of the same key; returns its own result."""
        group, index, leader = self._join(key, item)
        if leader:
            group.closed.wait(self.max_wait_s)
            self._close(key, group)
            self._run(key, group)
        else:
            group.done.wait()
        if group.error is not None:
            raise group.error
        return group.results[index]

    def _join(self, key, item) -> tuple[_Group, int, bool]:
        size = self.size(item)
        with self._lock:
            group = self._open.get(key)
            if group is not None and group.size + size > self.max_batch:
                self._close_locked(key, group)
                group = None
            leader = group is None
            if leader:
                group = self._open[key] = _Group()
            group.items.append(item)
            group.size += size
            if group.size >= self.max_batch:
                self._close_locked(key, group)
            return group, len(group.items) - 1, leader

    def _close(self, key, group: _Group) -> None:
        with self._lock:
            self._close_locked(key, group)

    def _close_locked(self, key, group: _Group) -> None:
        if self._open.get(key) is group:
            del self._open[key]
        group.closed.set()

    def _run(self, key, group: _Group) -> None:
        try:
            results = list(self.run_batch(key, group.items))
            if len(results) != len(group.items):
                raise RuntimeError(f"run_batch returned {len(results)} results for {len(group.items)} items")
            group.results = results
        except Exception as error:  # noqa: BLE001 - every caller of the group gets the error
            group.error = error
        finally:
            with self._lock:
                self.batches_run += 1
            group.done.set()


@dataclass(frozen=True)
class PGDRequest:
    """One caller's share of a batched pgd() run."""
    x0: torch.Tensor                     # (b, C, H, W) start in [0,1]
    objective: Objective                 # per-sample losses (b,) for these images
    center: torch.Tensor | None = None   # centre of the ball (default x0)
    seed: int = 0                        # seeds this request's random start when cfg.random_start
    on_step: OnStep | None = None        # engine.OnStep with this request's slices; may raise Cancelled


def pgd_batch(model, requests: list[PGDRequest], cfg: PGDConfig) -> list[PGDResult]:
    """Run requests as one pgd() call; each gets the PGDResult of its own samples (losses averaged over them).

    A request whose on_step raises Cancelled gets no more calls; the run stops once every request has
    cancelled. A constraint that couples the samples (L-BFGS's shared history) is refused.
    """
    if not requests:
        raise ValueError("pgd_batch needs at least one request")
    if cfg.make_constraint().couples_samples:
        raise ValueError("L-BFGS couples the samples of a batch: batch unconstrained runs with optimizer='adam', "
                         "or run L-BFGS requests one by one")
    bounds = _bounds(requests)
    centers = [(r.x0 if r.center is None else r.center).detach().float() for r in requests]
    starts = [_start(r, c, cfg) for r, c in zip(requests, centers)]
    history: list[torch.Tensor] = []
    relay = _Relay(requests, bounds, history)
    result = pgd(model, torch.cat(starts), _split_objective(requests, bounds),
                 dataclasses.replace(cfg, random_start=False),
                 center=torch.cat(centers), on_step=relay)
    losses = torch.stack(history) if history else None
    return [PGDResult(result.x[a:b], result.loss[a:b], [] if losses is None else losses[:, a:b].mean(1).tolist(),
                      result.steps_run, relay.cancelled[i]) for i, (a, b) in enumerate(bounds)]


def pgd_batcher(*, max_batch: int = 16, max_wait_s: float = 0.005) -> Batcher:
    """A Batcher of PGDRequest items keyed by (model, cfg, ...); max_batch counts images."""
    return Batcher(lambda key, requests: pgd_batch(key[0], requests, key[1]), max_batch=max_batch,
                   max_wait_s=max_wait_s, size=lambda request: request.x0.shape[0])


SHARED_WAIT_S = 0.02  # how long the first request of a shared batch waits for company (the app's batcher)
_shared: dict[int, Batcher] = {}
_shared_lock = threading.Lock()


_override: contextvars.ContextVar = contextvars.ContextVar("robust_synth_pgd_batcher", default=None)


@contextlib.contextmanager
def batching_through(batcher):
    """Within this block (this thread's context), shared_pgd_batcher() returns `batcher`."""
    token = _override.set(batcher)
    try:
        yield batcher
    finally:
        _override.reset(token)


def batcher_overridden() -> bool:
    """True inside batching_through(): the tasks hand their pgd() calls to that batcher whatever the batch limit."""
    return _override.get() is not None


def shared_pgd_batcher(max_images: int) -> Batcher:
    """The process-wide pgd_batcher for batches of up to max_images images (what the tasks use when batching is on).

    Inside batching_through(b), b instead.
    """
    if (override := _override.get()) is not None:
        return override
    with _shared_lock:
        if max_images not in _shared:
            _shared[max_images] = pgd_batcher(max_batch=max_images, max_wait_s=SHARED_WAIT_S)
        return _shared[max_images]


def _bounds(requests: list[PGDRequest]) -> list[tuple[int, int]]:
    """(start, end) of each request's samples in the concatenated batch; all requests must share C, H, W."""
    shapes = {tuple(r.x0.shape[1:]) if r.x0.dim() == 4 else None for r in requests}
    if None in shapes or len(shapes) != 1:
        raise ValueError(f"batched requests need (b, C, H, W) images of one shape, got shapes "
                         f"{[tuple(r.x0.shape) for r in requests]}")
    ends = list(itertools.accumulate(r.x0.shape[0] for r in requests))
    return [(end - r.x0.shape[0], end) for r, end in zip(requests, ends)]


def _start(request: PGDRequest, center: torch.Tensor, cfg: PGDConfig) -> torch.Tensor:
    if not cfg.random_start:
        return request.x0.detach().float()
    generator = torch.Generator(device=center.device).manual_seed(request.seed)
    return cfg.make_constraint().random_start(center, generator)


def _split_objective(requests: list[PGDRequest], bounds) -> Objective:
    """Each request's objective on its own slice of the model output and images, concatenated."""
    objectives = [r.objective for r in requests]

    def fn(out, x):
        return torch.cat([o(ModelOutput({k: v[a:b] for k, v in out.items()}), x[a:b])
                          for o, (a, b) in zip(objectives, bounds)])
    names = " | ".join(dict.fromkeys(o.name for o in objectives))
    return Objective(fn, names, [layer for o in objectives for layer in o.layers])


class _Relay:
    """The batch's on_step: records per-sample losses and calls each request's on_step with its slices."""

    def __init__(self, requests, bounds, history: list):
        self.on_steps = [r.on_step for r in requests]
        self.bounds, self.history = bounds, history
        self.cancelled = [False] * len(requests)

    def __call__(self, step, x, loss):
        self.history.append(loss)
        for i, (on_step, (a, b)) in enumerate(zip(self.on_steps, self.bounds)):
            if on_step is None or self.cancelled[i]:
                continue
            try:
                on_step(step, x[a:b], loss[a:b])
            except Cancelled:
                self.cancelled[i] = True
        if all(self.cancelled):
            raise Cancelled
