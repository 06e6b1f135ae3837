"""FileLock: an advisory lock on a file, shared between processes, built on flock(2).

``flock`` locks belong to the open file description, so:

- the lock is released when the holder exits or crashes (no stale lock files to clean);
- it is *not* re-entrant: two ``FileLock`` objects on the same path in one process
  exclude each other like two processes do, and taking the same object twice is an error;
- a forked child inherits the descriptor and with it the lock; the descriptor is opened
  ``O_CLOEXEC`` so exec'd programs do not.

The lock file itself is created (mode 0600) and never removed: removing it would let a
second process lock a fresh inode while the first still holds the old one.
"""

from __future__ import annotations

import fcntl
import os
import time

from minke.errors import FailedPrecondition, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:  # types: for annotations only (~0.5 ms of import on every run)
    from types import TracebackType

# How long to sleep between non-blocking attempts when a timeout is given: short at first
# (most locks are held for milliseconds), growing to bound the wake-ups on a long wait.
_POLL_FIRST = 0.001
_POLL_MAX = 0.05


class FileLock:
    """An exclusive (default) or shared flock on ``path``.

    ``timeout=None`` waits for ever, ``0`` fails at once, ``> 0`` waits that many seconds;
    failing raises ``Unavailable`` naming the path.  Use as a context manager or call
    ``acquire()`` / ``release()``.
    """

    def __init__(self, path: str, *, shared: bool = False, timeout: float | None = None) -> None:
        self.path = path
        self.shared = shared
        self.timeout = timeout
        self._fd: int | None = None

    @property
    def locked(self) -> bool:
        return self._fd is not None

    def acquire(self) -> FileLock:
        if self._fd is not None:
            raise FailedPrecondition(f"lock {self.path} is already held by this object")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        op = fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX
        try:
            if self.timeout is None:
                fcntl.flock(fd, op)
            else:
                self._poll(fd, op, self.timeout)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def _poll(self, fd: int, op: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        delay = _POLL_FIRST
        while True:
            try:
                fcntl.flock(fd, op | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                kind = "shared" if self.shared else "exclusive"
                raise Unavailable(
                    f"timed out after {timeout:g}s waiting for {kind} lock {self.path}"
                )
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, _POLL_MAX)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        # Closing the descriptor drops the flock; an explicit LOCK_UN first would also
        # release it for a forked child sharing the descriptor, which is not ours to decide.
        os.close(fd)

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __del__(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
