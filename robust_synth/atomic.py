"""Atomic file writes: a temporary file in the same folder, then os.replace, so readers never see half a file."""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable

TEMP_MARK = ".tmp-"  # temporary names: .<name>.tmp-<pid>-<thread>; stale ones are removed at the start of a run


def temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}-{threading.get_ident()}")


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """write(temp) then rename it to path: a killed process leaves the old file (or none) or the whole new one, and
    two threads writing the same path never mix their bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write data to path atomically (atomic_write)."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def remove_stale_temps(root: Path) -> int:
    """Delete temporary files a killed run left under root; how many there were. Call before any rank writes."""
    stale = [p for p in Path(root).rglob(f".*{TEMP_MARK}*") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)
