"""Unpack an image's layers into snapshots keyed by chain ID (CONTRACTS "Unpacking an image").

For each layer, top-most last: if the committed snapshot ``chain_id`` exists it is shared
and skipped; otherwise a temporary active snapshot is prepared on the parent chain, the
layer is applied into it while its uncompressed bytes are hashed, the hash is checked
against the config's diff_id, and the snapshot is committed under the chain ID with the
unpacked size as a label (the image Size is the sum of those).

Every snapshot this call commits is reported through ``created`` so a caller whose larger
operation fails (a load of several images) can remove them again and leave the store as it
was.  The caller holds a lease naming the chain IDs, so GC leaves them alone until the
image row that makes them live is written.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, BinaryIO

from minke.errors import AlreadyExists, CorruptData, MinkeError, NotFound
from minke.images.model import SIZE_LABEL, chain_ids


class HashingReader:
    """A read-only stream that hashes and counts what passes through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        if data:
            self.hash.update(data)
            self.size += len(data)
        return data

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        """Read to the end: tar readers stop at the end-of-archive blocks, the digest
        covers every byte."""
        while self.read(1 << 20):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


@dataclass(frozen=True)
class LayerRef:
    """A layer to unpack: its diff_id (from the config) and the blob holding it."""

    diff_id: str
    blob_digest: str


def snapshot_size(snapshots: Any, key: str) -> int:
    """The unpacked size recorded on a committed snapshot (falls back to measuring it)."""
    info = snapshots.stat(key)
    labels = info.labels or {}
    if isinstance(labels, str):
        labels = json.loads(labels or "{}")
    value = labels.get(SIZE_LABEL)
    if value is not None:
        try:
            return int(value)
        except ValueError:
            pass
    return int(snapshots.usage(key))


def _exists(snapshots: Any, key: str) -> bool:
    try:
        info = snapshots.stat(key)
    except NotFound:
        return False
    return info.kind == "committed"


def unpack_layers(
    snapshots: Any,
    blobs: Any,
    layers: list[LayerRef],
    *,
    created: list[str] | None = None,
    lease: Any = None,
) -> tuple[str | None, list[int]]:
    """Make sure a committed snapshot exists for every chain prefix of ``layers``.

    Returns (top chain ID or None, unpacked size of each layer).  Raises CorruptData when
    a layer's bytes do not hash to its diff_id; the temporary snapshot is removed then.
    """
    from minke.archive.compression import decompressed
    from minke.snapshots.apply import apply_to_mounts

    chains = chain_ids([layer.diff_id for layer in layers])
    sizes: list[int] = []
    parent: str | None = None
    for layer, chain in zip(layers, chains, strict=True):
        if lease is not None:
            lease.add_snapshot(chain)
        if _exists(snapshots, chain):
            sizes.append(snapshot_size(snapshots, chain))
            parent = chain
            continue
        key = f"extract-{os.getpid()}-{os.urandom(6).hex()}-{chain.split(':', 1)[1][:12]}"
        if lease is not None:
            lease.add_snapshot(key)
        mounts = snapshots.prepare(key, parent=parent)
        try:
            with blobs.open(layer.blob_digest) as f:
                reader = HashingReader(decompressed(f))
                written = apply_to_mounts(reader, mounts)
                reader.drain()
            if reader.digest != layer.diff_id:
                raise CorruptData(
                    f"layer {layer.blob_digest} does not match its diff_id: "
                    f"expected {layer.diff_id} got {reader.digest}"
                )
            try:
                snapshots.commit(chain, key, labels={SIZE_LABEL: str(written)})
            except AlreadyExists:
                # Another process unpacked the same layer meanwhile: theirs is as good.
                snapshots.remove(key)
            else:
                if created is not None:
                    created.append(chain)
        except BaseException:
            try:
                snapshots.remove(key)
            except MinkeError:
                pass
            raise
        sizes.append(snapshot_size(snapshots, chain))
        parent = chain
    return (chains[-1] if chains else None), sizes


def remove_snapshots(snapshots: Any, keys: list[str]) -> None:
    """Remove snapshots this operation created, top-most first (best effort)."""
    for key in reversed(keys):
        try:
            snapshots.remove(key)
        except MinkeError:
            pass
