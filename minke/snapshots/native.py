"""The native snapshotter: each snapshot is a full copy of its parent's tree.

For hosts without overlayfs (or a root on overlayfs).  ``prepare`` copies the parent
with ``cp -a`` (hard links, devices, xattrs, owners and times kept; reflinks where the
filesystem has them), so a container costs a full copy of its image: that is the price
of not having overlay, as with Docker's vfs driver.
"""

from __future__ import annotations

import os
import subprocess

from minke.errors import Unavailable
from minke.snapshots.base import Info, MetaSnapshotter, Mount


class NativeSnapshotter(MetaSnapshotter):
    name = "native"

    def _make_dirs(self, info: Info) -> None:
        base = self.dir(info.id)
        os.mkdir(base, 0o700)
        fs = os.path.join(base, "fs")
        if info.parent is None:
            os.mkdir(fs, 0o755)
            return
        parent = self.stat(info.parent)
        src = os.path.join(self.dir(parent.id), "fs")
        proc = subprocess.run(["cp", "-a", "--reflink=auto", src, fs], capture_output=True)
        if proc.returncode != 0:
            raise Unavailable(f"copy of snapshot {info.parent} failed: {proc.stderr.decode(errors='replace').strip()}")

    def _data_dir(self, info: Info) -> str:
        return os.path.join(self.dir(info.id), "fs")

    def _mounts(self, info: Info) -> list[Mount]:
        fs = os.path.join(self.dir(info.id), "fs")
        return [Mount("bind", fs, ("rw" if info.kind == "active" else "ro", "rbind"))]
