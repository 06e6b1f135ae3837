from __future__ import annotations

import multiprocessing
import sqlite3
import threading

import pytest

import minke.store.db as dbmod
from minke.errors import CorruptData, FailedPrecondition, Unavailable
from minke.store.db import Database
from minke.store.schema import MIGRATIONS


@pytest.fixture
def db(tmp_path):
    d = Database(str(tmp_path / "minke.db"))
    yield d
    d.close()


def add_image(db: Database, image_id: str, chain_id: str | None = None) -> None:
    db.execute(
        "INSERT INTO images (id, manifest_digest, manifest_media_type, added_at, chain_id)"
        " VALUES (?, ?, ?, 0, ?)",
        (image_id, "sha256:m" + image_id, "application/vnd.oci.image.manifest.v1+json", chain_id),
    )


def count(db: Database, table: str) -> int:
    row = db.query_one(f"SELECT count(*) FROM {table}")
    assert row is not None
    return int(row[0])


def test_fresh_store_is_migrated_with_wal_and_settings(db):
    assert db.version == len(MIGRATIONS)
    assert db.query_one("PRAGMA journal_mode")[0] == "wal"
    assert db.query_one("PRAGMA foreign_keys")[0] == 1
    assert db.query_one("PRAGMA busy_timeout")[0] == 30000
    tables = {r["name"] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"images", "tags", "repo_digests", "layers", "snapshots", "leases"} <= tables


def test_reopen_does_not_migrate(tmp_path, monkeypatch):
    path = str(tmp_path / "minke.db")
    Database(path).close()

    def boom(self):
        raise AssertionError("migration ran on an up-to-date store")

    monkeypatch.setattr(Database, "_migrate", boom)
    d = Database(path)
    assert d.version == len(MIGRATIONS)
    d.close()


def test_rows_are_sqlite_rows(db):
    add_image(db, "sha256:a")
    row = db.query_one("SELECT id, chain_id FROM images")
    assert isinstance(row, sqlite3.Row)
    assert row["id"] == "sha256:a" and row[0] == "sha256:a" and row["chain_id"] is None
    assert db.query_one("SELECT id FROM images WHERE id = 'nope'") is None
    assert [r["id"] for r in db.query("SELECT id FROM images")] == ["sha256:a"]


def test_foreign_keys_enforced(db):
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO tags (name, image_id) VALUES ('x:latest', 'sha256:missing')")


def test_transaction_commits(db):
    with db.transaction():
        add_image(db, "sha256:a")
        add_image(db, "sha256:b")
    assert count(db, "images") == 2


def test_transaction_rolls_back_on_exception(db):
    add_image(db, "sha256:keep")
    with pytest.raises(RuntimeError), db.transaction():
        add_image(db, "sha256:a")
        db.execute("DELETE FROM images WHERE id = 'sha256:keep'")
        raise RuntimeError("half way")
    assert [r[0] for r in db.query("SELECT id FROM images")] == ["sha256:keep"]
    assert not db.in_transaction
    # the connection is usable afterwards
    with db.transaction():
        add_image(db, "sha256:b")
    assert count(db, "images") == 2


def test_transaction_rolls_back_on_sql_error(db):
    with pytest.raises(sqlite3.IntegrityError), db.transaction():
        add_image(db, "sha256:a")
        add_image(db, "sha256:a")
    assert count(db, "images") == 0


def test_nested_savepoint_rolls_back_inner_only(db):
    with db.transaction():
        add_image(db, "sha256:outer")
        with pytest.raises(ValueError), db.transaction():
            add_image(db, "sha256:inner")
            raise ValueError("inner failed")
        with db.transaction():
            add_image(db, "sha256:inner2")
            with db.transaction():
                add_image(db, "sha256:deep")
    assert sorted(r[0] for r in db.query("SELECT id FROM images")) == [
        "sha256:deep",
        "sha256:inner2",
        "sha256:outer",
    ]


def test_outer_rollback_undoes_released_savepoints(db):
    with pytest.raises(KeyError), db.transaction():
        with db.transaction():
            add_image(db, "sha256:inner")
        raise KeyError("outer failed")
    assert count(db, "images") == 0


def test_begin_immediate_takes_write_lock(tmp_path):
    path = str(tmp_path / "minke.db")
    a = Database(path)
    b = Database(path, timeout=0.05)
    try:
        with a.transaction():
            # a holds the write lock before writing anything: b can neither begin nor write
            with pytest.raises(sqlite3.OperationalError, match="locked"), b.transaction():
                pass
            assert not b.in_transaction
            # but WAL lets b read meanwhile
            assert b.query_one("SELECT count(*) FROM images")[0] == 0
        with b.transaction():
            add_image(b, "sha256:b")
    finally:
        a.close()
        b.close()


def test_newer_schema_refused(tmp_path):
    path = str(tmp_path / "minke.db")
    Database(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(FailedPrecondition, match="newer than this minke"):
        Database(path)


def test_unopenable_path(tmp_path):
    with pytest.raises(Unavailable, match="cannot open database"):
        Database(str(tmp_path / "missing-dir" / "minke.db"))


def test_not_a_database(tmp_path):
    path = tmp_path / "minke.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CorruptData, match=f"database {path} is corrupt"):
        Database(str(path))
    assert path.read_bytes() == b"this is not sqlite" * 100


def test_failed_migration_is_atomic(tmp_path, monkeypatch):
    path = str(tmp_path / "minke.db")
    Database(path).close()
    broken = [*MIGRATIONS, "CREATE TABLE half (a);", "CREATE TABLE half (b);"]
    monkeypatch.setattr(dbmod, "MIGRATIONS", broken)
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        Database(path)
    monkeypatch.setattr(dbmod, "MIGRATIONS", MIGRATIONS)
    d = Database(path)
    assert d.version == len(MIGRATIONS)
    assert d.query_one("SELECT 1 FROM sqlite_master WHERE name = 'half'") is None
    d.close()


def test_new_migration_applied_once(tmp_path, monkeypatch):
    path = str(tmp_path / "minke.db")
    Database(path).close()
    monkeypatch.setattr(dbmod, "MIGRATIONS", [*MIGRATIONS, "CREATE TABLE extra (a); -- ; yes"])
    d = Database(path)
    assert d.version == len(MIGRATIONS) + 1
    d.close()
    Database(path).close()  # would fail with "table extra already exists" if re-run


def test_threads_share_a_database(db):
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                with db.transaction():
                    add_image(db, f"sha256:{n}-{i}")
                    with db.transaction():
                        db.execute(
                            "UPDATE images SET size = size + 1 WHERE id = ?", (f"sha256:{n}-{i}",)
                        )
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert count(db, "images") == 80
    assert db.query_one("SELECT sum(size) FROM images")[0] == 80


# --- several processes -------------------------------------------------------------------
def _open_and_write(path: str, n: int, barrier) -> None:
    barrier.wait()
    d = Database(path)
    for i in range(10):
        with d.transaction():
            row = d.query_one("SELECT count(*) FROM images")
            add_image(d, f"sha256:{n}-{i}-{row[0]}")
    d.close()


def test_concurrent_open_of_fresh_store_and_writes(tmp_path):
    path = str(tmp_path / "minke.db")
    ctx = multiprocessing.get_context("fork")
    nproc = 6
    barrier = ctx.Barrier(nproc)
    procs = [ctx.Process(target=_open_and_write, args=(path, n, barrier)) for n in range(nproc)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    d = Database(path)
    assert d.version == len(MIGRATIONS)
    assert count(d, "images") == nproc * 10
    # every read-then-write saw a distinct count: the transactions were serialised
    counts = sorted(int(r[0].rsplit("-", 1)[1]) for r in d.query("SELECT id FROM images"))
    assert counts == list(range(nproc * 10))
    d.close()


def test_commits_do_not_fsync_the_wal(tmp_path):
    # WAL + synchronous=NORMAL (1): consistent on a crash, no fsync per commit.
    db = Database(str(tmp_path / "minke.db"))
    assert db.query_one("PRAGMA journal_mode")[0].lower() == "wal"
    assert db.query_one("PRAGMA synchronous")[0] == 1
    db.close()
