"""``minke cp``: files between a container's filesystem and the host, as tar streams.

Paths in the container are resolved inside its root: an absolute symlink restarts at the
container's root and '..' stops there, so no link can name a host file (the check is
lexical over the rootfs: a process in the container that swaps a directory for a link
while the copy runs is not guarded against, as there is no openat2 here).  A stopped
container's rootfs is mounted for the copy and unmounted after it.
"""

from __future__ import annotations

import contextlib
import os
import tarfile
from typing import IO, Any

from minke.containers.exec import _in_root
from minke.errors import InvalidArgument, NotFound


@contextlib.contextmanager
def mounted_root(svc: Any, c: Any):
    """The container's merged root, mounted for the duration when it was not."""
    from minke.containers.service import is_mounted

    target = svc.rootfs(c.id)
    if is_mounted(target):
        yield target
        return
    with svc._lock(c.id):
        svc._mount_rootfs(c)
        try:
            yield target
        finally:
            svc._unmount(c.id)


def resolve(root: str, path: str, follow: bool) -> str:
    """``path`` of the container as a host path under ``root``; the last component is
    followed only with ``follow`` (``cp -L``)."""
    host = _in_root(root, "/" + path.lstrip("/"), follow_last=follow)
    if host is None:
        raise InvalidArgument(f"too many levels of symbolic links: {path}")
    return host


def _chown_filter(uid: int | None, gid: int | None):
    def f(ti: tarfile.TarInfo) -> tarfile.TarInfo:
        if uid is not None:
            ti.uid, ti.uname = uid, ""
        if gid is not None:
            ti.gid, ti.gname = gid, ""
        return ti

    return f


def write_tar(src: str, out: IO[bytes], *, contents: bool, name: str, owner: tuple[int, int] | None = None) -> None:
    """A tar of ``src`` (a host path) named ``name``, or of its contents when
    ``contents`` (``SRC/.``); links are stored as links."""
    filt = _chown_filter(*owner) if owner else None
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        if contents and os.path.isdir(src) and not os.path.islink(src):
            for entry in sorted(os.listdir(src)):
                tar.add(os.path.join(src, entry), arcname=entry, filter=filt)
        else:
            tar.add(src, arcname=name, filter=filt)


def extract_tar(stream: IO[bytes], dest: str, *, owner: tuple[int, int] | None = None, rename_to: str | None = None) -> None:
    """Extract into the directory ``dest``; every member must stay inside it (tarfile's
    'tar' filter, which resolves links already on disk).  ``rename_to`` renames the
    archive's top entry (``cp SRC DEST`` where DEST does not exist yet)."""
    with tarfile.open(fileobj=stream, mode="r|*") as tar:
        for ti in tar:
            if rename_to is not None:
                head, _, rest = ti.name.lstrip("./").partition("/")
                ti.name = rename_to + ("/" + rest if rest else "")
            if owner is not None:
                ti.uid, ti.gid, ti.uname, ti.gname = owner[0], owner[1], "", ""
            if _HAS_FILTERS:
                try:
                    tar.extract(ti, dest, filter="tar", numeric_owner=True)
                except tarfile.FilterError as e:
                    raise InvalidArgument(f"refusing to copy {ti.name}: {e}") from None
            else:
                _check_member(ti, dest)
                tar.extract(ti, dest, numeric_owner=True)


# Python 3.11.4 added extraction filters; Debian 12's 3.11.2 lacks them, so the same
# checks are made by hand there: the entry and any link target, resolved on disk (which
# follows links already in the container), must stay inside ``dest``.
_HAS_FILTERS = hasattr(tarfile, "tar_filter")


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([os.path.realpath(path), root]) == root


def _check_member(ti: tarfile.TarInfo, dest: str) -> None:
    root = os.path.realpath(dest)
    ti.name = ti.name.lstrip("/")
    target = os.path.join(root, ti.name)
    if not _inside(target, root):
        raise InvalidArgument(f"refusing to copy {ti.name}: it would be extracted outside the destination")
    if ti.issym():
        link = ti.linkname
        base = root if link.startswith("/") else os.path.dirname(target)
        if not _inside(os.path.join(base, link.lstrip("/") if link.startswith("/") else link), root):
            raise InvalidArgument(f"refusing to copy {ti.name}: its link target {link} is outside the destination")
    elif ti.islnk():
        if not _inside(os.path.join(root, ti.linkname.lstrip("/")), root):
            raise InvalidArgument(f"refusing to copy {ti.name}: its link target {ti.linkname} is outside the destination")
    # As the 'tar' filter: no setuid/setgid/sticky bits, no group/other write.
    ti.mode &= 0o755


def split_target(dest: str) -> tuple[str, str | None]:
    """Where ``cp`` puts a copy: (directory, new name or None to keep the source's)."""
    if os.path.isdir(dest):
        return dest, None
    if dest.endswith("/"):
        raise NotFound(f"no such directory: {dest}")
    parent = os.path.dirname(dest) or "."
    if not os.path.isdir(parent):
        raise NotFound(f"no such directory: {parent}")
    return parent, os.path.basename(dest)


def copy_from(svc: Any, ref: str, path: str, dest: str, *, follow: bool, archive: bool, out: IO[bytes] | None = None) -> None:
    """``cp CONTAINER:PATH DEST`` (DEST ``-``: a tar on ``out``)."""
    import tempfile

    c = svc.get(ref)
    with mounted_root(svc, c) as root:
        src = resolve(root, path, follow)
        if not os.path.lexists(src):
            raise NotFound(f"Could not find the file {path} in container {ref}")
        contents = path.endswith("/.")
        name = os.path.basename(path.rstrip("/").removesuffix("/.").rstrip("/")) or "."
        if name == "." and not contents:
            contents = True
        if dest == "-":
            write_tar(src, out, contents=False, name=name)  # type: ignore[arg-type]
            return
        d, new = split_target(dest)
        if contents:
            if new is not None:
                os.mkdir(os.path.join(d, new))
                d, new = os.path.join(d, new), None
        owner = None if archive else (os.getuid(), os.getgid())
        with tempfile.TemporaryFile() as buf:
            write_tar(src, buf, contents=contents, name=name)
            buf.seek(0)
            extract_tar(buf, d, owner=owner, rename_to=new)


def copy_to(svc: Any, ref: str, src: str, path: str, *, follow: bool, archive: bool, stdin: IO[bytes] | None = None) -> None:
    """``cp SRC CONTAINER:PATH`` (SRC ``-``: a tar read from ``stdin``, extracted into the
    directory PATH)."""
    import tempfile

    c = svc.get(ref)
    owner = None if archive else (0, 0)
    if src != "-" and not os.path.lexists(src):
        raise NotFound(f"lstat {src}: no such file or directory")
    with mounted_root(svc, c) as root:
        dest = resolve(root, path, True)
        if src == "-":
            if not os.path.isdir(dest):
                raise NotFound(f"Could not find the file {path} in container {ref}")
            extract_tar(stdin, dest, owner=owner)  # type: ignore[arg-type]
            return
        if os.path.isdir(dest):
            d, new = dest, None
        else:
            parent = os.path.dirname(dest)
            if path.endswith("/") or not os.path.isdir(parent):
                raise NotFound(f"Could not find the file {os.path.dirname(path.rstrip('/')) or '/'} in container {ref}")
            d, new = parent, os.path.basename(dest)
        host_src = os.path.realpath(src) if follow else src
        contents = src.endswith("/.")
        name = os.path.basename(os.path.normpath(src))
        if contents and new is not None:
            os.mkdir(os.path.join(d, new))
            d, new = os.path.join(d, new), None
        with tempfile.TemporaryFile() as buf:
            write_tar(host_src, buf, contents=contents, name=name)
            buf.seek(0)
            extract_tar(buf, d, owner=owner, rename_to=new)
