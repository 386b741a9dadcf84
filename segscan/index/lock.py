"""The one-writer lock of a database directory (an ingest holds it while it runs)."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..errors import StoreError


def acquire_writer_lock(root: Path) -> int:
    """The locked file descriptor of ``root/.lock``; a second writer is refused with a clear error."""
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreError(f"{root} is being written by another process (ingest running?)") from None
    return fd


def release_writer_lock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
