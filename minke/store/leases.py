"""Leases: protect blobs and snapshots an operation is still writing from garbage collection.

A pull writes layer blobs and snapshots one by one and only records the image (which is
what makes them live) at the end.  A GC running in another process in between would see
them unreferenced and delete them.  So the operation holds a lease::

    with lease(db, expires_in=3600) as l:
        l.add_blob(digest)          # before writing the blob
        blobs.ingest(stream, digest)
        l.add_snapshot(chain_id)    # before checking whether the snapshot exists
        ...
        with db.transaction():
            ...record the image...  # now the image keeps them live
    # the lease rows are gone

Rules that make this race-free against ``minke.store.gc.collect``:

- add a resource to the lease *before* creating it or relying on its existence; GC decides
  under the database write lock, so it sees either the lease or no resource;
- the lease row and each resource row are committed at once (outside any transaction the
  caller has open they are their own transaction); inside a caller's ``transaction()``
  they become visible to GC only when that transaction commits — so take the lease first;
- ``expires_in`` (seconds) bounds how long a crashed process can pin garbage: GC ignores
  (and deletes) expired leases.  ``None`` means until the lease is released.  A lease
  that is left behind by SIGKILL without expiry pins its resources until removed with
  ``delete_lease``.

``resources`` may be given up front as ``(kind, ref)`` pairs, kind ``"blob"`` or
``"snapshot"``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from minke.errors import InvalidArgument
from minke.store.db import Database

KINDS = ("blob", "snapshot")


class Lease:
    """A held lease; add what it protects.  Made by ``lease()``."""

    def __init__(self, db: Database, lease_id: str) -> None:
        self.db = db
        self.id = lease_id

    def add(self, kind: str, ref: str) -> None:
        if kind not in KINDS:
            raise InvalidArgument(f"invalid lease resource kind {kind!r}: want blob or snapshot")
        if not ref:
            raise InvalidArgument(f"invalid lease resource: empty {kind} reference")
        self.db.execute(
            "INSERT OR IGNORE INTO lease_resources (lease_id, kind, ref) VALUES (?, ?, ?)",
            (self.id, kind, ref),
        )

    def add_blob(self, digest: str) -> None:
        self.add("blob", digest)

    def add_snapshot(self, key: str) -> None:
        self.add("snapshot", key)

    def resources(self) -> list[tuple[str, str]]:
        rows = self.db.query(
            "SELECT kind, ref FROM lease_resources WHERE lease_id = ? ORDER BY kind, ref",
            (self.id,),
        )
        return [(r["kind"], r["ref"]) for r in rows]


def create_lease(
    db: Database,
    resources: Iterable[tuple[str, str]] = (),
    *,
    expires_in: float | None = None,
    lease_id: str | None = None,
) -> Lease:
    """Record a lease (and its first resources) in one transaction; return it."""
    if expires_in is not None and expires_in <= 0:
        raise InvalidArgument(f"invalid lease expiry {expires_in}: must be positive seconds")
    now = time.time()
    lid = lease_id or f"{os.getpid()}-{os.urandom(8).hex()}"
    held = Lease(db, lid)
    with db.transaction():
        db.execute(
            "INSERT INTO leases (id, created, expires) VALUES (?, ?, ?)",
            (lid, now, None if expires_in is None else now + expires_in),
        )
        for kind, ref in resources:
            held.add(kind, ref)
    return held


def delete_lease(db: Database, lease_id: str) -> None:
    """Drop a lease and (by ON DELETE CASCADE) its resources.  Missing is not an error."""
    db.execute("DELETE FROM leases WHERE id = ?", (lease_id,))


@contextmanager
def lease(
    db: Database,
    resources: Iterable[tuple[str, str]] = (),
    *,
    expires_in: float | None = None,
    lease_id: str | None = None,
) -> Iterator[Lease]:
    """Hold a lease for the duration of the block; its rows are removed on exit."""
    held = create_lease(db, resources, expires_in=expires_in, lease_id=lease_id)
    try:
        yield held
    finally:
        delete_lease(db, held.id)


def purge_expired(db: Database, now: float | None = None) -> int:
    """Delete expired leases; return how many."""
    cur = db.execute(
        "DELETE FROM leases WHERE expires IS NOT NULL AND expires <= ?",
        (time.time() if now is None else now,),
    )
    return cur.rowcount
