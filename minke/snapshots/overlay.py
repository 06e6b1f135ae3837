"""The overlay snapshotter: every committed layer is one directory, shared as a lowerdir.

Layout: ``<root>/overlay/<id>/fs`` (the layer's files, or an active snapshot's upperdir)
and ``<id>/work`` (overlayfs's workdir, same filesystem as the upper).  A container on a
ten-layer image costs one empty ``fs`` and ``work``, whatever the image's size.

Mount options name lowerdirs nearest first, as overlayfs wants.  The kernel copies mount
data into one page (4096 bytes), so a deep image can overflow it with absolute paths;
``minke.snapshots.mount`` then mounts from inside ``<root>/overlay`` with short relative
paths (``12/fs``), the trick containerd uses.
"""

from __future__ import annotations

import os

from minke.snapshots.base import Info, MetaSnapshotter, Mount


class OverlaySnapshotter(MetaSnapshotter):
    name = "overlay"

    def _make_dirs(self, info: Info) -> None:
        base = self.dir(info.id)
        os.mkdir(base, 0o700)
        os.mkdir(os.path.join(base, "fs"), 0o755)
        if info.kind == "active":
            os.mkdir(os.path.join(base, "work"), 0o700)

    def _data_dir(self, info: Info) -> str:
        return os.path.join(self.dir(info.id), "fs")

    def upper_dir(self, key: str) -> str:
        return self._data_dir(self.stat(key))

    def _committed(self, info: Info) -> None:
        import shutil

        shutil.rmtree(os.path.join(self.dir(info.id), "work"), ignore_errors=True)

    def _mounts(self, info: Info) -> list[Mount]:
        parents = self.chain(info.parent) if info.parent else []
        lowers = [os.path.join(self.dir(p.id), "fs") for p in parents]
        if info.kind == "active":
            fs = os.path.join(self.dir(info.id), "fs")
            if not lowers:
                return [Mount("bind", fs, ("rw", "rbind"))]
            return [Mount("overlay", "overlay", (
                "index=off",
                f"workdir={os.path.join(self.dir(info.id), 'work')}",
                f"upperdir={fs}",
                f"lowerdir={':'.join(lowers)}",
            ))]
        if info.kind == "view":
            if not lowers:
                return [Mount("bind", os.path.join(self.dir(info.id), "fs"), ("ro", "rbind"))]
            if len(lowers) == 1:
                return [Mount("bind", lowers[0], ("ro", "rbind"))]
            return [Mount("overlay", "overlay", ("index=off", f"lowerdir={':'.join(lowers)}"))]
        # committed: read-only view of itself and its parents
        own = [os.path.join(self.dir(info.id), "fs"), *lowers]
        if len(own) == 1:
            return [Mount("bind", own[0], ("ro", "rbind"))]
        return [Mount("overlay", "overlay", ("index=off", f"lowerdir={':'.join(own)}"))]


def overlay_supported(root: str) -> bool:
    """True when overlayfs is in the kernel and can use ``root``'s filesystem for
    upper and work directories (it cannot on overlayfs itself or on tmpfs without
    xattr support in old kernels)."""
    try:
        with open("/proc/filesystems") as f:
            if "overlay" not in f.read():
                return False
    except OSError:
        return False
    try:
        st = os.statvfs(root)
    except OSError:
        return True
    # Overlay on overlay is refused by the kernel for upperdirs; detect by f_type via
    # /proc/self/mountinfo would be exact; checking the mount is good enough here.
    del st
    return not _on_overlay(root)


def _on_overlay(path: str) -> bool:
    path = os.path.realpath(path)
    best, fstype = "", ""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                mnt = fields[4]
                sep = fields.index("-")
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, fstype = mnt, fields[sep + 1]
    except (OSError, ValueError, IndexError):
        return False
    return fstype == "overlay"
