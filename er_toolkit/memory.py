"""Hand memory that numpy and Python freed back to the operating system."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable

__all__ = ["release_freed_memory"]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """Return glibc's ``malloc_trim``, or None where the C library has none (macOS, musl, Windows)."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


def release_freed_memory() -> bool:
    """Return the C heap's free pages to the operating system; False where that cannot be done.

    numpy and Python allocate through the C library's ``malloc``; glibc keeps
    what they free (arrays of millions of values that fell below its moving
    ``mmap`` threshold) in its heap for reuse by ``malloc`` only. polars
    allocates through its own allocator (jemalloc), which cannot use those
    pages, so a stage's freed numpy arrays would sit under the next stage's
    polars frames (about 100 MB at 1M records). The
    :class:`~er_toolkit.Linker` calls this at the end of each stage; it
    takes milliseconds and changes no result.

    Examples
    --------
    >>> release_freed_memory() in (True, False)
    True
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
