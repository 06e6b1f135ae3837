"""The seam between the runtime and the kernel.

``Syscalls`` is the small set of calls the container set-up makes.  ``LinuxSyscalls`` does
them for real (ctypes from ``libc.py`` where Python's ``os`` lacks the call);
``RecordingSyscalls`` records them as ``(name, *args)`` tuples so unit tests can check what
would happen, in which order, without root.  Tests give the fake a set of directories and
files so the code that looks before it mounts takes the same branches.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs every runtime call ~5 ms of import; the Protocol is for mypy only
    from typing import Protocol
else:
    Protocol = object


class Syscalls(Protocol):
    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None: ...
    def umount(self, target: str, flags: int = 0) -> None: ...
    def pivot_root(self, new_root: str, put_old: str) -> None: ...
    def chroot(self, path: str) -> None: ...
    def chdir(self, path: str) -> None: ...
    def unshare(self, flags: int) -> None: ...
    def setns(self, fd: int, nstype: int) -> None: ...
    def sethostname(self, name: str) -> None: ...
    def setdomainname(self, name: str) -> None: ...
    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int: ...
    def mknod(self, path: str, mode: int, device: int) -> None: ...
    def chown(self, path: str, uid: int, gid: int) -> None: ...
    def mkdir(self, path: str, mode: int = 0o755) -> None: ...
    def symlink(self, target: str, path: str) -> None: ...
    def touch(self, path: str) -> None: ...
    def write_file(self, path: str, data: str) -> None: ...
    def is_dir(self, path: str) -> bool: ...
    def exists(self, path: str) -> bool: ...
    def setgroups(self, gids: list[int]) -> None: ...
    def setresgid(self, gid: int) -> None: ...
    def setresuid(self, uid: int) -> None: ...
    def setrlimit(self, resource: int, soft: int, hard: int) -> None: ...
    def umask(self, mask: int) -> int: ...


class LinuxSyscalls:
    """The real kernel."""

    def __init__(self) -> None:
        from minke.runtime import libc

        self._libc = libc

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
        self._libc.mount(source, target, fstype, flags, data)

    def umount(self, target: str, flags: int = 0) -> None:
        self._libc.umount2(target, flags)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._libc.pivot_root(new_root, put_old)

    def chroot(self, path: str) -> None:
        os.chroot(path)

    def chdir(self, path: str) -> None:
        os.chdir(path)

    def unshare(self, flags: int) -> None:
        self._libc.unshare(flags)

    def setns(self, fd: int, nstype: int) -> None:
        self._libc.setns(fd, nstype)

    def sethostname(self, name: str) -> None:
        self._libc.sethostname(name)

    def setdomainname(self, name: str) -> None:
        self._libc.setdomainname(name)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        return self._libc.prctl(option, arg2, arg3, arg4, arg5)

    def mknod(self, path: str, mode: int, device: int) -> None:
        os.mknod(path, mode, device)

    def chown(self, path: str, uid: int, gid: int) -> None:
        os.chown(path, uid, gid)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        os.makedirs(path, mode, exist_ok=True)

    def symlink(self, target: str, path: str) -> None:
        os.symlink(target, path)

    def touch(self, path: str) -> None:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))

    def write_file(self, path: str, data: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, data.encode())
        finally:
            os.close(fd)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def setgroups(self, gids: list[int]) -> None:
        os.setgroups(gids)

    def setresgid(self, gid: int) -> None:
        os.setresgid(gid, gid, gid)

    def setresuid(self, uid: int) -> None:
        os.setresuid(uid, uid, uid)

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        # Not the resource module: some Python builds lack it.
        self._libc.setrlimit(resource, soft, hard)

    def umask(self, mask: int) -> int:
        return os.umask(mask)


class RecordingSyscalls:
    """A fake that records every call as a tuple and changes nothing.

    ``dirs`` and ``files`` describe the file system the code sees: ``is_dir``/``exists``
    answer from them, and ``mkdir``/``touch``/``symlink``/``mknod`` add to them.  Set
    ``fail`` to ``{"mount": OSError(...)}`` to make a call fail.
    """

    def __init__(self, dirs: set[str] | None = None, files: set[str] | None = None) -> None:
        self.calls: list[tuple] = []
        self.dirs: set[str] = set(dirs or ())
        self.files: set[str] = set(files or ())
        self.fail: dict[str, BaseException] = {}
        self._umask = 0o022

    def _rec(self, name: str, *args) -> None:
        self.calls.append((name, *args))
        err = self.fail.get(name)
        if err is not None:
            raise err

    def names(self) -> list[str]:
        """The names of the calls made, in order."""
        return [c[0] for c in self.calls]

    def of(self, name: str) -> list[tuple]:
        """The argument tuples of every call to ``name``."""
        return [c[1:] for c in self.calls if c[0] == name]

    def mount(self, source, target, fstype, flags, data) -> None:
        self._rec("mount", source, target, fstype, flags, data)

    def umount(self, target, flags=0) -> None:
        self._rec("umount", target, flags)

    def pivot_root(self, new_root, put_old) -> None:
        self._rec("pivot_root", new_root, put_old)

    def chroot(self, path) -> None:
        self._rec("chroot", path)

    def chdir(self, path) -> None:
        self._rec("chdir", path)

    def unshare(self, flags) -> None:
        self._rec("unshare", flags)

    def setns(self, fd, nstype) -> None:
        self._rec("setns", fd, nstype)

    def sethostname(self, name) -> None:
        self._rec("sethostname", name)

    def setdomainname(self, name) -> None:
        self._rec("setdomainname", name)

    def prctl(self, option, arg2=0, arg3=0, arg4=0, arg5=0) -> int:
        self._rec("prctl", option, arg2, arg3, arg4, arg5)
        return 0

    def mknod(self, path, mode, device) -> None:
        self._rec("mknod", path, mode, device)
        self.files.add(path)

    def chown(self, path, uid, gid) -> None:
        self._rec("chown", path, uid, gid)

    def mkdir(self, path, mode=0o755) -> None:
        self._rec("mkdir", path, mode)
        while path not in ("/", ""):
            self.dirs.add(path)
            path = os.path.dirname(path)

    def symlink(self, target, path) -> None:
        self._rec("symlink", target, path)
        self.files.add(path)

    def touch(self, path) -> None:
        self._rec("touch", path)
        self.files.add(path)

    def write_file(self, path, data) -> None:
        self._rec("write_file", path, data)

    def is_dir(self, path) -> bool:
        return path in self.dirs

    def exists(self, path) -> bool:
        return path in self.dirs or path in self.files

    def setgroups(self, gids) -> None:
        self._rec("setgroups", list(gids))

    def setresgid(self, gid) -> None:
        self._rec("setresgid", gid)

    def setresuid(self, uid) -> None:
        self._rec("setresuid", uid)

    def setrlimit(self, resource, soft, hard) -> None:
        self._rec("setrlimit", resource, soft, hard)

    def umask(self, mask) -> int:
        self._rec("umask", mask)
        old, self._umask = self._umask, mask
        return old
