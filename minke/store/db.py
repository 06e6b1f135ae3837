"""Database: the SQLite metadata store (images, tags, layers, snapshots, leases).

Every CLI call is a short process that opens the database, does its job and exits, and two
at once are normal.  So:

- **WAL** journal: readers never block the writer nor the writer readers.  The mode is
  persistent in the file, so it is set once, when the store is created.
- **synchronous NORMAL** (per connection): a commit appends to the WAL without an fsync;
  the WAL is synced at checkpoints.  Consistent after any crash; a power loss may undo
  the last commits (whose containers' leftovers the next commands reconcile).
- **busy timeout** 30 s: a second writer waits for the first instead of failing at once.
- **foreign keys** on (a per-connection setting in SQLite, so set on every open).
- **migrations** from ``minke.store.schema.MIGRATIONS``, version kept in
  ``PRAGMA user_version``.  Opening an up-to-date store only reads that number (about a
  millisecond).  Otherwise the pending migrations run under an exclusive ``FileLock`` on
  ``<path>.lock`` (so several processes opening a new store at once migrate it exactly
  once: the others wait, re-read the version and find nothing to do), all in one
  ``BEGIN IMMEDIATE`` transaction with the version bump, so a crash leaves either the old
  schema or the new one.  A store newer than this code raises ``FailedPrecondition``.
- **transactions** are explicit: the connection is in autocommit mode (Python's implicit
  BEGIN is off) and ``transaction()`` issues ``BEGIN IMMEDIATE`` — taking the write lock up
  front, so a read-then-write transaction can never fail half-way with SQLITE_BUSY on lock
  upgrade.  Nested ``transaction()`` blocks are savepoints: an exception rolls back that
  block only (and propagates; the outer block decides what to do).  A single ``execute``
  outside a transaction commits on its own.
- rows are ``sqlite3.Row`` (index by name or position).
- a path that cannot be opened raises ``Unavailable``, a file that is not an SQLite
  database ``CorruptData``; errors from statements are sqlite3's own (IntegrityError for a
  broken constraint), for the caller to translate where it knows what the row means.

One Database object may be shared by threads: a re-entrant lock serialises statements, and
a thread inside ``transaction()`` holds it until the transaction ends, so another thread's
statements never land inside someone else's transaction.  Do not use it across ``fork``;
open a new one in the child.
"""

from __future__ import annotations

from _thread import RLock  # threading's RLock is this one; threading's import is not needed

from minke.errors import CorruptData, FailedPrecondition, Unavailable
from minke.store.schema import MIGRATIONS
from minke.store.sqlite import sqlite3  # the C module, without functools: see there

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing: for mypy only (its import costs a short command ~5 ms)
    from collections.abc import Iterable, Sequence
    from typing import Any

    Params = Sequence[Any] | dict[str, Any]

BUSY_TIMEOUT_SECONDS = 30.0


class Database:
    def __init__(self, path: str, *, timeout: float = BUSY_TIMEOUT_SECONDS) -> None:
        self.path = path
        # isolation_level=None: no implicit BEGIN; we issue BEGIN IMMEDIATE ourselves.
        # check_same_thread=False: our own lock below makes sharing between threads safe.
        # timeout= is sqlite3_busy_timeout, the same thing as PRAGMA busy_timeout.
        try:
            conn = sqlite3.connect(
                path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.OperationalError as e:
            raise Unavailable(f"cannot open database {path}: {e}") from None
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.DatabaseError as e:
                if isinstance(e, sqlite3.OperationalError):
                    raise  # busy past the timeout, I/O error: not the file's fault
                raise CorruptData(f"database {path} is corrupt: {e}") from None
            # WAL with synchronous=NORMAL: a commit appends to the WAL without an fsync
            # (the WAL is synced at each checkpoint).  The database stays consistent on
            # any crash; a power loss may undo the last commits.  FULL (the default)
            # cost every write ~1 ms, six to eight of them in a `run --rm`.
            conn.execute("PRAGMA synchronous = NORMAL")
            self._conn = conn
            if version != len(MIGRATIONS):
                self._migrate()
        except BaseException:
            conn.close()
            raise
        self._lock = RLock()
        self._depth = 0

    # --- schema ------------------------------------------------------------------------
    @property
    def version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        from minke.store.locks import FileLock

        conn = self._conn
        with FileLock(self.path + ".lock"):
            # Re-read under the lock: another process may have migrated while we waited.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            target = len(MIGRATIONS)
            if version > target:
                raise FailedPrecondition(
                    f"database {self.path} has schema version {version}, newer than this minke "
                    f"understands ({target}); upgrade minke"
                )
            if version == target:
                return
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            # executescript runs the statements as written, with no implicit transaction
            # handling of its own (we are in autocommit mode), so BEGIN ... COMMIT here makes
            # every pending migration and the version bump one atomic change.
            script = "".join(f"{MIGRATIONS[i]}\n;\n" for i in range(version, target))
            try:
                conn.executescript(
                    f"BEGIN IMMEDIATE;\n{script}PRAGMA user_version = {target};\nCOMMIT;"
                )
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    # --- statements --------------------------------------------------------------------
    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.executemany(sql, rows)

    def query(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
            return row

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def transaction(self) -> _Transaction:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on exception); nested: a savepoint."""
        return _Transaction(self)

    # --- lifetime ----------------------------------------------------------------------
    def close(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            self._conn = None  # type: ignore[assignment]
            conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Transaction:
    """``Database.transaction()``'s block (a class: contextlib's import, with collections,
    would cost every short command ~1 ms).  The database's lock is held throughout."""

    __slots__ = ("db", "depth", "name")

    def __init__(self, db: Database) -> None:
        self.db = db
        self.depth = 0
        self.name = ""

    def __enter__(self) -> Database:
        db = self.db
        db._lock.acquire()
        try:
            depth = self.depth = db._depth
            if depth == 0:
                db._conn.execute("BEGIN IMMEDIATE")
            else:
                self.name = f"minke_sp{depth}"
                db._conn.execute(f"SAVEPOINT {self.name}")
            db._depth = depth + 1
        except BaseException:
            db._lock.release()
            raise
        return db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool:
        db, depth, name = self.db, self.depth, self.name
        conn = db._conn
        try:
            db._depth = depth
            if depth == 0:
                if exc_type is not None:
                    # SQLite rolls back by itself on some errors (SQLITE_FULL, IOERR).
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    return False
                try:
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            elif exc_type is not None:
                if conn.in_transaction:
                    # ROLLBACK TO undoes the block but keeps the savepoint open; RELEASE
                    # then drops it so the outer transaction goes on as before the block.
                    conn.execute(f"ROLLBACK TO {name}")
                    conn.execute(f"RELEASE {name}")
            else:
                conn.execute(f"RELEASE {name}")
        finally:
            db._lock.release()
        return False
