"""The store survives a writer killed with SIGKILL: no blob published, no lock left held.

Real processes on the real filesystem; each test kills only the child it started.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import sqlite3
import time

import pytest

from minke.store.blobs import BlobStore
from minke.store.db import Database
from minke.store.gc import collect
from minke.store.leases import lease
from minke.store.locks import FileLock

pytestmark = pytest.mark.root

CTX = multiprocessing.get_context("fork")


def _kill(p) -> None:
    os.kill(p.pid, signal.SIGKILL)
    p.join(10)
    assert p.exitcode == -signal.SIGKILL


def _ingest_from_pipe(root: str, rfd: int) -> None:
    store = BlobStore(root)
    with os.fdopen(rfd, "rb", buffering=0) as stream:
        store.ingest(stream)


def test_writer_killed_mid_blob_publishes_nothing(tmp_path):
    root = str(tmp_path / "blobs")
    store = BlobStore(root)
    rfd, wfd = os.pipe()
    p = CTX.Process(target=_ingest_from_pipe, args=(root, rfd))
    p.start()
    os.close(rfd)
    try:
        os.write(wfd, b"x" * 65536)
        # wait until the child has the bytes in its temp file
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            temps = os.listdir(store.ingest_dir)
            if temps and os.path.getsize(os.path.join(store.ingest_dir, temps[0])) == 65536:
                break
            time.sleep(0.01)
        else:
            pytest.fail("the writer never wrote its temp file")
        _kill(p)
    finally:
        os.close(wfd)
        if p.is_alive():
            _kill(p)
    assert list(store.walk()) == []
    assert len(os.listdir(store.ingest_dir)) == 1
    # a fresh temp is left for an hour (its writer might be alive), then GC takes it
    assert store.clean_ingest() == 0
    assert store.clean_ingest(older_than=0) == 65536
    assert os.listdir(store.ingest_dir) == []


def _hold_transaction(path: str, ready) -> None:
    db = Database(path)
    with db.transaction():
        db.execute(
            "INSERT INTO images (id, manifest_digest, manifest_media_type, added_at)"
            " VALUES ('sha256:half', 'sha256:m', 'x', 0)"
        )
        ready.set()
        time.sleep(60)


def test_process_killed_in_transaction_leaves_nothing_and_no_lock(tmp_path):
    path = str(tmp_path / "minke.db")
    Database(path).close()
    ready = CTX.Event()
    p = CTX.Process(target=_hold_transaction, args=(path, ready))
    p.start()
    try:
        assert ready.wait(10)
        blocked = Database(path, timeout=0.05)
        with pytest.raises(sqlite3.OperationalError, match="locked"), blocked.transaction():
            pass
        blocked.close()
        _kill(p)
    finally:
        if p.is_alive():
            _kill(p)
    db = Database(path, timeout=1)
    assert db.query("SELECT id FROM images") == []
    with db.transaction():  # the write lock died with the process
        db.execute(
            "INSERT INTO images (id, manifest_digest, manifest_media_type, added_at)"
            " VALUES ('sha256:whole', 'sha256:m', 'x', 0)"
        )
    assert [r[0] for r in db.query("SELECT id FROM images")] == ["sha256:whole"]
    db.close()


def _lease_and_die(path: str, root: str, ready) -> None:
    db = Database(path)
    blobs = BlobStore(root)
    with lease(db, expires_in=1) as held, FileLock(path + ".pull"):
        d = "sha256:" + hashlib.sha256(b"pulled").hexdigest()
        held.add_blob(d)
        blobs.put(b"pulled", expected=d)
        ready.set()
        time.sleep(60)


def test_lease_of_killed_process_expires(tmp_path):
    path = str(tmp_path / "minke.db")
    root = str(tmp_path / "blobs")
    Database(path).close()
    ready = CTX.Event()
    p = CTX.Process(target=_lease_and_die, args=(path, root, ready))
    p.start()
    try:
        assert ready.wait(10)
        db = Database(path)
        blobs = BlobStore(root)
        assert collect(db, blobs, None)["BlobsDeleted"] == 0  # leased: kept
        _kill(p)
    finally:
        if p.is_alive():
            _kill(p)
    with FileLock(path + ".pull", timeout=0):  # its flock went with it
        pass
    # the lease row outlived the process; once expired GC ignores it
    assert db.query_one("SELECT count(*) FROM leases")[0] == 1
    result = collect(db, blobs, None, now=time.time() + 2)
    assert result["BlobsDeleted"] == 1
    assert db.query_one("SELECT count(*) FROM leases")[0] == 0
    db.close()
