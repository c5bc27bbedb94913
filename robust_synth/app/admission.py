"""Admission by expected wait: a task request is refused only when the work ahead of it would outlast the time limit.

The wait ahead of a new request is the measured seconds of every request queued before it (by kind: the task's
endpoint name) plus what is left of the running ones, shared by the workers (the app's concurrency). Seconds per
request are measured here, on this machine, as the mean of the last runs of each kind that finished; a kind not
measured yet counts as the mean of the measured kinds, or PRIOR_SECONDS before any run has finished, and at least as
long as its longest run still going (a run that has taken t seconds so far takes at least t: requests that arrive
while the first runs are still going are judged on what those runs are already known to take).
"""
from __future__ import annotations

import functools
import itertools
import threading
import time
from collections import deque
from typing import Callable, Iterable

PRIOR_SECONDS = 1.0  # a request before any has finished: the embedded model's default runs take 0.4-8 s on 2 CPU cores
RUNS_REMEMBERED = 16  # the mean of the last 16 finished runs per kind follows a change of load within a minute


class QueueTooLong(Exception):
    """The expected wait is over the limit; the message says how long it would have been."""

    def __init__(self, wait_s: float, limit_s: float, ahead: int):
        self.wait_s, self.limit_s, self.ahead = wait_s, limit_s, ahead
        super().__init__(f"the app is busy: with {ahead} request(s) ahead of yours the wait would be about "
                         f"{duration(wait_s)}, over its limit of {duration(limit_s)} per request; "
                         f"please try again in a few minutes")


def duration(seconds: float) -> str:
    """'45 s', '3 min 5 s'."""
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


class Admission:
    """Measured seconds per request of each kind, the requests running now, and the admit / refuse decision."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._seconds: dict[str, deque] = {}
        self._running: dict[int, tuple[str, float]] = {}
        self._tokens = itertools.count()
        self._lock = threading.Lock()

    def started(self, kind: str) -> int:
        """A request of `kind` began running; returns the token to hand to finished()."""
        with self._lock:
            token = next(self._tokens)
            self._running[token] = (kind, self.clock())
            return token

    def finished(self, token: int, *, completed: bool = True) -> None:
        """The request ended; a completed one (not failed, stopped or dropped) adds its duration to its kind's mean."""
        with self._lock:
            kind, began = self._running.pop(token)
            if completed:
                self._seconds.setdefault(kind, deque(maxlen=RUNS_REMEMBERED)).append(self.clock() - began)

    def seconds(self, kind: str) -> float:
        """Measured seconds per request of `kind` (see the module docstring for kinds not measured yet)."""
        with self._lock:
            return self._seconds_locked(kind)

    def _seconds_locked(self, kind: str) -> float:
        runs = self._seconds.get(kind)
        if runs:
            return sum(runs) / len(runs)
        means = [sum(r) / len(r) for r in self._seconds.values() if r]
        now = self.clock()
        going = [now - began for running_kind, began in self._running.values() if running_kind == kind]
        return max([sum(means) / len(means) if means else PRIOR_SECONDS, *going])

    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def expected_wait(self, ahead: Iterable[str], workers: int) -> float:
        """Seconds until a new request starts, with requests of kinds `ahead` queued before it and `workers` slots.

        Zero while a slot is free; otherwise the queued requests' seconds plus the running ones' remaining seconds,
        divided by the workers.
        """
        ahead = list(ahead)
        with self._lock:
            if len(self._running) + len(ahead) < workers:
                return 0.0
            now = self.clock()
            left = sum(max(self._seconds_locked(kind) - (now - began), 0.0) for kind, began in self._running.values())
            queued = sum(self._seconds_locked(kind) for kind in ahead)
        return (left + queued) / workers

    def admit(self, ahead: Iterable[str], workers: int, limit_s: float) -> None:
        """Raise QueueTooLong when the expected wait behind `ahead` is over `limit_s`."""
        ahead = list(ahead)
        wait = self.expected_wait(ahead, workers)
        if wait > limit_s:
            raise QueueTooLong(wait, limit_s, len(ahead) + self.running())


ADMISSION = Admission()  # the app's: one process, one queue


def measured(kind: str, handler):
    """`handler` (a streaming endpoint) with each run counted as running, and timed for `kind` once it completes."""
    @functools.wraps(handler)
    def run(*args, **kwargs):
        token, completed = ADMISSION.started(kind), False
        try:
            yield from handler(*args, **kwargs)
            completed = True
        finally:
            ADMISSION.finished(token, completed=completed)
    return run
