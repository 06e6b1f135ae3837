from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from minke.errors import FailedPrecondition, NotFound
from minke.store.blobs import BlobStore
from minke.store.db import Database
from minke.store.gc import collect
from minke.store.leases import create_lease, lease

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


# --- a fake snapshotter: the Snapshotter surface GC uses, in memory ---------------------
@dataclass(frozen=True)
class Info:
    key: str
    parent: str | None
    kind: str


class FakeSnapshotter:
    def __init__(self) -> None:
        self.snaps: dict[str, tuple[str | None, str, int]] = {}
        self.removed: list[str] = []
        self.refuse: set[str] = set()

    def add(
        self, key: str, parent: str | None = None, kind: str = "committed", size: int = 10
    ) -> None:
        assert parent is None or parent in self.snaps
        self.snaps[key] = (parent, kind, size)

    def walk(self) -> Iterator[Info]:
        for key, (parent, kind, _) in list(self.snaps.items()):
            yield Info(key, parent, kind)

    def usage(self, key: str) -> int:
        if key not in self.snaps:
            raise NotFound(f"snapshot {key} not found")
        return self.snaps[key][2]

    def remove(self, key: str) -> None:
        if key not in self.snaps:
            raise NotFound(f"snapshot {key} not found")
        if key in self.refuse or any(p == key for p, _, _ in self.snaps.values()):
            raise FailedPrecondition(f"snapshot {key} has children")
        del self.snaps[key]
        self.removed.append(key)


# --- helpers -----------------------------------------------------------------------------
@pytest.fixture
def env(tmp_path):
    db = Database(str(tmp_path / "minke.db"))
    blobs = BlobStore(str(tmp_path / "blobs"))
    yield db, blobs, FakeSnapshotter()
    db.close()


def desc(media_type: str, digest: str, size: int) -> dict:
    return {"mediaType": media_type, "digest": digest, "size": size}


def make_manifest(blobs: BlobStore, tag: str, *, docker: bool = False, nlayers: int = 2):
    """Store layers, a config and a manifest; return (manifest digest, config digest,
    layer digests, diff ids)."""
    layers = [os.urandom(64) + f"{tag}{i}".encode() for i in range(nlayers)]
    layer_digests = [blobs.put(x) for x in layers]
    diff_ids = [f"sha256:{(tag + str(i)).encode().hex():0<64}"[:71] for i in range(nlayers)]
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    ).encode()
    config_digest = blobs.put(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
        "config": desc(DOCKER_CONFIG if docker else OCI_CONFIG, config_digest, len(config)),
        "layers": [
            desc(DOCKER_LAYER if docker else OCI_LAYER, d, len(x))
            for d, x in zip(layer_digests, layers, strict=True)
        ],
    }
    manifest_digest = blobs.put(json.dumps(manifest).encode())
    return manifest_digest, config_digest, layer_digests, diff_ids


def make_index(blobs: BlobStore, manifests: list[str], *, docker: bool = False) -> str:
    index = {
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST if docker else OCI_INDEX,
        "manifests": [
            desc(DOCKER_MANIFEST if docker else OCI_MANIFEST, m, blobs.size(m)) for m in manifests
        ],
    }
    return blobs.put(json.dumps(index).encode())


def add_image(db: Database, image_id: str, manifest: str, chain_id: str | None = None) -> None:
    db.execute(
        "INSERT INTO images (id, manifest_digest, manifest_media_type, added_at, chain_id)"
        " VALUES (?, ?, ?, ?, ?)",
        (image_id, manifest, OCI_MANIFEST, time.time(), chain_id),
    )


def stored(blobs: BlobStore) -> set[str]:
    return {d for d, _ in blobs.walk()}


# --- tests -------------------------------------------------------------------------------
def test_empty_store(env):
    db, blobs, snaps = env
    assert collect(db, blobs, snaps) == {
        "BlobsDeleted": 0,
        "SnapshotsDeleted": 0,
        "SpaceReclaimed": 0,
    }


def test_keeps_referenced_removes_unreferenced(env):
    db, blobs, snaps = env
    m, c, layers, _ = make_manifest(blobs, "a")
    add_image(db, c, m, chain_id="c2")
    orphan_m, orphan_c, orphan_layers, _ = make_manifest(blobs, "orphan")
    junk = blobs.put(b"junk" * 100)
    snaps.add("c1")
    snaps.add("c2", "c1")
    snaps.add("o1", size=100)
    snaps.add("o2", "o1", size=200)
    snaps.add("o3", "o2", size=300)
    live_blobs = {m, c, *layers}
    dead_blobs = {orphan_m, orphan_c, *orphan_layers, junk}
    dead_size = sum(blobs.size(d) for d in dead_blobs)

    result = collect(db, blobs, snaps)

    assert stored(blobs) == live_blobs
    assert set(snaps.snaps) == {"c1", "c2"}
    assert snaps.removed == ["o3", "o2", "o1"]  # children first
    assert result == {
        "BlobsDeleted": len(dead_blobs),
        "SnapshotsDeleted": 3,
        "SpaceReclaimed": dead_size + 600,
    }
    # nothing left to do the second time
    assert collect(db, blobs, snaps) == {
        "BlobsDeleted": 0,
        "SnapshotsDeleted": 0,
        "SpaceReclaimed": 0,
    }


def test_containers_snapshots_and_their_parents_are_live(env):
    db, blobs, snaps = env
    snaps.add("base")
    snaps.add("layer", "base")
    snaps.add("ctr-rw", "layer", kind="active")
    snaps.add("viewbase")
    snaps.add("view", "viewbase", kind="view")
    snaps.add("committed-by-container")  # named by a containers row, whatever its kind
    snaps.add("garbage")
    db.execute(
        "INSERT INTO containers (id, name, image_id, image_ref, created, config, host_config,"
        " snapshot_key) VALUES ('c', 'n', 'sha256:x', 'x', 0, '{}', '{}', 'committed-by-container')"
    )
    result = collect(db, blobs, snaps)
    assert set(snaps.snaps) == {
        "base",
        "layer",
        "ctr-rw",
        "viewbase",
        "view",
        "committed-by-container",
    }
    assert result["SnapshotsDeleted"] == 1


def test_docker_manifest_and_index_keep_children(env):
    db, blobs, snaps = env
    amd, amd_c, amd_layers, _ = make_manifest(blobs, "amd", docker=True)
    arm, arm_c, arm_layers, _ = make_manifest(blobs, "arm", docker=True)
    index = make_index(blobs, [amd, arm], docker=True)
    add_image(db, amd_c, amd)
    db.execute(
        "INSERT INTO repo_digests (name, image_id) VALUES (?, ?)",
        (f"docker.io/library/busybox@{index}", amd_c),
    )
    # an OCI index nothing refers to goes, with the manifests only it kept alive
    lost, lost_c, lost_layers, _ = make_manifest(blobs, "lost")
    lost_index = make_index(blobs, [lost])

    collect(db, blobs, snaps)

    assert stored(blobs) == {index, amd, amd_c, *amd_layers, arm, arm_c, *arm_layers}
    for d in (lost_index, lost, lost_c, *lost_layers):
        assert not blobs.exists(d)


def test_image_whose_manifest_is_an_index(env):
    db, blobs, snaps = env
    m, c, layers, _ = make_manifest(blobs, "x")
    index = make_index(blobs, [m])
    add_image(db, c, index)
    collect(db, blobs, snaps)
    assert stored(blobs) == {index, m, c, *layers}


def test_manifest_without_media_type_and_schema1(env):
    db, blobs, snaps = env
    layer = blobs.put(b"layer without media type")
    cfg = blobs.put(b'{"rootfs": {"diff_ids": []}}')
    bare = blobs.put(
        json.dumps(
            {
                "schemaVersion": 2,
                "config": desc(OCI_CONFIG, cfg, 1),
                "layers": [desc(OCI_LAYER, layer, 1)],
            }
        ).encode()
    )
    add_image(db, cfg, bare)
    s1_layer = blobs.put(b"schema 1 layer")
    s1 = blobs.put(
        json.dumps({"schemaVersion": 1, "name": "x", "fsLayers": [{"blobSum": s1_layer}]}).encode()
    )
    add_image(db, "sha256:" + "1" * 64, s1)
    collect(db, blobs, snaps)
    assert stored(blobs) == {layer, cfg, bare, s1_layer, s1}


def test_unparseable_manifest_is_kept_and_does_not_crash(env):
    db, blobs, snaps = env
    broken = blobs.put(b'{"schemaVersion": 2, "config": ')
    not_object = blobs.put(b"[1, 2, 3]")
    orphan = blobs.put(b"orphan")
    add_image(db, "sha256:" + "2" * 64, broken)
    add_image(db, "sha256:" + "3" * 64, not_object)
    add_image(db, "sha256:" + "4" * 64, "sha256:" + "5" * 64)  # manifest blob missing
    result = collect(db, blobs, snaps)
    assert stored(blobs) == {broken, not_object}
    assert not blobs.exists(orphan)
    assert result["BlobsDeleted"] == 1


def test_layers_table_keeps_other_compressions_and_drops_dead_rows(env):
    db, blobs, snaps = env
    m, c, layers, diff_ids = make_manifest(blobs, "img", nlayers=1)
    add_image(db, c, m)
    zstd_variant = blobs.put(b"same layer, zstd")
    stale = blobs.put(b"layer of a deleted image")
    db.executemany(
        "INSERT INTO layers (diff_id, blob_digest, media_type, size) VALUES (?, ?, ?, 1)",
        [
            (diff_ids[0], layers[0], OCI_LAYER),
            (diff_ids[0], zstd_variant, OCI_LAYER + "+zstd"),
            ("sha256:" + "d" * 64, stale, OCI_LAYER),
        ],
    )
    collect(db, blobs, snaps)
    assert stored(blobs) == {m, c, layers[0], zstd_variant}
    assert [
        r["blob_digest"] for r in db.query("SELECT blob_digest FROM layers ORDER BY rowid")
    ] == [
        layers[0],
        zstd_variant,
    ]


def test_leases_protect_blobs_and_snapshots(env):
    db, blobs, snaps = env
    b1 = blobs.put(b"being pulled")
    b2 = blobs.put(b"not leased")
    snaps.add("p")
    snaps.add("leased", "p")
    snaps.add("free")
    with lease(db) as held:
        held.add_blob(b1)
        held.add_snapshot("leased")
        result = collect(db, blobs, snaps)
        assert stored(blobs) == {b1}
        assert set(snaps.snaps) == {"p", "leased"}
        assert result["BlobsDeleted"] == 1 and result["SnapshotsDeleted"] == 1
    # released: now they are garbage
    collect(db, blobs, snaps)
    assert stored(blobs) == set()
    assert snaps.snaps == {}
    assert not blobs.exists(b2)


def test_expired_lease_is_ignored_and_purged(env):
    db, blobs, snaps = env
    b = blobs.put(b"left by a crashed pull")
    snaps.add("s")
    held = create_lease(db, [("blob", b), ("snapshot", "s")], expires_in=10)
    assert collect(db, blobs, snaps)["BlobsDeleted"] == 0
    result = collect(db, blobs, snaps, now=time.time() + 11)
    assert result["BlobsDeleted"] == 1 and result["SnapshotsDeleted"] == 1
    assert db.query_one("SELECT 1 FROM leases WHERE id = ?", (held.id,)) is None


def test_snapshot_that_refuses_removal_is_skipped(env):
    db, blobs, snaps = env
    snaps.add("busy", size=5)
    snaps.add("gone", size=7)
    snaps.refuse.add("busy")
    result = collect(db, blobs, snaps)
    assert set(snaps.snaps) == {"busy"}
    assert result == {"BlobsDeleted": 0, "SnapshotsDeleted": 1, "SpaceReclaimed": 7}


def test_no_snapshotter_and_stale_ingest(env):
    db, blobs, _ = env
    stale = os.path.join(blobs.ingest_dir, "abc.1.x")
    with open(stale, "wb") as f:
        f.write(b"x" * 123)
    old = time.time() - 7200
    os.utime(stale, (old, old))
    fresh = os.path.join(blobs.ingest_dir, "def.1.y")
    open(fresh, "wb").close()
    orphan = blobs.put(b"o" * 10)
    result = collect(db, blobs, None)
    assert result == {"BlobsDeleted": 1, "SnapshotsDeleted": 0, "SpaceReclaimed": 133}
    assert not blobs.exists(orphan)
    assert os.listdir(blobs.ingest_dir) == ["def.1.y"]


# --- GC racing writers in other processes ------------------------------------------------
def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _pull(root: str, n: int, barrier) -> None:
    db = Database(os.path.join(root, "minke.db"))
    blobs = BlobStore(os.path.join(root, "blobs"))
    barrier.wait()
    for i in range(15):
        layer = os.urandom(2000) + f"{n}/{i}".encode()
        config = json.dumps({"rootfs": {"type": "layers", "diff_ids": []}, "n": [n, i]}).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": desc(OCI_CONFIG, _sha(config), len(config)),
                "layers": [desc(OCI_LAYER, _sha(layer), len(layer))],
            }
        ).encode()
        # The protocol: lease each blob before writing it, record the image, then release.
        with lease(db, expires_in=600) as held:
            for data in (layer, config, manifest):
                held.add_blob(_sha(data))
                blobs.put(data, expected=_sha(data))
                time.sleep(0.002)  # give GC a chance to run in between
            add_image(db, _sha(config), _sha(manifest))
    db.close()


def _gc_loop(root: str, stop, barrier) -> None:
    db = Database(os.path.join(root, "minke.db"))
    blobs = BlobStore(os.path.join(root, "blobs"))
    barrier.wait()
    while not stop.is_set():
        blobs.put(os.urandom(100))  # garbage for GC to find
        collect(db, blobs, None)
        # SQLite's busy handler backs off while it waits; a GC in a tight loop would
        # starve the writers (correct, but slow).
        time.sleep(0.005)
    db.close()


def test_gc_racing_leased_writers_loses_nothing(tmp_path):
    root = str(tmp_path)
    Database(os.path.join(root, "minke.db")).close()
    ctx = multiprocessing.get_context("fork")
    writers = 3
    barrier = ctx.Barrier(writers + 1)
    stop = ctx.Event()
    gc = ctx.Process(target=_gc_loop, args=(root, stop, barrier))
    procs = [ctx.Process(target=_pull, args=(root, n, barrier)) for n in range(writers)]
    gc.start()
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    stop.set()
    gc.join(60)
    assert [p.exitcode for p in procs] == [0] * writers
    assert gc.exitcode == 0

    db = Database(os.path.join(root, "minke.db"))
    blobs = BlobStore(os.path.join(root, "blobs"))
    images = db.query("SELECT id, manifest_digest FROM images")
    assert len(images) == writers * 15
    for row in images:
        manifest = json.loads(blobs.read(row["manifest_digest"]))
        assert manifest["config"]["digest"] == row["id"]
        blobs.verify(row["id"])
        blobs.verify(manifest["layers"][0]["digest"])
    # and a final collection keeps exactly the images' blobs
    collect(db, blobs, None)
    assert len(stored(blobs)) == writers * 15 * 3
    db.close()
