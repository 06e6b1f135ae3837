"""The fast unpack path of a pull: layers applied in parallel worker processes on the
overlay snapshotter give the same snapshots as one at a time, and a bad layer in the
middle leaves neither snapshots nor scratch directories behind."""

from __future__ import annotations

import gzip
import hashlib
import os
import stat

import pytest

from minke.errors import CorruptData
from minke.images.unpack import LayerRef, unpack_layers
from minke.snapshots import new_snapshotter
from minke.store.blobs import BlobStore
from minke.store.db import Database
from tests.fixtures.layers import LayerBuilder

pytestmark = pytest.mark.root


def layers_data() -> list[bytes]:
    return [
        LayerBuilder().dir("etc", 0o755).file("etc/a", b"a1", 0o640, uid=3, gid=4).dir("usr/lib", 0o755)
        .file("usr/lib/x", b"x" * 100_000).symlink("usr/bin", "lib").file("gone/f", b"f").bytes(),
        LayerBuilder().file("etc/a", b"a2", 0o4755).whiteout("gone").dir("usr/lib", 0o755).opaque("usr/lib")
        .file("usr/lib/y", b"y").hardlink("etc/h", "etc/a").bytes(),
        LayerBuilder().file("etc/b", b"b", xattrs={"user.k": "v"}).whiteout("usr/lib/y").fifo("run/p").bytes(),
    ]


def store(tmp_path, name: str):
    db = Database(str(tmp_path / f"{name}.db"))
    return db, new_snapshotter("overlay", str(tmp_path / name / "snapshots"), db), BlobStore(str(tmp_path / name / "blobs"))


def put_layers(blobs, datas: list[bytes]) -> list[LayerRef]:
    out = []
    for raw in datas:
        digest = blobs.put(gzip.compress(raw, mtime=0))
        out.append(LayerRef("sha256:" + hashlib.sha256(raw).hexdigest(), digest))
    return out


def tree(root: str) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            kind = stat.S_IFMT(st.st_mode)
            body = (os.readlink(p) if stat.S_ISLNK(st.st_mode)
                    else open(p, "rb").read() if stat.S_ISREG(st.st_mode) else st.st_rdev)
            xattrs = {} if stat.S_ISLNK(st.st_mode) else {k: os.getxattr(p, k) for k in os.listxattr(p)}
            # A directory's mtime moves as entries come and go; an overlay whiteout (0/0
            # char device) is made at unpack time, so two unpacks a second apart differ.
            whiteout = stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
            mtime = None if stat.S_ISDIR(st.st_mode) or whiteout else int(st.st_mtime)
            out[os.path.relpath(p, root)] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_nlink,
                                            mtime, body, xattrs)
    return out


def snapshot_trees(snaps, chain: str) -> list[dict[str, tuple]]:
    return [tree(os.path.join(snaps.dir(i.id), "fs")) for i in reversed(snaps.chain(chain))]


def test_parallel_unpack_matches_sequential(tmp_path):
    datas = layers_data()
    results = {}
    for workers in (1, 3):
        db, snaps, blobs = store(tmp_path, f"w{workers}")
        created: list[str] = []
        top, sizes = unpack_layers(snaps, blobs, put_layers(blobs, datas), created=created, workers=workers)
        assert len(created) == 3 and top == created[-1]
        assert [i.kind for i in snaps.chain(top)] == ["committed"] * 3
        results[workers] = (top, sizes, snapshot_trees(snaps, top), [i.parent for i in snaps.chain(top)])
        assert not [n for n in os.listdir(snaps.root) if n.startswith("trash-")]
        db.close()
    assert results[1] == results[3]
    trees = results[3][2]
    # Whiteouts are recorded as overlayfs records them, the opaque dir carries its xattr.
    assert trees[1]["gone"][0] == stat.S_IFCHR and trees[1]["gone"][6] == 0
    assert trees[1]["usr/lib"][7] == {"trusted.overlay.opaque": b"y"}
    assert trees[1]["etc/a"][1] == 0o4755 and trees[1]["etc/h"][4] == 2


def test_parallel_unpack_resumes_on_an_existing_prefix(tmp_path):
    db, snaps, blobs = store(tmp_path, "p")
    refs = put_layers(blobs, layers_data())
    first, _ = unpack_layers(snaps, blobs, refs[:1], workers=1)
    created: list[str] = []
    top, sizes = unpack_layers(snaps, blobs, refs, created=created, workers=2)
    assert len(created) == 2 and snaps.chain(top)[-1].key == first and len(sizes) == 3
    db.close()


def test_bad_middle_layer_leaves_nothing(tmp_path):
    db, snaps, blobs = store(tmp_path, "bad")
    refs = put_layers(blobs, layers_data())
    refs[1] = LayerRef("sha256:" + "0" * 64, refs[1].blob_digest)  # wrong diff_id
    created: list[str] = []
    with pytest.raises(CorruptData, match="does not match its diff_id"):
        unpack_layers(snaps, blobs, refs, created=created, workers=3)
    # The bottom layer was committed (the caller's rollback removes what `created` names);
    # nothing else: no active snapshot, no scratch directory.
    assert [i.kind for i in snaps.walk()] == ["committed"] * len(created)
    assert len(created) <= 1
    assert not [n for n in os.listdir(snaps.root) if n.startswith("trash-")]
    db.close()
