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
import io
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


def _apply_blob(blobs: Any, layer: LayerRef, apply: Any) -> int:
    """Decompress and apply one layer blob with ``apply(stream)``; check its diff_id."""
    with blobs.open(layer.blob_digest) as f:
        reader = HashingReader(_decompressed(f))
        written = int(apply(reader))
        reader.drain()
    if reader.digest != layer.diff_id:
        raise CorruptData(
            f"layer {layer.blob_digest} does not match its diff_id: "
            f"expected {layer.diff_id} got {reader.digest}"
        )
    return written


class _GuardedGzip(io.RawIOBase):
    """ISA-L's gzip reader with its errors turned into CorruptData, as
    ``minke.archive.compression`` does for the stdlib's."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        try:
            n = int(self._inner.readinto(buf))
        except Exception as e:  # isal_zlib.error, EOFError, BadGzipFile
            raise CorruptData(f"invalid gzip stream: {e or type(e).__name__}") from None
        return n

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


def _decompressed(f: Any) -> Any:
    """The layer's tar stream.  gzip goes through ISA-L (python-isal) when it is
    installed: about twice as fast as zlib here, and gzip inflate is a quarter of
    a pull's CPU time.  Anything else, or without isal, through the stdlib."""
    from minke.archive.compression import decompressed

    if hasattr(f, "peek") and f.peek(2)[:2] == b"\x1f\x8b":
        try:
            from isal import igzip
        except ImportError:
            return decompressed(f)
        return io.BufferedReader(_GuardedGzip(igzip.GzipFile(fileobj=f, mode="rb")), 1 << 16)
    return decompressed(f)


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
    parallel (``workers`` forked processes, default 2), each into its own scratch directory, and
    committed in chain order by renaming the directory into a snapshot prepared on its
    parent.  Snapshot metadata is only touched from the calling thread.
    """
    chains = chain_ids([layer.diff_id for layer in layers])
    missing = [i for i, c in enumerate(chains) if not _exists(snapshots, c)]
    parallel = (getattr(snapshots, "name", "") == "overlay" and len(missing) > 1
                and missing == list(range(missing[0], len(chains))) and (workers is None or workers > 1))
    if parallel:
        return _unpack_parallel(snapshots, blobs, layers, chains, missing[0], created=created, lease=lease,
                                workers=workers or max(2, min(4, os.cpu_count() or 1)))
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


class _Worker:
    """One layer applied in a forked child, so that the Python work of tar parsing runs
    on another core (threads share one interpreter lock; the kernel work of creating
    files is the other half, and overlaps either way).  The child touches only its target
    directory and the blob, and reports ``{"written": n}`` or the error on a pipe."""

    def __init__(self, blobs: Any, layer: LayerRef, target: str, whiteouts: str) -> None:
        from minke.archive.apply import apply_layer

        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 1
            try:
                os.close(r)
                try:
                    n = _apply_blob(blobs, layer, lambda s: apply_layer(s, target, whiteouts=whiteouts))
                    msg: dict[str, Any] = {"written": n}
                    code = 0
                except BaseException as e:  # reported to the parent, which raises it
                    msg = {"error": type(e).__name__, "message": str(e),
                           "errno": getattr(e, "errno", None), "minke": isinstance(e, MinkeError)}
                os.write(w, json.dumps(msg).encode())
            finally:
                os._exit(code)
        os.close(w)
        self.pid, self.fd, self.layer = pid, r, layer

    def result(self) -> int:
        chunks = []
        while chunk := os.read(self.fd, 65536):
            chunks.append(chunk)
        # Interrupted before here, the caller's kill() ends the child.
        os.close(self.fd)
        self.fd = -1
        os.waitpid(self.pid, 0)
        self.pid = 0
        if not chunks:
            raise CorruptData(f"unpacking layer {self.layer.blob_digest} failed: its worker died")
        msg = json.loads(b"".join(chunks))
        if "written" in msg:
            return int(msg["written"])
        if msg["minke"]:
            import minke.errors

            cls = getattr(minke.errors, msg["error"], MinkeError)
            raise cls(msg["message"])
        if msg["errno"] is not None:
            raise OSError(msg["errno"], msg["message"])
        raise CorruptData(f"unpacking layer {self.layer.blob_digest} failed: {msg['error']}: {msg['message']}")

    def kill(self) -> None:
        import signal

        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self.pid, 0)
            self.pid = 0
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _target(mounts: list[Any]) -> tuple[str, str]:
    """Where and how apply_to_mounts would apply into a freshly prepared snapshot."""
    (m,) = mounts
    if m.type == "overlay":
        upper = m.option("upperdir")
        assert upper is not None  # an active snapshot
        return upper, "overlay"
    return m.source, "native"


def _unpack_parallel(snapshots: Any, blobs: Any, layers: list[LayerRef], chains: list[str], first: int, *,
                     created: list[str] | None, lease: Any, workers: int) -> tuple[str | None, list[int]]:
    """Layers ``first``.. are missing and ``first - 1`` (if any) is committed."""
    import contextlib
    import shutil

    import minke.archive.apply  # noqa: F401  (imported before fork: children import nothing)
    import minke.archive.compression  # noqa: F401

    with contextlib.suppress(ImportError):
        import isal.igzip  # noqa: F401

    sizes = [snapshot_size(snapshots, c) for c in chains[:first]]
    if lease is not None:
        for c in chains:
            lease.add_snapshot(c)
    keys: dict[int, str] = {}  # prepared, not yet committed
    scratch: dict[int, str] = {}  # scratch directories not yet renamed into a snapshot
    running: dict[int, _Worker] = {}
    targets: dict[int, tuple[str, str]] = {}
    started = first

    def start_more(upto: int) -> None:
        nonlocal started
        while started < min(upto, len(layers)):
            target, mode = targets[started]
            running[started] = _Worker(blobs, layers[started], target, mode)
            started += 1

    try:
        # The bottom missing layer goes straight into its snapshot (its parent exists).
        key = keys[first] = _new_key(chains[first])
        if lease is not None:
            lease.add_snapshot(key)
        targets[first] = _target(snapshots.prepare(key, parent=chains[first - 1] if first else None))
        for i in range(first + 1, len(layers)):
            # Scratch directories sit in the snapshotter's root (same filesystem, so the
            # rename is atomic) under the "trash-" prefix that remove() leaves behind, so a
            # crash leaves nothing that looks like a layer.
            d = scratch[i] = os.path.join(snapshots.root, f"trash-extract-{os.getpid()}-{os.urandom(6).hex()}")
            os.mkdir(d, 0o755)
            targets[i] = (d, "overlay")
        for i in range(first, len(layers)):
            start_more(i + workers)
            written = running[i].result()
            del running[i]
            if i != first:
                key = keys[i] = _new_key(chains[i])
                if lease is not None:
                    lease.add_snapshot(key)
                upper, _ = _target(snapshots.prepare(key, parent=chains[i - 1]))
                os.rmdir(upper)  # empty: made by prepare
                os.rename(scratch.pop(i), upper)
            _commit(snapshots, chains[i], keys.pop(i), written, created)
            sizes.append(snapshot_size(snapshots, chains[i]))
    except BaseException:
        for w in running.values():
            w.kill()
        for key in keys.values():
            try:
                snapshots.remove(key)
            except MinkeError:
                pass
        for d in scratch.values():
            shutil.rmtree(d, ignore_errors=True)
        raise
    return chains[-1], sizes


def remove_snapshots(snapshots: Any, keys: list[str]) -> None:
    """Remove snapshots this operation created, top-most first (best effort)."""
    for key in reversed(keys):
        try:
            snapshots.remove(key)
        except MinkeError:
            pass
