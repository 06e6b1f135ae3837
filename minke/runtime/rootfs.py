"""Build the container's file system view inside its new mount namespace.

Order (as runc's prepareRootfs, and for the same reasons):

1. make ``/`` a slave (or ``linux.rootfsPropagation``) recursively, so nothing we mount
   leaks back to the host;
2. bind the rootfs onto itself: pivot_root needs its new root to be a mount point;
3. the spec's mounts, in order, under the rootfs (destinations resolved inside it, so a
   symlink in the image cannot point a mount at the host);
4. /dev: the default device nodes, the spec's devices, the /dev/fd ... symlinks;
5. (the caller runs createContainer hooks here)
6. pivot_root (chroot only when the root is on ramfs, where pivot_root cannot work);
7. after the pivot: maskedPaths, readonlyPaths, sysctl, a read-only root.

Every call goes through a ``Syscalls`` so unit tests can check the sequence.
"""

from __future__ import annotations

import errno
import os

from minke.errors import InvalidArgument
from minke.runtime import libc
from minke.runtime.spec import Device, Mount, Spec
from minke.runtime.syscalls import Syscalls

# option -> (clear the flag instead of setting it, flag)
MOUNT_FLAGS: dict[str, tuple[bool, int]] = {
    "defaults": (False, 0),
    "ro": (False, libc.MS_RDONLY),
    "rw": (True, libc.MS_RDONLY),
    "suid": (True, libc.MS_NOSUID),
    "nosuid": (False, libc.MS_NOSUID),
    "dev": (True, libc.MS_NODEV),
    "nodev": (False, libc.MS_NODEV),
    "exec": (True, libc.MS_NOEXEC),
    "noexec": (False, libc.MS_NOEXEC),
    "sync": (False, libc.MS_SYNCHRONOUS),
    "async": (True, libc.MS_SYNCHRONOUS),
    "dirsync": (False, libc.MS_DIRSYNC),
    "remount": (False, libc.MS_REMOUNT),
    "mand": (False, libc.MS_MANDLOCK),
    "nomand": (True, libc.MS_MANDLOCK),
    "atime": (True, libc.MS_NOATIME),
    "noatime": (False, libc.MS_NOATIME),
    "diratime": (True, libc.MS_NODIRATIME),
    "nodiratime": (False, libc.MS_NODIRATIME),
    "bind": (False, libc.MS_BIND),
    "rbind": (False, libc.MS_BIND | libc.MS_REC),
    "relatime": (False, libc.MS_RELATIME),
    "norelatime": (True, libc.MS_RELATIME),
    "strictatime": (False, libc.MS_STRICTATIME),
    "nostrictatime": (True, libc.MS_STRICTATIME),
    "lazytime": (False, libc.MS_LAZYTIME),
    "nolazytime": (True, libc.MS_LAZYTIME),
    "silent": (False, libc.MS_SILENT),
    "loud": (True, libc.MS_SILENT),
    "nosymfollow": (False, libc.MS_NOSYMFOLLOW),
    "symfollow": (True, libc.MS_NOSYMFOLLOW),
}

PROPAGATION_FLAGS: dict[str, int] = {
    "private": libc.MS_PRIVATE,
    "rprivate": libc.MS_PRIVATE | libc.MS_REC,
    "shared": libc.MS_SHARED,
    "rshared": libc.MS_SHARED | libc.MS_REC,
    "slave": libc.MS_SLAVE,
    "rslave": libc.MS_SLAVE | libc.MS_REC,
    "unbindable": libc.MS_UNBINDABLE,
    "runbindable": libc.MS_UNBINDABLE | libc.MS_REC,
}

# Flags a bind remount must keep: in a user namespace the kernel locks them and refuses a
# remount that would drop them (mount(2), EPERM).  statvfs f_flag bit -> MS_ flag.
_ST_TO_MS = ((1, libc.MS_RDONLY), (2, libc.MS_NOSUID), (4, libc.MS_NODEV), (8, libc.MS_NOEXEC),
             (1024, libc.MS_NOATIME), (2048, libc.MS_NODIRATIME), (4096, libc.MS_RELATIME))  # fmt: skip

# (path, major, minor): the nodes every container gets (runtime-spec "Default Devices").
DEFAULT_DEVICES = (
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
)
DEFAULT_SYMLINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
)


class MountOptions:
    """A mount's options split into flags to set, flags to clear, propagation and data."""

    __slots__ = ("flags", "clear", "propagation", "data")

    def __init__(self, options) -> None:
        self.flags = 0
        self.clear = 0
        self.propagation = 0
        data = []
        for opt in options:
            if opt in MOUNT_FLAGS:
                clear, flag = MOUNT_FLAGS[opt]
                if clear:
                    self.clear |= flag
                    self.flags &= ~flag
                else:
                    self.flags |= flag
            elif opt in PROPAGATION_FLAGS:
                self.propagation |= PROPAGATION_FLAGS[opt]
            elif opt.startswith("r") and opt[1:] in MOUNT_FLAGS and opt[1:] not in ("bind", "emount"):
                # Recursive flags (rro, rnosuid ...) need mount_setattr(2); apply them to the
                # top mount, which is what runc 1.1 does on kernels it cannot use it on.
                clear, flag = MOUNT_FLAGS[opt[1:]]
                if not clear:
                    self.flags |= flag
            else:
                data.append(opt)
        self.data = ",".join(data) or None


def resolve_in_root(rootfs: str, path: str) -> str:
    """``path`` inside ``rootfs``, following symlinks as if rootfs were ``/``.

    A symlink in the image pointing at ``/etc`` must land in the rootfs's /etc, never the
    host's (the class of bug behind CVE-2019-16884 / "mount destination escapes").
    """
    parts = [p for p in path.split("/") if p and p != "."]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(rootfs, *resolved, part)
        if os.path.islink(candidate):
            hops += 1
            if hops > 40:
                raise InvalidArgument(f"{path}: too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        resolved.append(part)
    return os.path.join(rootfs, *resolved)


class RootfsBuilder:
    """The steps above, run in order by ``minke.runtime.init`` in the container's init."""

    def __init__(self, spec: Spec, rootfs: str, sys: Syscalls, *, userns: bool = False,
                 before_cgroup_mount=None) -> None:
        self.spec = spec
        self.rootfs = rootfs
        self.sys = sys
        self.userns = userns
        # Called before a cgroup file system is mounted: the process must be in its
        # cgroup by then (the bind mounts are of the cgroup it is in).
        self.before_cgroup_mount = before_cgroup_mount
        self.warnings: list[str] = []

    # -- before pivot_root --

    def prepare(self) -> None:
        prop = self.spec.linux.rootfs_propagation
        # Recursive by default so every mount below / stops propagating to the host.
        flag = PROPAGATION_FLAGS[prop] if prop else libc.MS_SLAVE | libc.MS_REC
        self.sys.mount(None, "/", None, flag, None)
        self.sys.mount(self.rootfs, self.rootfs, "bind", libc.MS_BIND | libc.MS_REC, None)

    def mount_all(self) -> None:
        for m in self.spec.mounts:
            self.mount_one(m)

    def mount_one(self, m: Mount) -> None:
        opts = MountOptions(m.options)
        dest = resolve_in_root(self.rootfs, m.destination)
        is_bind = bool(opts.flags & libc.MS_BIND) or m.type == "bind"
        if m.type == "cgroup":
            if self.before_cgroup_mount is not None:
                self.before_cgroup_mount()
            self._mount_cgroup(m, dest, opts)
            return
        if is_bind:
            source = m.source
            if not self.sys.exists(source):
                raise InvalidArgument(f"mount {m.destination}: source {source} does not exist")
            self._make_target(dest, directory=self.sys.is_dir(source))
            self.sys.mount(source, dest, "bind", libc.MS_BIND | (opts.flags & libc.MS_REC), None)
            # A bind mount ignores every other flag: they take effect only on a remount.
            extra = opts.flags & ~(libc.MS_BIND | libc.MS_REC | libc.MS_REMOUNT)
            if extra or opts.clear:
                self.sys.mount(None, dest, None, libc.MS_BIND | libc.MS_REMOUNT | extra, None)
        else:
            self._make_target(dest, directory=True)
            self.sys.mount(m.source or m.type, dest, m.type, opts.flags & ~libc.MS_REMOUNT, opts.data)
        if opts.propagation:
            self.sys.mount(None, dest, None, opts.propagation, None)

    def _mount_cgroup(self, m: Mount, dest: str, opts: MountOptions) -> None:
        """A ``cgroup`` mount: the container's own cgroup directories, as runc binds them.

        cgroup v1 (and hybrid): a tmpfs at dest and, for each hierarchy, a bind mount of
        the directory this process is in.  cgroup v2 only: a bind of the unified dir.
        """
        self._make_target(dest, directory=True)
        flags = opts.flags & (libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC)
        hierarchies = _cgroup_hierarchies()
        if len(hierarchies) == 1 and hierarchies[0][0] == "":
            _, mountpoint, rel = hierarchies[0]
            src = os.path.join(mountpoint, rel.lstrip("/"))
            self.sys.mount(src, dest, "bind", libc.MS_BIND | libc.MS_REC, None)
            self.sys.mount(None, dest, None, libc.MS_BIND | libc.MS_REMOUNT | flags, None)
            return
        self.sys.mount("tmpfs", dest, "tmpfs", libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC, "mode=755")
        for _, mountpoint, rel in hierarchies:
            sub = os.path.join(dest, os.path.basename(mountpoint))
            self.sys.mkdir(sub)
            src = os.path.join(mountpoint, rel.lstrip("/"))
            self.sys.mount(src, sub, "bind", libc.MS_BIND | libc.MS_REC, None)
            self.sys.mount(None, sub, None, libc.MS_BIND | libc.MS_REMOUNT | flags, None)
        if flags & libc.MS_RDONLY:
            self.sys.mount(None, dest, None, libc.MS_REMOUNT | flags, "mode=755")

    def _make_target(self, dest: str, *, directory: bool) -> None:
        if self.sys.exists(dest):
            return
        if directory:
            self.sys.mkdir(dest)
        else:
            self.sys.mkdir(os.path.dirname(dest))
            self.sys.touch(dest)

    def create_devices(self, bind_dev: bool) -> None:
        """Default devices, then the spec's; symlinks; /dev/ptmx when /dev/pts is mounted.

        When /dev is a bind of the host's (``bind_dev``) nothing is created, as in runc.
        In a user namespace mknod is refused, so the host's node is bind mounted instead.
        """
        if bind_dev:
            return
        seen = set()
        devices = list(self.spec.linux.devices)
        for d in devices:
            seen.add(d.path)
        for path, major, minor in DEFAULT_DEVICES:
            if path not in seen:
                devices.append(Device("c", path, major, minor, 0o666, 0, 0))
        for d in devices:
            self._create_device(d)
        dev = os.path.join(self.rootfs, "dev")
        for target, link in DEFAULT_SYMLINKS:
            path = os.path.join(self.rootfs, link.lstrip("/"))
            if not self.sys.exists(path):
                self.sys.symlink(target, path)
        if self.sys.exists("/proc/kcore") and not self.sys.exists(os.path.join(dev, "core")):
            self.sys.symlink("/proc/kcore", os.path.join(dev, "core"))
        ptmx = os.path.join(dev, "ptmx")
        if self.sys.is_dir(os.path.join(dev, "pts")):
            # The container's ptys come from its own devpts instance (newinstance), reached
            # through this link; a node here would be the host's pty namespace.
            if self.sys.exists(ptmx):
                try:
                    os.unlink(ptmx)
                except OSError:
                    pass
            self.sys.symlink("pts/ptmx", ptmx)

    def _create_device(self, d: Device) -> None:
        import stat

        path = resolve_in_root(self.rootfs, d.path)
        self.sys.mkdir(os.path.dirname(path))
        kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[d.type]
        mode = d.file_mode if d.file_mode is not None else 0o666
        if self.sys.exists(path):
            return
        if self.userns:
            self._bind_device(d.path, path)
            return
        try:
            self.sys.mknod(path, kind | (mode & 0o7777), os.makedev(d.major, d.minor))
        except PermissionError:
            self._bind_device(d.path, path)
            return
        self.sys.chown(path, d.uid or 0, d.gid or 0)

    def _bind_device(self, host_path: str, path: str) -> None:
        self.sys.touch(path)
        self.sys.mount(host_path, path, "bind", libc.MS_BIND, None)

    # -- the switch --

    def pivot(self) -> None:
        """pivot_root into the rootfs and detach the old root.

        ``pivot_root(".", ".")`` stacks the old root on top of the new one, so no directory
        is needed for it in the image (the trick runc and lxc use).  The old root is made a
        slave first so unmounting it does not propagate to the host.
        """
        self.sys.chdir(self.rootfs)
        try:
            self.sys.pivot_root(".", ".")
        except OSError as e:
            if e.errno != errno.EINVAL or not _root_is_ramfs():
                raise
            # pivot_root(2) cannot move the initramfs root: move the rootfs over / instead.
            self.sys.mount(self.rootfs, "/", None, libc.MS_MOVE, None)
            self.sys.chroot(".")
            self.sys.chdir("/")
            return
        self.sys.mount(None, ".", None, libc.MS_SLAVE | libc.MS_REC, None)
        self.sys.umount(".", libc.MNT_DETACH)
        self.sys.chdir("/")

    # -- after pivot_root --

    def finish(self) -> None:
        lx = self.spec.linux
        for key, value in lx.sysctl.items():
            self.sys.write_file("/proc/sys/" + key.replace(".", "/"), value)
        for path in lx.readonly_paths:
            self.readonly(path)
        for path in lx.masked_paths:
            self.mask(path)
        if self.spec.linux.rootfs_propagation:
            flag = PROPAGATION_FLAGS[self.spec.linux.rootfs_propagation]
            self.sys.mount(None, "/", None, flag, None)
        if self.spec.root_readonly:
            self.sys.mount(None, "/", None, libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY | _kept_flags("/"), None)

    def readonly(self, path: str) -> None:
        if not self.sys.exists(path):
            return
        self.sys.mount(path, path, None, libc.MS_BIND | libc.MS_REC, None)
        self.sys.mount(None, path, None, libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY | _kept_flags(path), None)

    def mask(self, path: str) -> None:
        if not self.sys.exists(path):
            return
        if self.sys.is_dir(path):
            self.sys.mount("tmpfs", path, "tmpfs", libc.MS_RDONLY, None)
        else:
            self.sys.mount("/dev/null", path, None, libc.MS_BIND, None)


def _kept_flags(path: str) -> int:
    try:
        st = os.statvfs(path)
    except OSError:
        return 0
    out = 0
    for bit, flag in _ST_TO_MS:
        if st.f_flag & bit:
            out |= flag
    return out & ~libc.MS_RDONLY


def _root_is_ramfs() -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if fields[4] == "/":
                    fstype = fields[fields.index("-") + 1]
                    return fstype in ("rootfs", "ramfs")
    except OSError:
        pass
    return False


def _cgroup_hierarchies() -> list[tuple[str, str, str]]:
    """(controllers, host mount point, this process's path) for each mounted hierarchy."""
    paths: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            paths[controllers] = path
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype, superopts = fields[sep + 1], fields[sep + 3]
            mountpoint = fields[4]
            if fstype == "cgroup2":
                if "" in paths:
                    out.append(("", mountpoint, paths[""]))
            elif fstype == "cgroup":
                opts = superopts.split(",")
                for controllers, path in paths.items():
                    names = [c for c in controllers.split(",") if c]
                    if names and all(n in opts for n in names):
                        out.append((controllers, mountpoint, path))
                        break
    if len(out) > 1:
        out = [h for h in out if h[0] != ""] + [h for h in out if h[0] == ""]
    return out
