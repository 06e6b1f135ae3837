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
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

from minke.errors import AlreadyExists, CorruptData, MinkeError, NotFound
from minke.images.model import SIZE_LABEL, chain_ids


class HashingReader:
    """A read-only stream that hashes and counts what passes through it.

    ``cancel``, when given, is an Event that makes the next read raise: a layer applied
    in a worker thread stops soon after another layer of the same pull failed."""

    def __init__(self, raw: BinaryIO, cancel: threading.Event | None = None) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()
        self.size = 0
        self.cancel = cancel

    def read(self, n: int = -1) -> bytes:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("layer unpack cancelled")
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


class Cancelled(MinkeError):
    """A worker's layer was abandoned because another layer of the operation failed."""


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


def _apply_blob(blobs: Any, layer: LayerRef, apply: Any, cancel: threading.Event | None = None) -> int:
    """Decompress and apply one layer blob with ``apply(stream)``; check its diff_id."""
    from minke.archive.compression import decompressed

    with blobs.open(layer.blob_digest) as f:
        reader = HashingReader(decompressed(f), cancel)
        written = int(apply(reader))
        reader.drain()
    if reader.digest != layer.diff_id:
        raise CorruptData(
            f"layer {layer.blob_digest} does not match its diff_id: "
            f"expected {layer.diff_id} got {reader.digest}"
        )
    return written


def _commit(snapshots: Any, chain: str, key: str, written: int, created: list[str] | None) -> None:
    try:
        snapshots.commit(chain, key, labels={SIZE_LABEL: str(written)})
    except AlreadyExists:
        # Another process unpacked the same layer meanwhile: theirs is as good.
        snapshots.remove(key)
    else:
        if created is not None:
            created.append(chain)


def _new_key(chain: str) -> str:
    return f"extract-{os.getpid()}-{os.urandom(6).hex()}-{chain.split(':', 1)[1][:12]}"


def unpack_layers(
    snapshots: Any,
    blobs: Any,
    layers: list[LayerRef],
    *,
    created: list[str] | None = None,
    lease: Any = None,
    workers: int | None = None,
) -> tuple[str | None, list[int]]:
    """Make sure a committed snapshot exists for every chain prefix of ``layers``.

    Returns (top chain ID or None, unpacked size of each layer).  Raises CorruptData when
    a layer's bytes do not hash to its diff_id; the temporary snapshot is removed then.

    On the overlay snapshotter a layer's directory does not depend on its parent's
    content (whiteouts are recorded, not applied), so the missing layers are applied in
    parallel (``workers`` threads, default 3), each into its own scratch directory, and
    committed in chain order by renaming the directory into a snapshot prepared on its
    parent.  Snapshot metadata is only touched from the calling thread.
    """
    chains = chain_ids([layer.diff_id for layer in layers])
    missing = [i for i, c in enumerate(chains) if not _exists(snapshots, c)]
    parallel = (getattr(snapshots, "name", "") == "overlay" and len(missing) > 1
                and missing == list(range(missing[0], len(chains))) and (workers is None or workers > 1))
    if parallel:
        return _unpack_parallel(snapshots, blobs, layers, chains, missing[0], created=created, lease=lease,
                                workers=workers or 3)
    from minke.snapshots.apply import apply_to_mounts

    sizes: list[int] = []
    parent: str | None = None
    for layer, chain in zip(layers, chains, strict=True):
        if lease is not None:
            lease.add_snapshot(chain)
        if _exists(snapshots, chain):
            sizes.append(snapshot_size(snapshots, chain))
            parent = chain
            continue
        key = _new_key(chain)
        if lease is not None:
            lease.add_snapshot(key)
        mounts = snapshots.prepare(key, parent=parent)
        try:
            written = _apply_blob(blobs, layer, lambda r, m=mounts: apply_to_mounts(r, m))
            _commit(snapshots, chain, key, written, created)
        except BaseException:
            try:
                snapshots.remove(key)
            except MinkeError:
                pass
            raise
        sizes.append(snapshot_size(snapshots, chain))
        parent = chain
    return (chains[-1] if chains else None), sizes


def _unpack_parallel(snapshots: Any, blobs: Any, layers: list[LayerRef], chains: list[str], first: int, *,
                     created: list[str] | None, lease: Any, workers: int) -> tuple[str | None, list[int]]:
    """Layers ``first``.. are missing and ``first - 1`` (if any) is committed."""
    import shutil

    from minke.archive.apply import apply_layer
    from minke.snapshots.apply import apply_to_mounts

    sizes = [snapshot_size(snapshots, c) for c in chains[:first]]
    if lease is not None:
        for c in chains:
            lease.add_snapshot(c)
    cancel = threading.Event()
    keys: dict[int, str] = {}  # prepared, not yet committed
    scratch: dict[int, str] = {}  # scratch directories not yet renamed into a snapshot
    futures: dict[int, Future[int]] = {}
    pool = ThreadPoolExecutor(min(workers, len(layers) - first), thread_name_prefix="unpack")
    try:
        # The bottom missing layer goes straight into its snapshot (its parent exists).
        key = keys[first] = _new_key(chains[first])
        if lease is not None:
            lease.add_snapshot(key)
        mounts = snapshots.prepare(key, parent=chains[first - 1] if first else None)
        futures[first] = pool.submit(_apply_blob, blobs, layers[first],
                                     lambda r: apply_to_mounts(r, mounts), cancel)
        for i in range(first + 1, len(layers)):
            # Scratch directories sit in the snapshotter's root (same filesystem, so the
            # rename is atomic) under the "trash-" prefix that remove() leaves behind, so a
            # crash leaves nothing that looks like a layer.
            d = scratch[i] = os.path.join(snapshots.root, f"trash-extract-{os.getpid()}-{os.urandom(6).hex()}")
            os.mkdir(d, 0o755)
            futures[i] = pool.submit(_apply_blob, blobs, layers[i],
                                     lambda r, d=d: apply_layer(r, d, whiteouts="overlay"), cancel)
        for i in range(first, len(layers)):
            written = futures[i].result()
            if i != first:
                key = keys[i] = _new_key(chains[i])
                if lease is not None:
                    lease.add_snapshot(key)
                (m,) = snapshots.prepare(key, parent=chains[i - 1])
                upper = m.option("upperdir")
                assert upper is not None  # an active overlay snapshot with a parent
                os.rmdir(upper)  # empty: made by prepare
                os.rename(scratch.pop(i), upper)
            _commit(snapshots, chains[i], keys.pop(i), written, created)
            sizes.append(snapshot_size(snapshots, chains[i]))
    except BaseException:
        cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        for key in keys.values():
            try:
                snapshots.remove(key)
            except MinkeError:
                pass
        for d in scratch.values():
            shutil.rmtree(d, ignore_errors=True)
        raise
    finally:
        pool.shutdown(wait=True)
    return chains[-1], sizes


def remove_snapshots(snapshots: Any, keys: list[str]) -> None:
    """Remove snapshots this operation created, top-most first (best effort)."""
    for key in reversed(keys):
        try:
            snapshots.remove(key)
        except MinkeError:
            pass
