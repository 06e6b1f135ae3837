"""Staging: what an operation that adds images (load, import, hello-whale) writes before
it records them, and how it is undone.

The operation holds a store lease (``minke.store.leases``) naming every blob and snapshot
it writes, so GC leaves them alone until the image rows make them live.  Blobs and
snapshots that did not exist before are remembered; ``rollback()`` deletes them again so a
failed operation leaves the store as it was (blobs that existed before are never touched).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from minke.errors import MinkeError
from minke.images.unpack import LayerRef, remove_snapshots, unpack_layers


class Staging:
    def __init__(self, service: Any, lease: Any) -> None:
        self.service = service
        self.blobs = service.blobs
        self.lease = lease
        self.new_blobs: list[str] = []
        self.new_snapshots: list[str] = []

    def _track(self, digest: str, existed: bool) -> None:
        if not existed and digest not in self.new_blobs:
            self.new_blobs.append(digest)

    def put(self, data: bytes, expected: str | None = None) -> str:
        from minke.images.model import sha256_of

        digest = sha256_of(data)
        self.lease.add_blob(digest)
        existed = self.blobs.exists(digest)
        if not existed:
            self.blobs.put(data, expected)
        self._track(digest, existed)
        return digest

    def ingest(self, stream: BinaryIO, expected_digest: str | None = None, expected_size: int | None = None) -> tuple[str, int]:
        """Copy a stream into the store (verified when a digest/size is expected)."""
        if expected_digest is not None:
            self.lease.add_blob(expected_digest)
        with self.blobs.writer(expected_digest=expected_digest, expected_size=expected_size) as w:
            while True:
                chunk = stream.read(1 << 20)
                if not chunk:
                    break
                w.write(chunk)
            digest = w.digest
            if expected_digest is None:
                self.lease.add_blob(digest)
            existed = self.blobs.exists(digest)
            w.commit()
            self._track(digest, existed)
            return digest, w.size

    def unpack(self, layers: list[LayerRef]) -> tuple[str | None, list[int]]:
        return unpack_layers(
            self.service.snapshots, self.blobs, layers, created=self.new_snapshots, lease=self.lease
        )

    def rollback(self) -> None:
        # A snapshot another operation leased meanwhile (it found ours and builds on it)
        # stays; GC takes it once nothing holds it.
        others = self._leased_by_others("snapshot")
        remove_snapshots(self.service.snapshots, [k for k in self.new_snapshots if k not in others])
        self.new_snapshots.clear()
        self.rollback_blobs_only()

    def _leased_by_others(self, kind: str) -> set[str]:
        rows = self.service.db.query(
            "SELECT ref FROM lease_resources WHERE kind = ? AND lease_id != ?", (kind, self.lease.id)
        )
        return {r["ref"] for r in rows}

    def rollback_blobs_only(self) -> None:
        """Delete the blobs this operation added that no image refers to."""
        live = self._live_blobs() | self._leased_by_others("blob")
        for digest in self.new_blobs:
            if digest in live:
                continue
            with contextlib.suppress(MinkeError, OSError):
                self.blobs.delete(digest)
        self.new_blobs.clear()

    def _live_blobs(self) -> set[str]:
        """Blobs images recorded meanwhile by someone else refer to directly (never delete)."""
        db = self.service.db
        live = {r["id"] for r in db.query("SELECT id FROM images")}
        live |= {r["manifest_digest"] for r in db.query("SELECT manifest_digest FROM images")}
        live |= {r["blob_digest"] for r in db.query("SELECT blob_digest FROM layers")}
        return live


@contextlib.contextmanager
def staging(service: Any) -> Iterator[Staging]:
    """Hold a lease for the block; on an exception undo what the block wrote."""
    from minke.store.leases import lease

    with lease(service.db, expires_in=24 * 3600) as held:
        st = Staging(service, held)
        try:
            yield st
        except BaseException:
            st.rollback()
            raise
