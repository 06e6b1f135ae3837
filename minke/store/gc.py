"""Garbage collection: remove the blobs and snapshots nothing references.

What is live:

- **blobs**: for every image, its manifest (``images.manifest_digest``), the digests in its
  repo digests (``name@sha256:...``: the manifest or index it was pulled by), its config
  (``images.id``); for each of those manifests its config and layer blobs, for each index
  (OCI image index, Docker manifest list) its child manifests, recursively; every
  ``layers`` row whose ``diff_id`` is in a live config's ``rootfs.diff_ids`` (the same
  layer in another compression); and every blob held by an unexpired lease.
- **snapshots**: every ``images.chain_id``, every snapshot of kind ``active`` or ``view``
  (containers' writable layers and read-only views), every ``containers.snapshot_key``,
  every leased snapshot, and all of their ancestors.

Everything else is deleted: snapshots children-first (a parent is removed only after its
children), then blobs; ``layers`` rows naming a deleted blob go with it, and expired
leases and temp files older than an hour in the blob store's ``ingest/`` are removed.
Returns ``{"BlobsDeleted": n, "SnapshotsDeleted": n, "SpaceReclaimed": bytes}``.

Manifests and indexes are read with ``minke.oci.image.parse_any``; what it refuses (an
unknown media type, a schema 1 manifest, a document it finds malformed) is read again as
plain JSON for any digests it names, so a stricter model never makes GC drop a blob.  Only blobs
reached as manifests, indexes or configs are parsed, never layers, and none bigger than
4 MiB (registries refuse larger manifests).

Concurrency: decisions are made inside ``db.transaction()`` (the database write lock), and
each deletion re-checks under the lock that nothing took a reference meanwhile, so a
writer that takes a lease *before* it creates or relies on a blob or snapshot (see
``minke.store.leases``) never loses it.  The snapshotter must share ``db`` (the Engine
passes the same object), since its ``remove`` runs inside GC's transaction.

The snapshotter is anything with ``walk()`` (yielding objects with ``.key``, ``.parent``,
``.kind``), ``remove(key)`` (raising ``FailedPrecondition`` if the snapshot has children
or is in use: GC then leaves it) and ``usage(key)``; it may be None (blobs only).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from minke.errors import Conflict, FailedPrecondition, MinkeError, NotFound
from minke.store.db import Database
from minke.store.leases import purge_expired

MAX_MANIFEST_BYTES = 4 << 20

_INDEX_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)
_MANIFEST_TYPES = frozenset(
    {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    }
)
_SCHEMA1_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    }
)


def collect(
    db: Database, blobs: Any, snapshotter: Any, *, now: float | None = None
) -> dict[str, int]:
    """Delete unreferenced snapshots and blobs; return counts and bytes reclaimed."""
    now = time.time() if now is None else now
    stats = {"BlobsDeleted": 0, "SnapshotsDeleted": 0, "SpaceReclaimed": 0}

    # 1. Decide which snapshots are dead, under the write lock so the view is consistent.
    with db.transaction():
        purge_expired(db, now)
        infos = {info.key: info for info in snapshotter.walk()} if snapshotter is not None else {}
        live_snaps = _live_snapshots(db, infos, now)
    dead = [key for key in infos if key not in live_snaps]
    depth = _depths(infos)
    dead.sort(key=lambda k: depth[k], reverse=True)  # children before their parents

    # 2. Remove them one by one, re-checking each under the lock: a snapshot may have been
    #    leased or made an image's top layer since step 1.  A new child makes remove()
    #    refuse with FailedPrecondition, which leaves the parent alone too.
    for key in dead:
        with db.transaction():
            if _snapshot_referenced(db, key, now):
                continue
            try:
                size = int(snapshotter.usage(key))
            except (MinkeError, OSError):
                size = 0
            try:
                snapshotter.remove(key)
            except (FailedPrecondition, Conflict, NotFound):
                continue
        stats["SnapshotsDeleted"] += 1
        stats["SpaceReclaimed"] += size

    # 3. Blobs: decide and delete in one transaction (unlinks are quick); the walk happens
    #    under the lock, so a blob a leased writer is about to publish is already leased.
    with db.transaction():
        live_blobs = _live_blobs(db, blobs, now)
        for digest, size in list(blobs.walk()):
            if digest in live_blobs:
                continue
            try:
                blobs.delete(digest)
            except NotFound:
                continue
            db.execute("DELETE FROM layers WHERE blob_digest = ?", (digest,))
            stats["BlobsDeleted"] += 1
            stats["SpaceReclaimed"] += size

    clean = getattr(blobs, "clean_ingest", None)
    if clean is not None:
        stats["SpaceReclaimed"] += int(clean())
    trash = getattr(snapshotter, "clean_trash", None)
    if trash is not None:
        # Directories a crashed remove() or unpack left behind.
        stats["SpaceReclaimed"] += int(trash())
    return stats


# --- snapshots -------------------------------------------------------------------------
def _leased(db: Database, kind: str, now: float) -> set[str]:
    rows = db.query(
        "SELECT r.ref FROM lease_resources r JOIN leases l ON l.id = r.lease_id"
        " WHERE r.kind = ? AND (l.expires IS NULL OR l.expires > ?)",
        (kind, now),
    )
    return {r[0] for r in rows}


def _live_snapshots(db: Database, infos: dict[str, Any], now: float) -> set[str]:
    roots = {r[0] for r in db.query("SELECT chain_id FROM images WHERE chain_id IS NOT NULL")}
    roots |= {key for key, info in infos.items() if info.kind in ("active", "view")}
    if _has_table(db, "containers"):
        # A container's layer is normally 'active'; naming it here keeps it whatever its kind.
        roots |= {r[0] for r in db.query("SELECT snapshot_key FROM containers")}
    roots |= _leased(db, "snapshot", now)
    live: set[str] = set()
    for key in roots:
        while key is not None and key not in live:
            live.add(key)
            info = infos.get(key)
            key = info.parent if info is not None else None
    return live


def _has_table(db: Database, name: str) -> bool:
    row = db.query_one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return row is not None


def _snapshot_referenced(db: Database, key: str, now: float) -> bool:
    if db.query_one("SELECT 1 FROM images WHERE chain_id = ? LIMIT 1", (key,)) is not None:
        return True
    if _has_table(db, "containers") and db.query_one(
        "SELECT 1 FROM containers WHERE snapshot_key = ? LIMIT 1", (key,)
    ):
        return True
    row = db.query_one(
        "SELECT 1 FROM lease_resources r JOIN leases l ON l.id = r.lease_id"
        " WHERE r.kind = 'snapshot' AND r.ref = ? AND (l.expires IS NULL OR l.expires > ?) LIMIT 1",
        (key, now),
    )
    return row is not None


def _depths(infos: dict[str, Any]) -> dict[str, int]:
    """Distance of each snapshot from its root (cycle-safe: a loop counts once)."""
    depth: dict[str, int] = {}
    for start in infos:
        chain: list[str] = []
        seen: set[str] = set()
        key: str | None = start
        while key is not None and key in infos and key not in depth and key not in seen:
            seen.add(key)
            chain.append(key)
            key = infos[key].parent
        base = depth.get(key, -1) if key is not None else -1
        for k in reversed(chain):
            base += 1
            depth[k] = base
    return depth


# --- blobs -----------------------------------------------------------------------------
def _live_blobs(db: Database, blobs: Any, now: float) -> set[str]:
    live: set[str] = set(_leased(db, "blob", now))
    diff_ids: set[str] = set()
    manifests: list[str] = []
    configs: list[str] = []
    for row in db.query("SELECT id, manifest_digest FROM images"):
        configs.append(row["id"])
        manifests.append(row["manifest_digest"])
    for (name,) in db.query("SELECT name FROM repo_digests"):
        _, at, digest = name.rpartition("@")
        if at:
            manifests.append(digest)

    parse = _oci_parser()
    seen: set[str] = set()
    while manifests:
        digest = manifests.pop()
        if not _is_digest(digest) or digest in seen:
            continue
        seen.add(digest)
        live.add(digest)
        data = _read_small(blobs, digest)
        if data is None:
            continue
        children, config, layers = _references(data, parse)
        manifests.extend(children)
        if config is not None:
            configs.append(config)
        live.update(d for d in layers if _is_digest(d))

    for digest in configs:
        if not _is_digest(digest):
            continue
        live.add(digest)
        data = _read_small(blobs, digest)
        doc = _json_object(data) if data is not None else None
        rootfs = doc.get("rootfs") if doc is not None else None
        ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        if isinstance(ids, list):
            diff_ids.update(d for d in ids if isinstance(d, str))

    if diff_ids:
        wanted = sorted(diff_ids)
        # Chunked to stay under SQLite's bound-parameter limit on images with many layers.
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = db.query(f"SELECT blob_digest FROM layers WHERE diff_id IN ({marks})", chunk)
            live.update(r[0] for r in rows)
    return live


def _oci_parser() -> Callable[[bytes], Any] | None:
    """``minke.oci.image.parse_any`` when that package is there (it is written alongside)."""
    try:
        from minke.oci.image import parse_any
    except ImportError:
        return None
    return parse_any


def _references(
    data: bytes, parse: Callable[[bytes], Any] | None
) -> tuple[list[str], str | None, list[str]]:
    """(child manifests, config, layers) named by a manifest or index document.

    The OCI models are tried first; whatever they refuse (schema 1, unknown media types,
    documents they find malformed) is read as plain JSON, so GC never drops a blob just
    because a model is stricter than the registry that served it.
    """
    if parse is not None:
        try:
            parsed = parse(data)
        except Exception:  # any refusal (or a bug in the model) falls back to plain JSON below
            parsed = None
        if parsed is not None:
            if hasattr(parsed, "manifests"):
                return [d.digest for d in parsed.manifests], None, []
            return [], parsed.config.digest, [d.digest for d in parsed.layers]
    doc = _json_object(data)
    if doc is None:
        return [], None, []
    return _references_json(doc)


def _references_json(doc: dict[str, Any]) -> tuple[list[str], str | None, list[str]]:
    media_type = doc.get("mediaType")
    children: list[str] = []
    config: str | None = None
    layers: list[str] = []
    manifests = doc.get("manifests")
    if media_type in _INDEX_TYPES or (media_type is None and isinstance(manifests, list)):
        for d in manifests if isinstance(manifests, list) else ():
            if isinstance(d, dict) and isinstance(d.get("digest"), str):
                children.append(d["digest"])
        return children, None, layers
    cfg = doc.get("config")
    if media_type in _MANIFEST_TYPES or (
        media_type is None and isinstance(cfg, dict) and "layers" in doc
    ):
        if isinstance(cfg, dict) and isinstance(cfg.get("digest"), str):
            config = cfg["digest"]
        for d in doc.get("layers") or ():
            if isinstance(d, dict) and isinstance(d.get("digest"), str):
                layers.append(d["digest"])
        return children, config, layers
    fs_layers = doc.get("fsLayers")
    if media_type in _SCHEMA1_TYPES or (
        doc.get("schemaVersion") == 1 and isinstance(fs_layers, list)
    ):
        for d in fs_layers if isinstance(fs_layers, list) else ():
            if isinstance(d, dict) and isinstance(d.get("blobSum"), str):
                layers.append(d["blobSum"])
    return children, config, layers


def _read_small(blobs: Any, digest: str) -> bytes | None:
    """The blob's bytes, or None if it is absent or too big to be a manifest or config."""
    try:
        if blobs.size(digest) > MAX_MANIFEST_BYTES:
            return None
        data: bytes = blobs.read(digest)
    except (MinkeError, OSError):
        return None
    return data


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def _is_digest(s: object) -> bool:
    return isinstance(s, str) and s.startswith("sha256:") and len(s) == 71
