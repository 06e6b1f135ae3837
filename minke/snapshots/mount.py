"""Mount and unmount snapshot Mounts: the one place in minke that mounts a rootfs.

Uses mount(2) through ``minke.runtime.libc``.  When an overlay option string is longer
than the kernel's one-page limit for mount data, the lowerdirs are rewritten relative to
their common directory and the mount is made by a child process started in that
directory (a chdir in this process would race other threads).
"""

from __future__ import annotations

import os

from minke.errors import InvalidArgument, Unavailable
from minke.snapshots.base import Mount

PAGE_LIMIT = 4095
MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MNT_DETACH = 0x2


def mount_all(mounts: list[Mount], target: str) -> None:
    """Mount ``mounts`` (one today: overlay or bind) on ``target``."""
    from minke.runtime import libc

    if len(mounts) != 1:
        raise InvalidArgument(f"expected one mount, got {len(mounts)}")
    (m,) = mounts
    try:
        if m.type == "bind":
            flags = MS_BIND | (MS_REC if "rbind" in m.options else 0)
            libc.mount(m.source, target, None, flags, None)
            if "ro" in m.options:
                libc.mount(None, target, None, flags | MS_REMOUNT | MS_RDONLY, None)
            return
        if m.type != "overlay":
            raise InvalidArgument(f"unsupported mount type {m.type!r}")
        data = ",".join(m.options)
        if len(data) <= PAGE_LIMIT:
            libc.mount("overlay", target, "overlay", 0, data)
            return
        _mount_long_overlay(m, target)
    except OSError as e:
        raise Unavailable(f"mount of {m.type} on {target} failed: {e}") from None


def _mount_long_overlay(m: Mount, target: str) -> None:
    dirs: list[str] = []
    for o in m.options:
        if o.startswith(("lowerdir=", "upperdir=", "workdir=")):
            dirs += o.split("=", 1)[1].split(":")
    common = os.path.commonpath(dirs)
    rel_opts = []
    for o in m.options:
        key, _, value = o.partition("=")
        if key in ("lowerdir", "upperdir", "workdir"):
            value = ":".join(os.path.relpath(d, common) for d in value.split(":"))
            rel_opts.append(f"{key}={value}")
        else:
            rel_opts.append(o)
    data = ",".join(rel_opts)
    if len(data) > PAGE_LIMIT:
        raise InvalidArgument(f"overlay mount options too long even with relative paths ({len(data)} bytes)")
    import subprocess

    proc = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", data, os.path.abspath(target)],
                          cwd=common, capture_output=True)
    if proc.returncode != 0:
        raise OSError(proc.stderr.decode(errors="replace").strip())


def unmount(target: str, *, detach: bool = False) -> None:
    """Unmount ``target`` (all mounts stacked there); a target not mounted is fine."""
    from minke.runtime import libc

    for _ in range(16):
        try:
            libc.umount2(target, MNT_DETACH if detach else 0)
        except OSError as e:
            import errno

            if e.errno in (errno.EINVAL, errno.ENOENT):
                return  # not (or no longer) a mount point
            raise Unavailable(f"unmount of {target} failed: {e}") from None
