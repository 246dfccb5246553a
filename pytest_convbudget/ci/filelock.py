"""One writer at a time for a baseline: what keeps two runs from losing each other's update.

Two ``--conv-merge-baseline`` runs on one file each read it, merged their tests in and wrote it
back: the later write dropped the earlier run's update, and both exited 0. A baseline is now
read, merged and written while holding an exclusive lock on its folder, so the second run
reads what the first one wrote. The lock is the folder's own (``flock`` on the folder, taken
by the operating system and let go when the process ends, however it ends), so no lock file
is left beside the baseline and none can go stale.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def folder_locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the folder ``path`` is written in (created if it is missing)."""
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: a lock file beside the target, held open exclusively
        with _locked_file(folder / f".{path.name}.lock"):
            yield
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # closing lets go of the lock


@contextmanager
def _locked_file(lock: Path) -> Iterator[None]:  # pragma: no cover - Windows only
    import msvcrt
    import time

    with open(lock, "a+b") as stream:
        while True:
            try:
                msvcrt.locking(stream.fileno(), msvcrt.LK_LOCK, 1)
                break
            except OSError:  # LK_LOCK gives up after ten seconds of trying: try again
                time.sleep(0.1)
        try:
            yield
        finally:
            stream.seek(0)
            msvcrt.locking(stream.fileno(), msvcrt.LK_UNLCK, 1)
