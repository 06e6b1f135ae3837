"""One suite, both snapshotters: lifecycle, layers with whiteouts, the merged view."""

from __future__ import annotations

import io
import os
import stat

import pytest

from minke.errors import AlreadyExists, FailedPrecondition, NotFound
from minke.snapshots import new_snapshotter
from minke.snapshots.apply import apply_to_mounts
from minke.snapshots.mount import mount_all, unmount
from minke.store.db import Database
from tests.fixtures.layers import LayerBuilder

pytestmark = pytest.mark.root


@pytest.fixture(params=["overlay", "native"])
def snaps(request, tmp_path):
    db = Database(str(tmp_path / "minke.db"))
    yield new_snapshotter(request.param, str(tmp_path / "snapshots"), db)
    db.close()


def add_layer(snaps, key, parent, data: bytes):
    mounts = snaps.prepare(f"tmp-{key}", parent)
    apply_to_mounts(io.BytesIO(data), mounts)
    snaps.commit(key, f"tmp-{key}")


def test_lifecycle(snaps):
    add_layer(snaps, "l1", None, LayerBuilder().file("a", b"1").bytes())
    info = snaps.stat("l1")
    assert info.kind == "committed" and info.parent is None
    snaps.prepare("c1", "l1", labels={"x": "y"})
    assert snaps.stat("c1").kind == "active" and snaps.stat("c1").labels == {"x": "y"}
    snaps.view("v1", "l1")
    assert {i.key for i in snaps.walk()} == {"l1", "c1", "v1"}
    with pytest.raises(AlreadyExists):
        snaps.prepare("c1", "l1")
    with pytest.raises(NotFound):
        snaps.prepare("c2", "nope")
    with pytest.raises(FailedPrecondition):
        snaps.prepare("c3", "c1")  # an active snapshot cannot be a parent
    with pytest.raises(FailedPrecondition):
        snaps.remove("l1")  # it has children
    with pytest.raises(FailedPrecondition):
        snaps.commit("x", "v1")  # views are not committed
    snaps.remove("c1")
    snaps.remove("v1")
    snaps.remove("l1")
    assert list(snaps.walk()) == []
    with pytest.raises(NotFound):
        snaps.stat("l1")
    assert snaps.usage  # usage exists on both


def test_three_layers_merged_view(snaps, tmp_path):
    add_layer(snaps, "l1", None, LayerBuilder().file("keep", b"1").file("gone", b"2").file("d/old", b"3")
              .file("f", b"orig", 0o600, uid=5, gid=6, xattrs={"user.k": "v"}).bytes())
    # Hard links point inside their own layer, as in layers Docker writes.
    add_layer(snaps, "l2", "l1", LayerBuilder().whiteout("gone").opaque("d").file("d/new", b"4")
              .file("g", b"g").hardlink("f2", "g").bytes())
    add_layer(snaps, "l3", "l2", LayerBuilder().file("top", b"5").bytes())
    mounts = snaps.prepare("ctr", "l3")
    target = tmp_path / "merged"
    target.mkdir()
    mount_all(mounts, str(target))
    try:
        names = sorted(os.listdir(target))
        assert names == ["d", "f", "f2", "g", "keep", "top"]
        assert os.lstat(target / "f2").st_ino == os.lstat(target / "g").st_ino
        assert os.listdir(target / "d") == ["new"]
        st = os.lstat(target / "f")
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o600, 5, 6)
        assert os.getxattr(target / "f", "user.k") == b"v"
        assert int(st.st_mtime) == 1_600_000_000
        # A container's writes land in its own layer, not in the image's.
        (target / "keep").write_text("changed")
        (target / "newfile").write_text("n")
    finally:
        unmount(str(target))
    assert not os.path.ismount(target)
    assert snaps.usage("ctr") > 0
    # The image's layers are untouched: a second container sees the original.
    target2 = tmp_path / "merged2"
    target2.mkdir()
    mount_all(snaps.prepare("ctr2", "l3"), str(target2))
    try:
        assert (target2 / "keep").read_text() == "1"
        assert not (target2 / "newfile").exists()
    finally:
        unmount(str(target2))


def test_overlay_shares_layer_directories(tmp_path):
    db = Database(str(tmp_path / "minke.db"))
    snaps = new_snapshotter("overlay", str(tmp_path / "s"), db)
    add_layer(snaps, "l1", None, LayerBuilder().file("big", os.urandom(200_000)).bytes())
    snaps.prepare("c1", "l1")
    snaps.prepare("c2", "l1")
    # Each container costs an empty upper directory, whatever the image's size.
    assert snaps.usage("c1") == 0 and snaps.usage("c2") == 0
    (m,) = snaps.mounts("c1")
    assert m.type == "overlay" and m.option("lowerdir") == os.path.join(snaps.dir(snaps.stat("l1").id), "fs")
    db.close()


def test_long_lowerdir_lists_still_mount(tmp_path):
    db = Database(str(tmp_path / "minke.db"))
    # A deep root path makes the absolute option string overflow one page.
    root = tmp_path / ("deep-" * 12) / ("deeper-" * 12)
    snaps = new_snapshotter("overlay", str(root), db)
    parent = None
    for i in range(40):
        add_layer(snaps, f"l{i}", parent, LayerBuilder().file(f"f{i}", b"x").bytes())
        parent = f"l{i}"
    mounts = snaps.prepare("ctr", parent)
    assert len(",".join(mounts[0].options)) > 4096
    target = tmp_path / "m"
    target.mkdir()
    mount_all(mounts, str(target))
    try:
        assert len(os.listdir(target)) == 40
    finally:
        unmount(str(target))
    db.close()


def test_view_is_read_only_and_shows_the_parent(snaps, tmp_path):
    from minke.errors import InvalidArgument

    add_layer(snaps, "l1", None, LayerBuilder().file("a", b"1").file("b", b"2").bytes())
    add_layer(snaps, "l2", "l1", LayerBuilder().whiteout("a").file("c", b"3").bytes())
    mounts = snaps.view("v", "l2")
    with pytest.raises(InvalidArgument):
        apply_to_mounts(io.BytesIO(LayerBuilder().file("x").bytes()), mounts)
    target = tmp_path / "view"
    target.mkdir()
    mount_all(mounts, str(target))
    try:
        assert sorted(os.listdir(target)) == ["b", "c"]
        with pytest.raises(OSError):
            (target / "new").write_text("no")
    finally:
        unmount(str(target))
    assert not os.path.ismount(target)
    snaps.remove("v")
    with pytest.raises(NotFound):
        snaps.mounts("v")


def test_gc_removes_old_trash_but_not_young(snaps):
    import time as _time

    old = os.path.join(snaps.root, "trash-extract-1")
    young = os.path.join(snaps.root, "trash-extract-2")
    for d in (old, young):
        os.makedirs(d)
        with open(os.path.join(d, "f"), "wb") as f:
            f.write(b"x" * 100)
    past = _time.time() - 7200
    os.utime(old, (past, past))
    assert snaps.clean_trash() == 100
    assert not os.path.exists(old) and os.path.exists(young)
