"""SHA-256 of files, read in 1 MiB chunks (weight pins and recipes' weights_sha256), once per version of a file."""
import functools
import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    """The file's sha256; a file not changed since (same size and modification time) is not read again: a pin check
    and the recipe's weights_sha256 of one load, or a load on a second device, hash a 1.7 GB file once."""
    stat = Path(path).stat()
    return _sha256(Path(path).resolve(), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
