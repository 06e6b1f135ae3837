from __future__ import annotations

import multiprocessing
import time

import pytest

from minke.errors import FailedPrecondition, Unavailable
from minke.store.locks import FileLock


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "x.lock")


def test_exclusive_excludes(path):
    with FileLock(path) as a:
        assert a.locked
        with pytest.raises(Unavailable, match=f"exclusive lock {path}"):
            FileLock(path, timeout=0).acquire()
        with pytest.raises(Unavailable, match="shared lock"):
            FileLock(path, shared=True, timeout=0).acquire()
    assert not a.locked
    with FileLock(path, timeout=0):
        pass


def test_shared_locks_coexist_and_block_exclusive(path):
    with FileLock(path, shared=True), FileLock(path, shared=True, timeout=0):
        with pytest.raises(Unavailable):
            FileLock(path, timeout=0).acquire()


def test_timeout_waits(path):
    with FileLock(path):
        start = time.monotonic()
        with pytest.raises(Unavailable, match="timed out after 0.2s"):
            FileLock(path, timeout=0.2).acquire()
        assert time.monotonic() - start >= 0.2


def test_not_reentrant_on_one_object(path):
    lock = FileLock(path)
    with lock:
        with pytest.raises(FailedPrecondition):
            lock.acquire()
    lock.release()  # releasing an unheld lock is harmless


def _hold(path: str, ready, done) -> None:
    with FileLock(path):
        ready.set()
        done.wait(10)


def test_excludes_other_processes_and_waits_for_them(path):
    ctx = multiprocessing.get_context("fork")
    ready, done = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold, args=(path, ready, done))
    p.start()
    try:
        assert ready.wait(10)
        with pytest.raises(Unavailable):
            FileLock(path, timeout=0.05).acquire()
        done.set()
        with FileLock(path, timeout=10):
            pass
    finally:
        done.set()
        p.join(10)
    assert p.exitcode == 0


def _die_holding(path: str, ready) -> None:
    lock = FileLock(path).acquire()
    ready.set()
    import os

    os._exit(0)  # no release: the kernel drops the lock with the process
    del lock


def test_lock_released_when_holder_dies(path):
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    p = ctx.Process(target=_die_holding, args=(path, ready))
    p.start()
    assert ready.wait(10)
    p.join(10)
    with FileLock(path, timeout=5):
        pass
