"""Lockstep batching: the PGD calls of a fixed set of item threads run together as batches, in item order."""
from __future__ import annotations

import contextvars
import threading
from typing import Callable

from ..batching import batching_through, pgd_batch

_slot: contextvars.ContextVar[int] = contextvars.ContextVar("robust_synth_bulk_slot")


class Lockstep:
    """A batcher for item threads: a round runs once every unfinished item waits in submit().

    The waiting requests are grouped by (key, image shape) and each group runs as one batching.pgd_batch call with
    its requests in item order, so what a batch holds depends only on its items, never on thread timing (the
    time-based Batcher of the app groups whoever arrives within a few milliseconds).
    """

    def __init__(self, items: int):
        self._cond = threading.Condition()
        self._live = items                      # items whose thread has not finished
        self._pending: dict[int, tuple] = {}    # slot -> (key, PGDRequest) waiting for the next round
        self._results: dict[int, object] = {}   # slot -> PGDResult or the exception of its group
        self.rounds = 0                         # pgd rounds run (for tests)

    def submit(self, key, request):
        slot = _slot.get()
        with self._cond:
            self._pending[slot] = (key, request)
            self._run_if_all_wait()
            self._cond.wait_for(lambda: slot in self._results)
            result = self._results.pop(slot)
        if isinstance(result, Exception):
            raise result
        return result

    def finished(self) -> None:
        with self._cond:
            self._live -= 1
            self._run_if_all_wait()

    def _run_if_all_wait(self) -> None:
        if not self._pending or len(self._pending) < self._live:
            return
        groups: dict[tuple, list] = {}
        for slot, (key, request) in sorted(self._pending.items()):
            groups.setdefault((key, tuple(request.x0.shape[1:])), []).append((slot, request))
        self._pending = {}
        for (key, _), members in groups.items():
            try:
                results = pgd_batch(key[0], [request for _, request in members], key[1])
            except Exception as error:  # noqa: BLE001 - every item of the group gets the error
                results = [error] * len(members)
            self._results.update((slot, result) for (slot, _), result in zip(members, results))
        self.rounds += 1
        self._cond.notify_all()


def run_together(calls: list[Callable[[], object]]) -> list[object]:
    """Run each call in its own thread, their PGD calls batched in lockstep; each call's result or exception."""
    lockstep, out = Lockstep(len(calls)), [None] * len(calls)

    def work(i: int) -> None:
        _slot.set(i)
        try:
            with batching_through(lockstep):
                out[i] = calls[i]()
        except Exception as error:  # noqa: BLE001 - reported per item by the caller
            out[i] = error
        finally:
            lockstep.finished()
    threads = [threading.Thread(target=work, args=(i,), name=f"bulk-item-{i}") for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out
