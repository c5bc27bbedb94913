"""The C allocator of a long-running server: few malloc arenas, and freed memory handed back after each run.

glibc gives each thread that allocates concurrently an arena of its own (up to 8 per core); every request thread
and PGD worker of the app then keeps its own high-water mark of freed tensor buffers, and the server's RSS climbs
for many minutes under a steady load. Elsewhere (macOS, musl) these calls do nothing.
"""
import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # mallopt's parameter number for the arena limit (glibc's malloc.h)
ARENAS = 2


def _glibc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()


def cap_arenas(arenas: int = ARENAS) -> bool:
    """Limit glibc to `arenas` malloc arenas (call before the server's threads start); True if it took effect.

    An operator's MALLOC_ARENA_MAX in the environment wins: glibc has read it already, and it is left alone.
    """
    if _LIBC is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    done = bool(_LIBC.mallopt(M_ARENA_MAX, arenas))
    if not done:
        log.warning("mallopt(M_ARENA_MAX, %d) was refused; RSS may grow with the number of request threads", arenas)
    return done


def release_freed() -> bool:
    """Return the allocator's free pages to the system (glibc's malloc_trim); True if any were released."""
    return bool(_LIBC.malloc_trim(0)) if _LIBC is not None else False
