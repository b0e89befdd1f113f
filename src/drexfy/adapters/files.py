"""Small files that several processes may create at once (the embedded mode's keys and secrets).

`drexfy serve --no-worker` and `drexfy worker` started together on a fresh data directory both
want the vault master key and the HTTP secrets. Whoever writes first must win and the other must
read exactly what was written: never a half-written file, never a second value.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


def publish_once(path: Path, data: bytes, mode: int = 0o600) -> bool:
    """Create `path` holding `data` unless it exists; True if this call created it.

    The bytes go to a private temporary file first, fsynced, which is then hard-linked into place:
    `link` fails when the name exists, so exactly one writer wins, and a reader sees either no file
    or the whole file.
    """
    with _staged(path, data, mode) as tmp:
        try:
            path.hardlink_to(tmp)
        except FileExistsError:
            return False
    _fsync_dir(path.parent)
    return True


def replace_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `path` whole: readers see the old content or the new, never a mix."""
    with _staged(path, data, mode) as tmp:
        tmp.replace(path)
    _fsync_dir(path.parent)


@contextlib.contextmanager
def _staged(path: Path, data: bytes, mode: int) -> Iterator[Path]:
    """`data` in a fresh, fsynced temporary file beside `path`, removed afterwards if still there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an advisory lock on `<path>.lock` (read-modify-write of `path` across processes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
