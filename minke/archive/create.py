"""Write layer tars: a whole directory, or an overlay upperdir as a diff.

Output is deterministic for the same tree (sorted names, PAX format, no atime/ctime), so
the same content gives the same diff ID.  Hard links inside the tree are written as tar
hard links; xattrs as PAX ``SCHILY.xattr.*`` records (overlay's own ``trusted.overlay.*``
are never exported).  Both functions return the digest and size of the uncompressed tar,
computed while writing.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from collections.abc import Iterator
from typing import BinaryIO

from minke.archive.apply import OPAQUE, WHITEOUT_PREFIX


class _HashingWriter:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.out.write(data)
        self.hash.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self.out.flush()


def _walk_under(root: str, rel: str) -> Iterator[str]:
    for name in sorted(os.listdir(os.path.join(root, rel))):
        child = f"{rel}/{name}"
        yield child
        if stat.S_ISDIR(os.lstat(os.path.join(root, child)).st_mode):
            yield from _walk_under(root, child)


def _xattrs(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for name in sorted(names):
        if name.startswith("trusted.overlay."):
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        out[f"SCHILY.xattr.{name}"] = value.decode("utf-8", "surrogateescape")
    return out


def _info(path: str, name: str, st: os.stat_result, links: dict[tuple[int, int], str]) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = int(st.st_mtime)
    info.uname = info.gname = ""
    mode = st.st_mode
    if stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            info.type = tarfile.LNKTYPE
            info.linkname = links[key]
        else:
            if st.st_nlink > 1:
                links[key] = name
            info.type = tarfile.REGTYPE
            info.size = st.st_size
    elif stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(path)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    else:
        raise OSError(f"cannot archive {path}: unsupported file type (socket?)")
    xattrs = _xattrs(path)
    if xattrs:
        info.pax_headers = xattrs
    return info


def _add(tar: tarfile.TarFile, path: str, info: tarfile.TarInfo) -> None:
    if info.type == tarfile.REGTYPE:
        with open(path, "rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)


def write_tar(root: str, out: BinaryIO, *, paths: list[str] | None = None) -> tuple[str, int]:
    """A tar of everything below ``root`` (or only ``paths``, relative); (digest, size)."""
    w = _HashingWriter(out)
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=w, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for rel in (paths if paths is not None else _walk_under_root(root)):
            path = os.path.join(root, rel)
            st = os.lstat(path)
            if stat.S_ISSOCK(st.st_mode):
                continue  # a socket is live state, not content: Docker leaves them out too
            _add(tar, path, _info(path, rel, st, links))
    return f"sha256:{w.hash.hexdigest()}", w.size


def _walk_under_root(root: str) -> Iterator[str]:
    for name in sorted(os.listdir(root)):
        yield name
        if stat.S_ISDIR(os.lstat(os.path.join(root, name)).st_mode):
            yield from _walk_under(root, name)


def write_diff(upper: str, out: BinaryIO) -> tuple[str, int]:
    """A layer tar of an overlay upperdir: 0/0 character devices become ``.wh.NAME``
    whiteouts and opaque directories get a ``.wh..wh..opq`` entry."""
    w = _HashingWriter(out)
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=w, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for rel in _walk_under_root(upper):
            path = os.path.join(upper, rel)
            st = os.lstat(path)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0):
                parent, base = os.path.split(rel)
                wh = tarfile.TarInfo(os.path.join(parent, WHITEOUT_PREFIX + base))
                wh.mtime = int(st.st_mtime)
                wh.mode = 0o644
                tar.addfile(wh)
                continue
            if stat.S_ISSOCK(st.st_mode):
                continue
            _add(tar, path, _info(path, rel, st, links))
            if stat.S_ISDIR(st.st_mode):
                try:
                    opaque = os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
                except OSError:
                    opaque = False
                if opaque:
                    marker = tarfile.TarInfo(f"{rel}/{OPAQUE}")
                    marker.mtime = int(st.st_mtime)
                    marker.mode = 0o644
                    tar.addfile(marker)
    return f"sha256:{w.hash.hexdigest()}", w.size
