from __future__ import annotations

import time

import pytest

from minke.errors import InvalidArgument
from minke.store.db import Database
from minke.store.leases import create_lease, delete_lease, lease, purge_expired


@pytest.fixture
def db(tmp_path):
    d = Database(str(tmp_path / "minke.db"))
    yield d
    d.close()


def rows(db, table):
    return db.query_one(f"SELECT count(*) FROM {table}")[0]


def test_lease_records_and_removes(db):
    with lease(db, [("blob", "sha256:aa")]) as held:
        held.add_blob("sha256:bb")
        held.add_snapshot("chain1")
        held.add_blob("sha256:bb")  # twice is once
        assert held.resources() == [
            ("blob", "sha256:aa"),
            ("blob", "sha256:bb"),
            ("snapshot", "chain1"),
        ]
        row = db.query_one("SELECT expires FROM leases WHERE id = ?", (held.id,))
        assert row is not None and row["expires"] is None
    assert rows(db, "leases") == 0
    assert rows(db, "lease_resources") == 0


def test_lease_removed_on_exception(db):
    with pytest.raises(RuntimeError), lease(db) as held:
        held.add_blob("sha256:aa")
        raise RuntimeError("pull failed")
    assert rows(db, "leases") == 0
    assert rows(db, "lease_resources") == 0


def test_expiry(db):
    before = time.time()
    with lease(db, expires_in=60) as held:
        expires = db.query_one("SELECT expires FROM leases WHERE id = ?", (held.id,))["expires"]
        assert before + 60 <= expires <= time.time() + 60
        assert purge_expired(db) == 0
        assert purge_expired(db, now=expires + 1) == 1
        assert rows(db, "lease_resources") == 0


def test_bad_input(db):
    with pytest.raises(InvalidArgument, match="lease expiry"):
        create_lease(db, expires_in=0)
    with lease(db) as held:
        with pytest.raises(InvalidArgument, match="kind 'volume'"):
            held.add("volume", "x")
        with pytest.raises(InvalidArgument, match="empty blob"):
            held.add_blob("")
    # a bad resource given up front leaves no lease behind
    with pytest.raises(InvalidArgument):
        create_lease(db, [("blob", "sha256:aa"), ("nope", "x")])
    assert rows(db, "leases") == 0


def test_named_lease_and_delete(db):
    held = create_lease(db, [("snapshot", "k")], lease_id="pull-1")
    assert held.id == "pull-1"
    delete_lease(db, "pull-1")
    delete_lease(db, "pull-1")
    assert rows(db, "lease_resources") == 0
