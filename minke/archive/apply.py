"""Apply a layer tar onto a directory, safely.

Two whiteout modes (OCI image spec, "Representing Changes"):

- ``native``: the target is a full tree (copy snapshotter).  ``.wh.NAME`` deletes NAME;
  ``.wh..wh..opq`` deletes what the directory held before this layer.
- ``overlay``: the target is an overlay upperdir.  ``.wh.NAME`` becomes a 0/0 character
  device NAME and an opaque directory gets ``trusted.overlay.opaque=y``, which is how
  overlayfs itself records deletions (Documentation/filesystems/overlayfs.rst).

No entry may write outside ``target``: names with ``..`` components are refused, absolute
names are taken relative to the target (as Docker does), parent directories that are
symlinks are resolved *inside* the target (an absolute or ``../`` link target is re-rooted
at ``target``, the way securejoin does), and a hard link must point at an entry inside the
target.  Files are created with O_NOFOLLOW|O_EXCL after removing what was there, so a
symlink planted by an earlier entry is never written through.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from typing import BinaryIO

from minke.errors import CorruptData, InvalidArgument

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
MAX_SYMLINKS = 40
COPY_CHUNK = 1 << 20
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC  # Linux's own limit on links followed while resolving a path


def _clean(name: str, what: str) -> list[str]:
    """Split a tar entry name into components, refusing any that climbs with ``..``."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise CorruptData(f"invalid layer tar: {what} {name!r} escapes the target directory")
    return parts


class _Root:
    """Path resolution confined to one directory."""

    def __init__(self, target: str) -> None:
        self.target = os.path.realpath(target)
        # Directories already resolved in this layer.  A cached path only ever went
        # through components that existed then, so it stays right until something that
        # existed is removed or replaced: ``forget()`` is called then.
        self._cache: dict[tuple[str, ...], str] = {(): self.target}

    def forget(self) -> None:
        self._cache = {(): self.target}

    def resolve_dir(self, parts: list[str], entry: str, *, create: bool) -> str:
        """The real path of directory ``parts`` inside the target, following symlinks
        within the target only; missing directories are created when ``create``."""
        key = tuple(parts)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        out = self._resolve(parts, entry, create=create)
        self._cache[key] = out
        return out

    def _resolve(self, parts: list[str], entry: str, *, create: bool) -> str:
        resolved: list[str] = []
        todo = list(parts)
        links = 0
        while todo:
            p = todo.pop(0)
            if p == "..":
                if resolved:
                    resolved.pop()
                continue
            path = os.path.join(self.target, *resolved, p)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                if not create:
                    raise CorruptData(f"invalid layer tar: {entry!r}: {'/'.join(resolved + [p])} does not exist") from None
                os.mkdir(path, 0o755)
                resolved.append(p)
                continue
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_SYMLINKS:
                    raise CorruptData(f"invalid layer tar: {entry!r}: too many levels of symbolic links")
                dest = os.readlink(path)
                if dest.startswith("/"):
                    resolved = []
                todo = [q for q in dest.split("/") if q not in ("", ".")] + todo
                continue
            if not stat.S_ISDIR(st.st_mode):
                if not create:
                    raise CorruptData(f"invalid layer tar: {entry!r}: {'/'.join(resolved + [p])} is not a directory")
                # A file where a directory is needed: Docker replaces it.
                os.unlink(path)
                os.mkdir(path, 0o755)
                self.forget()
            resolved.append(p)
        out = os.path.join(self.target, *resolved)
        # Belt and braces: the walk above never leaves target, check anyway.
        if os.path.commonpath([out, self.target]) != self.target:
            raise CorruptData(f"invalid layer tar: {entry!r} escapes the target directory")
        return out


def _remove(path: str) -> bool:
    """Remove what is at path (a whole tree for a directory); False when nothing was."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        import shutil

        shutil.rmtree(path)
    else:
        os.unlink(path)
    return True


def _set_xattrs(path: str | int, member: tarfile.TarInfo) -> None:
    for key, value in member.pax_headers.items():
        if not key.startswith("SCHILY.xattr."):
            continue
        name = key[len("SCHILY.xattr."):]
        if name.startswith("trusted.overlay."):
            # overlayfs's own metadata (opaque, redirect, origin) comes only from our
            # whiteout handling: a layer must not steer the kernel's lookups.
            continue
        raw = value.encode("utf-8", "surrogateescape")
        try:
            if isinstance(path, int):
                os.setxattr(path, name, raw)
            else:
                os.setxattr(path, name, raw, follow_symlinks=False)
        except OSError as e:
            # trusted.* needs CAP_SYS_ADMIN, user.* is refused on symlinks; neither is
            # worth failing a whole layer for outside of root.
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise CorruptData(f"invalid layer tar: cannot set xattr {name} on {member.name!r}: {e.strerror}") from None


def _pax_ns(member: tarfile.TarInfo, key: str) -> int | None:
    """A PAX time to the nanosecond (tarfile's float loses the last digits), or None."""
    text = member.pax_headers.get(key)
    if not text:
        return None
    whole, _, frac = text.partition(".")
    try:
        sign = -1 if whole.startswith("-") else 1
        return int(whole) * 1_000_000_000 + sign * int((frac + "000000000")[:9])
    except ValueError:
        return None


def _times(member: tarfile.TarInfo) -> tuple[int, int]:
    """(atime, mtime) in nanoseconds; atime is the mtime unless PAX gives one."""
    if not member.pax_headers:
        mtime = int(member.mtime) * 1_000_000_000
        return mtime, mtime
    mtime = _pax_ns(member, "mtime")
    if mtime is None:
        mtime = int(member.mtime * 1_000_000_000)
    atime = _pax_ns(member, "atime")
    return (mtime if atime is None else atime), mtime


def apply_layer(stream: BinaryIO, target: str, *, whiteouts: str = "native") -> int:
    """Apply a (possibly compressed) layer tar onto ``target``; return bytes of file
    content written.  Raises CorruptData for a broken or hostile archive."""
    if whiteouts not in ("native", "overlay"):
        raise InvalidArgument(f"unknown whiteout mode {whiteouts!r}")
    from minke.archive.compression import decompressed

    root = _Root(target)
    is_root = os.geteuid() == 0
    written = 0
    dir_times: list[tuple[str, tuple[int, int]]] = []
    created_here: set[str] = set()  # paths this layer made: an opaque marker keeps them
    opaque_dirs: list[str] = []
    try:
        tar = tarfile.open(fileobj=decompressed(stream), mode="r|", errorlevel=2)
    except tarfile.TarError as e:
        raise CorruptData(f"invalid layer tar: {e}") from None
    try:
        for member in tar:
            parts = _clean(member.name, "entry")
            if not parts:
                continue  # the root itself ("./"): nothing to create
            base = parts[-1]
            parent = root.resolve_dir(parts[:-1], member.name, create=True)
            path = parent + "/" + base

            if base.startswith(WHITEOUT_PREFIX):
                if base == OPAQUE:
                    if whiteouts == "overlay":
                        os.setxattr(parent, "trusted.overlay.opaque", b"y")
                    else:
                        opaque_dirs.append(parent)
                    continue
                victim = parent + "/" + base[len(WHITEOUT_PREFIX):]
                if _remove(victim):
                    root.forget()
                if whiteouts == "overlay":
                    os.mknod(victim, stat.S_IFCHR | 0o000, os.makedev(0, 0))
                continue

            if member.isreg():
                # The common case, by file descriptor: no path lookups after the create.
                # O_EXCL|O_NOFOLLOW: whatever was there (a planted symlink) is removed
                # first, never written through.
                try:
                    fd = os.open(path, _CREATE_FLAGS, 0o600)
                except FileExistsError:
                    _remove(path)
                    root.forget()
                    fd = os.open(path, _CREATE_FLAGS, 0o600)
                try:
                    if member.size:
                        src = tar.extractfile(member)
                        assert src is not None
                        while chunk := src.read(COPY_CHUNK):
                            view = memoryview(chunk)
                            while view:
                                view = view[os.write(fd, view):]
                            written += len(chunk)
                    created_here.add(path)
                    if member.pax_headers:
                        _set_xattrs(fd, member)
                    if is_root:
                        os.fchown(fd, member.uid, member.gid)
                    os.fchmod(fd, member.mode & 0o7777)
                    os.utime(fd, ns=_times(member))
                finally:
                    os.close(fd)
                continue

            if member.isdir():
                try:
                    os.mkdir(path, 0o700)
                except FileExistsError:
                    if not stat.S_ISDIR(os.lstat(path).st_mode):
                        _remove(path)
                        root.forget()
                        os.mkdir(path, 0o700)
            else:
                if _remove(path):
                    root.forget()
                if member.issym():
                    os.symlink(member.linkname, path)
                elif member.islnk():
                    lparts = _clean(member.linkname, "hard link target of")
                    if not lparts:
                        raise CorruptData(f"invalid layer tar: hard link {member.name!r} points at the root")
                    lparent = root.resolve_dir(lparts[:-1], member.name, create=False)
                    source = os.path.join(lparent, lparts[-1])
                    try:
                        os.link(source, path, follow_symlinks=False)
                    except FileNotFoundError:
                        raise CorruptData(f"invalid layer tar: hard link {member.name!r} to missing {member.linkname!r}") from None
                    except OSError as e:  # EPERM: a directory; EXDEV; EMLINK
                        raise CorruptData(f"invalid layer tar: hard link {member.name!r} to {member.linkname!r}: {e.strerror}") from None
                    created_here.add(path)
                    continue  # a hard link shares the inode: metadata is the target's
                elif member.ischr() or member.isblk():
                    kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
                    if not is_root:
                        # mknod of devices needs CAP_MKNOD: skip, as rootless Docker does.
                        import logging

                        logging.getLogger(__name__).warning("skipping device %s: not root", member.name)
                        continue
                    os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
                elif member.isfifo():
                    os.mkfifo(path, 0o600)
                else:
                    raise CorruptData(f"invalid layer tar: {member.name!r} has unsupported type {member.type!r}")
            created_here.add(path)
            if member.pax_headers:
                _set_xattrs(path, member)
            if is_root:
                os.lchown(path, member.uid, member.gid)
            if not member.issym():
                os.chmod(path, member.mode & 0o7777)
            if member.isdir():
                dir_times.append((path, _times(member)))
            else:
                os.utime(path, ns=_times(member), follow_symlinks=False)
        if opaque_dirs:
            # Native opaque: what the directory held before this layer goes.  A lower
            # directory this layer wrote below (without an entry for the directory itself)
            # stays: it holds this layer's files.
            keep = set(created_here)
            inside = root.target + "/"
            for p in created_here:
                while (p := os.path.dirname(p)).startswith(inside) and p not in keep:
                    keep.add(p)
            todo = list(opaque_dirs)
            while todo:
                d = todo.pop()
                for name in os.listdir(d):
                    p = os.path.join(d, name)
                    if p not in keep:
                        _remove(p)
                    elif stat.S_ISDIR(os.lstat(p).st_mode):
                        todo.append(p)  # a kept directory may still hold lower content
    except tarfile.TarError as e:
        raise CorruptData(f"invalid layer tar: {e}") from None
    except EOFError as e:
        raise CorruptData(f"invalid layer tar: truncated ({e})") from None
    finally:
        tar.close()
    # Directory times last: creating their entries changed them.
    for path, times in reversed(dir_times):
        os.utime(path, ns=times, follow_symlinks=False)
    return written


def member_name_is_safe(name: str) -> bool:
    """True when a tar entry name stays inside its target (for callers that only check)."""
    try:
        _clean(name, "entry")
    except CorruptData:
        return False
    return True


__all__ = ["apply_layer", "member_name_is_safe", "WHITEOUT_PREFIX", "OPAQUE"]
