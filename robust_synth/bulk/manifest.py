"""manifest.jsonl: one line per item written, appended per rank, merged by rank 0 into one sorted file."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..atomic import atomic_write_bytes

PARTS_DIR = "manifest.parts"
MANIFEST = "manifest.jsonl"


class ManifestPart:
    """This rank's append-only part. Lines are flushed before their files are renamed into place (see store.py),
    so a file that exists always has its line; a line whose file never appeared is dropped by merge()."""

    def __init__(self, out: Path, rank: int):
        path = Path(out) / PARTS_DIR / f"rank-{rank:05d}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a+b")
        self._file.seek(0, os.SEEK_END)
        if self._file.tell():  # a run killed mid-line leaves a partial last line: start on a fresh one
            self._file.seek(-1, os.SEEK_END)
            if self._file.read(1) != b"\n":
                self._file.write(b"\n")

    def append(self, entries: list[dict]) -> None:
        self._file.write(b"".join((json.dumps(e, sort_keys=True) + "\n").encode() for e in entries))
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _read_lines(path: Path):
    for line in path.read_bytes().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the partial last line of a killed run
        if isinstance(entry, dict) and "file" in entry and "item" in entry:
            yield entry


def merge(out: Path, exists) -> list[dict]:
    """Every part's entries whose output exists (exists(entry) -> bool), one per output, by item order ->
    out/manifest.jsonl (written atomically). Re-run entries replace earlier ones for the same output."""
    out = Path(out)
    latest: dict[tuple, dict] = {}
    for part in sorted((out / PARTS_DIR).glob("rank-*.jsonl")):
        for entry in _read_lines(part):
            latest[(entry["file"], entry.get("member"))] = entry
    entries = sorted((e for e in latest.values() if exists(e)), key=lambda e: e["item"])
    atomic_write_bytes(out / MANIFEST, b"".join((json.dumps(e, sort_keys=True) + "\n").encode() for e in entries))
    return entries


def read(out: Path) -> list[dict]:
    """The merged manifest of a finished run (ValueError if there is none)."""
    path = Path(out) / MANIFEST
    if not path.is_file():
        raise ValueError(f"{str(out)!r} has no {MANIFEST}: it is not the output folder of a finished bulk run")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
