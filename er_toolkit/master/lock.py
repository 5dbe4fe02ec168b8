"""One writer or many readers: an advisory lock file beside the store."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Literal

from er_toolkit.exceptions import StoreLockedError

__all__ = ["StoreLock", "lock_path"]


def lock_path(path: str | os.PathLike[str]) -> Path:
    """Return the lock file of the store at ``path`` (``<path>.lock``)."""
    p = Path(path)
    return p.with_name(p.name + ".lock")


class StoreLock:
    """An ``flock`` on ``<store>.lock``: exclusive for a writer, shared for readers.

    The kernel drops the lock when its process ends, however it ends
    (SIGKILL included), so a crashed writer never leaves the store locked.
    The lock is taken without waiting: a second writer, or a writer while
    readers have the store open, gets :class:`StoreLockedError` at once.

    Parameters
    ----------
    path
        The store's database file.
    mode
        ``"write"`` (exclusive) or ``"read"`` (shared).
    """

    def __init__(self, path: str | os.PathLike[str], *, mode: Literal["write", "read"]):
        self.path = lock_path(path)
        self.mode = mode
        self._fd: int | None = None

    def acquire(self) -> StoreLock:
        """Take the lock, or raise :class:`StoreLockedError` naming the lock file."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        flag = fcntl.LOCK_EX if self.mode == "write" else fcntl.LOCK_SH
        try:
            fcntl.flock(fd, flag | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = (
                "another writer or open readers" if self.mode == "write" else "a writer"
            )
            raise StoreLockedError(
                f"The master store {str(self.path)[: -len('.lock')]!r} is locked by "
                f"{holder} (lock file {str(self.path)!r}); a store has one writer "
                "or many readers at a time. Wait for the other process to close the "
                "store, then retry."
            ) from None
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (the lock file stays, harmlessly)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None
