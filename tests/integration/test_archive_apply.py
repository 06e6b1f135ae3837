"""Layer apply: every entry type, whiteouts, compression, and every escape attempt."""

from __future__ import annotations

import gzip
import io
import os
import stat

import pytest

from minke.archive.apply import apply_layer
from minke.archive.compression import compressor, decompressed, detect
from minke.archive.create import write_diff, write_tar
from minke.errors import CorruptData
from tests.fixtures.layers import LayerBuilder

pytestmark = pytest.mark.root


def apply(data: bytes, target, mode="native") -> int:
    return apply_layer(io.BytesIO(data), str(target), whiteouts=mode)


def tree(root) -> dict[str, str]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = "-> " + os.readlink(p)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = f"dir {stat.S_IMODE(st.st_mode):o}"
            elif stat.S_ISREG(st.st_mode):
                out[rel] = f"file {stat.S_IMODE(st.st_mode):o} {open(p, 'rb').read()!r}"
            else:
                out[rel] = f"special {st.st_mode:o} {st.st_rdev}"
    return out


def test_entry_types_metadata_and_times(tmp_path):
    layer = (LayerBuilder().dir("etc", 0o755).file("etc/passwd", b"root\n", 0o600, uid=7, gid=8)
             .file("bin/su", b"su", 0o4755).dir("tmp", 0o1777).symlink("etc/link", "/etc/passwd")
             .hardlink("etc/hard", "etc/passwd").chardev("dev/null", 1, 3).fifo("run/fifo")
             .file("x", b"cap", xattrs={"user.minke": "yes"}).bytes())
    target = tmp_path / "t"
    target.mkdir()
    assert apply(layer, target) == len(b"root\n") + 2 + 3
    st = os.lstat(target / "etc/passwd")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), int(st.st_mtime)) == (7, 8, 0o600, 1_600_000_000)
    assert stat.S_IMODE(os.lstat(target / "bin/su").st_mode) == 0o4755
    assert stat.S_IMODE(os.lstat(target / "tmp").st_mode) == 0o1777
    assert os.readlink(target / "etc/link") == "/etc/passwd"
    assert os.lstat(target / "etc/hard").st_ino == st.st_ino
    dev = os.lstat(target / "dev/null")
    assert stat.S_ISCHR(dev.st_mode) and os.major(dev.st_rdev) == 1 and os.minor(dev.st_rdev) == 3
    assert stat.S_ISFIFO(os.lstat(target / "run/fifo").st_mode)
    assert os.getxattr(target / "x", "user.minke") == b"yes"
    assert int(os.lstat(target / "etc").st_mtime) == 1_600_000_000


def test_native_whiteouts_and_opaque_dirs(tmp_path):
    target = tmp_path / "t"
    target.mkdir()
    apply(LayerBuilder().file("a/keep", b"1").file("a/gone", b"2").file("b/old", b"3").file("c", b"4").bytes(), target)
    apply(LayerBuilder().whiteout("a/gone").opaque("b").file("b/new", b"5").whiteout("c").bytes(), target)
    assert tree(target) == {
        "a": "dir 755", "a/keep": "file 644 b'1'", "b": "dir 755", "b/new": "file 644 b'5'"}


def test_overlay_whiteouts_become_devices_and_xattrs(tmp_path):
    upper = tmp_path / "upper"
    upper.mkdir()
    apply(LayerBuilder().dir("b").whiteout("a/gone").opaque("b").file("b/new", b"5").bytes(), upper, "overlay")
    wh = os.lstat(upper / "a/gone")
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == os.makedev(0, 0)
    assert os.getxattr(upper / "b", "trusted.overlay.opaque") == b"y"
    # And back: a diff of that upper has the whiteout and opaque entries again.
    out = io.BytesIO()
    digest, size = write_diff(str(upper), out)
    import tarfile

    names = tarfile.open(fileobj=io.BytesIO(out.getvalue())).getnames()
    assert "a/.wh.gone" in names and "b/.wh..wh..opq" in names and "b/new" in names
    assert size == len(out.getvalue()) and digest.startswith("sha256:")


@pytest.mark.parametrize("kind", ["gzip", "zstd", None])
def test_compressed_layers(tmp_path, kind):
    raw = LayerBuilder().file("hello", b"world").bytes()
    if kind:
        buf = io.BytesIO()
        w = compressor(kind, buf)
        w.write(raw)
        w.close()
        data = buf.getvalue()
    else:
        data = raw
    assert detect(data[:8]) == kind
    assert decompressed(io.BytesIO(data)).read() == raw
    target = tmp_path / "t"
    target.mkdir()
    apply(data, target)
    assert (target / "hello").read_bytes() == b"world"


def test_write_tar_round_trip(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    layer = (LayerBuilder().file("etc/f", b"data", 0o640, uid=3, gid=4).symlink("l", "etc/f")
             .hardlink("h", "etc/f").dir("empty", 0o700).bytes())
    apply(layer, src)
    out = io.BytesIO()
    d1, _ = write_tar(str(src), out)
    dst = tmp_path / "dst"
    dst.mkdir()
    apply(out.getvalue(), dst)
    assert tree(src) == tree(dst)
    assert os.lstat(dst / "h").st_ino == os.lstat(dst / "etc/f").st_ino
    d2, _ = write_tar(str(src), io.BytesIO())
    assert d1 == d2  # deterministic


ESCAPES = {
    "dotdot": LayerBuilder().file("../outside", b"x"),
    "nested-dotdot": LayerBuilder().file("a/../../outside", b"x"),
    "hardlink-out": LayerBuilder().hardlink("h", "../outside-target"),
    "hardlink-abs-dotdot": LayerBuilder().hardlink("h", "/../../etc/hostname"),
}


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_escapes_are_refused(tmp_path, case):
    box = tmp_path / "box"
    target = box / "target"
    target.mkdir(parents=True)
    (box / "outside-target").write_text("secret")
    before = sorted(os.listdir(box))
    with pytest.raises(CorruptData, match="escapes the target"):
        apply(ESCAPES[case].bytes(), target)
    assert sorted(os.listdir(box)) == before
    assert not (tmp_path / "outside").exists()


def test_absolute_names_stay_inside(tmp_path):
    target = tmp_path / "t"
    target.mkdir()
    apply(LayerBuilder().file("/etc/abs", b"in").bytes(), target)
    assert (target / "etc/abs").read_bytes() == b"in"


def test_symlinked_parent_dir_is_resolved_inside_the_target(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "t"
    target.mkdir()
    layer = (LayerBuilder().symlink("evil", str(outside)).file("evil/pwned", b"x")
             .symlink("up", "../../..").file("up/pwned2", b"y").bytes())
    apply(layer, target)
    assert os.listdir(outside) == []
    # Both land inside the target, where the links point when the target is the root.
    assert (target / str(outside).lstrip("/") / "pwned").read_bytes() == b"x"
    assert (target / "pwned2").read_bytes() == b"y"


def test_file_over_planted_symlink_does_not_write_through(tmp_path):
    outside = tmp_path / "victim"
    outside.write_text("keep")
    target = tmp_path / "t"
    target.mkdir()
    apply(LayerBuilder().symlink("f", str(outside)).file("f", b"new").bytes(), target)
    assert outside.read_text() == "keep"
    assert (target / "f").read_bytes() == b"new" and not os.path.islink(target / "f")


def test_hardlink_through_symlink_to_outside_is_refused(tmp_path):
    outside = tmp_path / "secret"
    outside.write_text("s")
    target = tmp_path / "t"
    target.mkdir()
    layer = LayerBuilder().symlink("d", str(tmp_path)).hardlink("h", "d/secret").bytes()
    with pytest.raises(CorruptData):
        apply(layer, target)
    assert not (target / "h").exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "gzip-truncate"])
def test_corrupt_archives(tmp_path, damage):
    raw = LayerBuilder().file("big", os.urandom(100_000)).bytes()
    if damage == "truncate":
        data = raw[:50_000]
    elif damage == "garbage":
        data = b"\x00garbage" * 100 + raw[:600]
    else:
        data = gzip.compress(raw)[:30_000]
    target = tmp_path / "t"
    target.mkdir()
    with pytest.raises(CorruptData):
        apply(data, target)


def test_native_opaque_keeps_what_this_layer_wrote_below_a_lower_dir(tmp_path):
    target = tmp_path / "t"
    target.mkdir()
    apply(LayerBuilder().file("d/sub/old", b"1").file("d/other", b"2").bytes(), target)
    # No entry for d/sub itself: the new file's parent exists only in the lower content.
    apply(LayerBuilder().opaque("d").file("d/sub/new", b"3").bytes(), target)
    assert tree(target) == {"d": "dir 755", "d/sub": "dir 755", "d/sub/new": "file 644 b'3'"}
    # An entry for a lower directory keeps the directory, not what the lower put in it.
    apply(LayerBuilder().file("e/sub/old", b"1").bytes(), target)
    apply(LayerBuilder().dir("e").opaque("e").dir("e/sub").file("e/sub/new", b"2").bytes(), target)
    assert sorted(os.listdir(target / "e/sub")) == ["new"]


def test_layer_cannot_set_overlay_xattrs(tmp_path):
    upper = tmp_path / "upper"
    upper.mkdir()
    layer = LayerBuilder().file("f", b"x", xattrs={"trusted.overlay.redirect": "/etc",
                                                   "user.ok": "1"}).bytes()
    apply(layer, upper, "overlay")
    assert os.getxattr(upper / "f", "user.ok") == b"1"
    assert "trusted.overlay.redirect" not in os.listxattr(upper / "f")


def test_hardlink_to_absolute_host_path_is_refused(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s")
    target = tmp_path / "t"
    target.mkdir()
    # An absolute link name is taken inside the target, where nothing is: refused.
    with pytest.raises(CorruptData, match="'h'"):
        apply(LayerBuilder().hardlink("h", str(secret)).bytes(), target)
    assert os.lstat(secret).st_nlink == 1
    assert not (target / "h").exists()


def test_symlinked_parent_climbing_out_writes_nothing_outside(tmp_path):
    box = tmp_path / "box"
    target = box / "deep" / "target"
    target.mkdir(parents=True)
    layer = LayerBuilder().symlink("up", "../../../..").file("up/escaped", b"x").bytes()
    apply(layer, target)
    # '..' stops at the target's root, as in a chroot: the file lands inside.
    assert (target / "escaped").read_bytes() == b"x"
    assert sorted(os.listdir(box)) == ["deep"] and sorted(os.listdir(box / "deep")) == ["target"]
    assert not (tmp_path / "escaped").exists()


def test_pax_times_to_the_nanosecond_and_sockets_left_out(tmp_path):
    import socket
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        f = tarfile.TarInfo("f")
        f.size = 1
        f.pax_headers = {"mtime": "1600000000.123456789", "atime": "1500000000.5"}
        t.addfile(f, io.BytesIO(b"x"))
        d = tarfile.TarInfo("d")
        d.type = tarfile.DIRTYPE
        d.pax_headers = {"mtime": "1600000001.000000001"}
        t.addfile(d)
    layer = buf.getvalue()
    target = tmp_path / "t"
    target.mkdir()
    apply(layer, target)
    st = os.lstat(target / "f")
    assert (st.st_mtime_ns, st.st_atime_ns) == (1_600_000_000_123_456_789, 1_500_000_000_500_000_000)
    assert os.lstat(target / "d").st_mtime_ns == 1_600_000_001_000_000_001
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(target / "d" / "sock"))
        out = io.BytesIO()
        write_tar(str(target), out)
    finally:
        s.close()
    assert tarfile.open(fileobj=io.BytesIO(out.getvalue())).getnames() == ["d", "f"]


def test_hardlink_to_a_directory_is_corrupt(tmp_path):
    target = tmp_path / "t"
    target.mkdir()
    with pytest.raises(CorruptData, match="'h'"):
        apply(LayerBuilder().dir("d").hardlink("h", "d").bytes(), target)
