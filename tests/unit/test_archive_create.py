"""write_tar: deterministic, sorted, PAX, metadata kept; and back through apply_layer."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile

from minke.archive.apply import apply_layer
from minke.archive.create import write_tar


def _tree(root):
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            kind = "l" if stat.S_ISLNK(st.st_mode) else "d" if stat.S_ISDIR(st.st_mode) else "f"
            body = os.readlink(p) if kind == "l" else (open(p, "rb").read() if kind == "f" else b"")
            mode = None if kind == "l" else stat.S_IMODE(st.st_mode)
            out[os.path.relpath(p, root)] = (kind, mode, body, st.st_mtime_ns if kind != "l" else None)
    return out


def _sample(root):
    os.makedirs(root / "b" / "inner")
    (root / "b" / "inner" / "x").write_bytes(b"x" * 5000)
    (root / "a.txt").write_bytes(b"hello")
    os.chmod(root / "a.txt", 0o640)
    os.link(root / "a.txt", root / "b" / "hard")
    os.symlink("../a.txt", root / "b" / "link")
    os.setxattr(root / "a.txt", "user.note", b"\xff\x00binary")
    for p in (root / "a.txt", root / "b" / "inner" / "x", root / "b" / "inner", root / "b"):
        os.utime(p, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))


def test_write_tar_is_sorted_pax_and_deterministic(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _sample(src)
    out = io.BytesIO()
    digest, size = write_tar(str(src), out)
    data = out.getvalue()
    assert (digest, size) == ("sha256:" + hashlib.sha256(data).hexdigest(), len(data))
    assert write_tar(str(src), io.BytesIO())[0] == digest
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        members = t.getmembers()
    assert [m.name for m in members] == ["a.txt", "b", "b/hard", "b/inner", "b/inner/x", "b/link"]
    by = {m.name: m for m in members}
    assert by["b/hard"].islnk() and by["b/hard"].linkname == "a.txt"
    assert by["b/link"].issym() and by["b/link"].linkname == "../a.txt"
    assert by["a.txt"].pax_headers["SCHILY.xattr.user.note"].encode("utf-8", "surrogateescape") == b"\xff\x00binary"
    assert by["a.txt"].mode == 0o640 and by["a.txt"].uname == ""


def test_write_tar_then_apply_gives_the_same_tree(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _sample(src)
    out = io.BytesIO()
    write_tar(str(src), out)
    dst = tmp_path / "dst"
    dst.mkdir()
    assert apply_layer(io.BytesIO(out.getvalue()), str(dst), whiteouts="native") == 5 + 5000
    assert _tree(dst) == _tree(src)
    assert os.lstat(dst / "b" / "hard").st_ino == os.lstat(dst / "a.txt").st_ino
    assert os.getxattr(dst / "a.txt", "user.note") == b"\xff\x00binary"


def test_write_tar_of_selected_paths(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _sample(src)
    out = io.BytesIO()
    write_tar(str(src), out, paths=["b/link", "a.txt"])
    assert tarfile.open(fileobj=io.BytesIO(out.getvalue())).getnames() == ["b/link", "a.txt"]
