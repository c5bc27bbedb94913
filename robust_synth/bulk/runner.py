"""One bulk run on this rank: its chunks of the work, in lockstep batches, written atomically, one progress bar."""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from ..atomic import atomic_write_bytes, remove_stale_temps
from ..models import load_model
from . import dist
from .lockstep import run_together
from .manifest import ManifestPart, merge
from .plan import Item, chunks, rank_chunks
from .store import PngStore, TarStore

CONFIG = "bulk.json"        # the settings of the run that made a folder: a re-run must match them to resume
FAIL_AFTER_ENV = "ROBUST_SYNTH_BULK_FAIL_AFTER"  # test hook: a rank raises once it has written this many items


@dataclass
class BulkRun:
    """What to run: a task function over items, with shared options, into `out`."""
    task: str
    fn: Callable
    model: str
    items: list[Item]
    options: dict                 # task keyword arguments shared by every item (steps, eps, target, ...)
    out: Path
    format: str = "png"           # "png" | "tar"
    batch_size: int = 16          # items per lockstep batch: their PGD runs as one pgd() call
    shard_size: int | None = None  # items per tar shard (default: 64 batches)
    progress: bool = True
    settings: dict = field(default_factory=dict)  # recorded in bulk.json (what defines the items and their images)


@dataclass(frozen=True)
class Batch:
    chunk: int
    items: list[Item]
    pending: frozenset    # indices of items to write (the rest of the batch exists already)
    first: bool           # first / last batch of its chunk (tar: open / close the shard)
    last: bool


def _fail_after() -> int | None:
    text = os.environ.get(FAIL_AFTER_ENV, "").strip()
    return int(text) if text else None


def _check_settings(out: Path, settings: dict, write: bool) -> None:
    path = out / CONFIG
    if write and not path.exists():
        atomic_write_bytes(path, (json.dumps(settings, indent=2, sort_keys=True) + "\n").encode())
    recorded = json.loads(path.read_text())
    changed = sorted(k for k in set(recorded) | set(settings) if recorded.get(k) != settings.get(k))
    if changed:
        raise ValueError(f"{str(out)!r} holds a bulk run with other settings ({', '.join(changed)}): resume it with "
                         f"the same command, or write to another --out")


def _store(run: BulkRun, manifest: ManifestPart):
    if run.format == "png":
        return PngStore(run.out, manifest)
    if run.format == "tar":
        return TarStore(run.out, manifest, run.shard_size or 64 * run.batch_size)
    raise ValueError(f"--format must be png or tar, got {run.format!r}")


def _my_batches(run: BulkRun, store, ctx: dist.Context) -> tuple[list[Batch], int]:
    """This rank's batches still to run, and how many of its items exist already."""
    batches, finished = [], 0
    for j, span in rank_chunks(list(enumerate(chunks(len(run.items), store.chunk_size(run.batch_size)))),
                               ctx.rank, ctx.world):
        items = [run.items[i] for i in span]
        pending = frozenset(item.index for item in store.pending(j, items))
        finished += len(items) - len(pending)
        if pending:
            cut = [items[a:a + run.batch_size] for a in range(0, len(items), run.batch_size)]
            batches += [Batch(j, b, pending, k == 0, k == len(cut) - 1) for k, b in enumerate(cut)]
    return batches, finished


def _single(value):
    """A recipe's one-element list as its element (the tasks record targets as lists)."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _entry(run: BulkRun, ctx: dist.Context, class_names, item: Item, recipe: dict, location: dict) -> dict:
    if item.label is None:  # a folder item: the class its run went toward, as the recipe names it
        params = recipe.get("params", {})
        label, name = _single(params.get("target_index")), _single(params.get("target"))
    else:  # a generation item: its class, or its prompt (a CLIP model's class is its text)
        target = item.kwargs.get("target")
        label, name = item.label, target if isinstance(target, str) else class_names[item.label]
    return {**location, "item": item.index, "key": item.key, "task": run.task, "class": label,
            "class_name": name, "seed": item.seed,
            "model": recipe.get("model"), "weights_sha256": recipe.get("weights_sha256"),
            "params": recipe.get("params"), "metrics": recipe.get("metrics"), "rank": ctx.rank,
            "source": item.source}


def _run_batch(run: BulkRun, model, batch: Batch) -> tuple[list, list]:
    """The batch's items through the task in lockstep -> (written (item, output) pairs, failed (item, error) pairs)."""
    outputs = run_together([partial(run.fn, model=model, seed=item.seed, **run.options, **item.kwargs)
                            for item in batch.items])
    todo = [(item, out) for item, out in zip(batch.items, outputs) if item.index in batch.pending]
    return ([(i, o) for i, o in todo if not isinstance(o, Exception)],
            [(i, o) for i, o in todo if isinstance(o, Exception)])


def execute(run: BulkRun) -> int:
    """Run (or resume) on this rank, under torchrun or alone; returns the number of items that failed (all ranks)."""
    ctx = dist.setup()
    try:
        return _execute(run, ctx)
    finally:
        dist.close(ctx)


def _execute(run: BulkRun, ctx: dist.Context) -> int:
    run.out.mkdir(parents=True, exist_ok=True)
    if ctx.rank == 0:
        remove_stale_temps(run.out)
        _check_settings(run.out, run.settings, write=True)
    dist.barrier(ctx)
    if ctx.rank != 0:
        _check_settings(run.out, run.settings, write=False)
    model = load_model(run.model, ctx.device)
    manifest = ManifestPart(run.out, ctx.rank)
    store = _store(run, manifest)
    batches, finished = _my_batches(run, store, ctx)
    rounds, (already,) = dist.max_count(ctx, len(batches)), dist.sum_counts(ctx, [finished])
    bar = tqdm(total=len(run.items), initial=already, unit="img", desc=f"{run.task} x{ctx.world}",
               disable=ctx.rank != 0 or not run.progress, file=sys.stderr)
    entry_for = partial(_entry, run, ctx, model.class_names)
    written, failed, fail_after, made, started = 0, 0, _fail_after(), 0, time.perf_counter()
    for r in range(rounds):  # every rank takes part in every round's all_reduce, with or without a batch
        done_now = 0
        if r < len(batches):
            batch = batches[r]
            if batch.first:
                store.begin(batch.chunk)
            ok, errors = _run_batch(run, model, batch)
            store.write(batch.chunk, [i for i, _ in ok], [o for _, o in ok], entry_for)
            if batch.last:
                store.end(batch.chunk)
            for item, error in errors:
                print(f"error: {item.source or item.key}: {error}", file=sys.stderr)
            written, failed, done_now = written + len(ok), failed + len(errors), len(ok) + len(errors)
            if fail_after is not None and written >= fail_after:
                raise RuntimeError(f"{FAIL_AFTER_ENV}={fail_after}: rank {ctx.rank} stops after {written} items")
        (done_all,) = dist.sum_counts(ctx, [done_now])
        bar.update(done_all)
        made += done_all
    elapsed = time.perf_counter() - started
    bar.close()
    manifest.close()
    (failed_all,) = dist.sum_counts(ctx, [failed])
    dist.barrier(ctx)
    if ctx.rank == 0:
        entries = merge(run.out, store.exists)
        rate = f" ({made / elapsed:.2f} images/s on {ctx.world} process(es))" if made and elapsed > 0 else ""
        print(f"{len(entries)} of {len(run.items)} items in {run.out / 'manifest.jsonl'}; {made} made now in "
              f"{elapsed:.1f} s{rate}" + (f"; {failed_all} failed (see the errors above; re-run to retry)"
                                         if failed_all else ""))
    return failed_all
