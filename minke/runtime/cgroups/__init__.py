"""Cgroup managers: v1 and v2 behind one small interface, picked by looking at the host.

Lifecycle of a container's cgroup::

    m = new_manager("minke/<id>")     # detects v1 / hybrid / unified from the mounts
    m.create()                        # mkdir in every hierarchy (remembers what it made)
    m.set_resources(linux_resources)  # OCI linux.resources
    m.apply(pid)                      # move the container's init in
    m.freeze() / m.thaw()             # pause / resume
    m.stats(), m.pids(), m.oom_killed()
    m.destroy(kill=True)              # optionally kill what is left, then rmdir

A manager made in another process (``minke rm`` after ``minke run -d``) can do everything
but knows only the leaf as its own, so ``destroy`` removes the leaf and its sub-cgroups;
parents are removed only by the manager whose ``create`` made them, and only when empty.

In hybrid mode (v1 controllers plus cgroup2 at <root>/unified) the v1 manager is used and
the unified hierarchy, which holds no controllers there, is left alone.
"""

from __future__ import annotations

import os

from minke.errors import Unsupported
from minke.runtime.cgroups.common import CgroupFs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol
else:  # typing costs each runtime call ~3 ms of import; the Protocol is for mypy only
    Protocol = object


V1_CONTROLLERS = frozenset(
    {"cpuset", "cpu", "cpuacct", "blkio", "memory", "devices", "freezer", "net_cls",
     "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc"}
)  # fmt: skip


class CgroupManager(Protocol):
    """One container's cgroup, on whichever cgroup version the host runs."""

    version: int
    path: str

    def create(self) -> None: ...

    def apply(self, pid: int) -> None: ...

    def set_resources(self, linux_resources: dict[str, Any] | None) -> None: ...

    def freeze(self) -> None: ...

    def thaw(self) -> None: ...

    def stats(self) -> dict[str, dict[str, int | None]]: ...

    def pids(self) -> list[int]: ...

    def destroy(self, *, kill: bool = False) -> None: ...

    def oom_killed(self) -> bool: ...


class Layout:
    """How cgroups are mounted under root: "v1", "hybrid" or "v2".  A plain value class,
    not a dataclass: the dataclasses module (with inspect, ast, dis) would cost every
    container's create ~10 ms of imports."""

    __slots__ = ("mode", "unified", "v1")

    def __init__(self, mode: str, unified: str | None = None, v1: dict[str, str] | None = None) -> None:
        self.mode = mode
        self.unified = unified  # the cgroup2 mount point, if any
        self.v1 = dict(v1 or {})  # controller or "name=X" -> mount point

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Layout) and (self.mode, self.unified, self.v1) == (other.mode, other.unified, other.v1)

    def __repr__(self) -> str:
        return f"Layout(mode={self.mode!r}, unified={self.unified!r}, v1={self.v1!r})"


def _unescape(field_: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    out, i = [], 0
    while i < len(field_):
        if field_[i] == "\\" and i + 3 < len(field_) and field_[i + 1 : i + 4].isdigit():
            out.append(chr(int(field_[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field_[i])
            i += 1
    return "".join(out)


def detect_layout(root: str = "/sys/fs/cgroup", mountinfo: str = "/proc/self/mountinfo") -> Layout:
    """Read the mount table to learn which cgroup version is mounted at or under root."""
    root = os.path.normpath(root)
    with open(mountinfo) as f:
        lines = f.read().splitlines()
    unified: str | None = None
    v1: dict[str, str] = {}
    for line in lines:
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        pre, post = left.split(), right.split()
        if len(pre) < 5 or len(post) < 3:
            continue
        mount_point, fstype, super_opts = _unescape(pre[4]), post[0], post[2]
        if mount_point != root and not mount_point.startswith(root + "/"):
            continue
        if fstype == "cgroup2":
            unified = mount_point
        elif fstype == "cgroup":
            for opt in super_opts.split(","):
                if opt in V1_CONTROLLERS or opt.startswith("name="):
                    v1[opt] = mount_point
    if unified == root:
        return Layout("v2", unified=unified)
    if v1:
        return Layout("hybrid" if unified else "v1", unified=unified, v1=v1)
    if unified:
        # cgroup2 mounted only below root (unusual): use it as the unified hierarchy.
        return Layout("v2", unified=unified)
    raise Unsupported(f"no cgroup filesystem mounted at {root}")


def new_manager(
    path: str,
    *,
    root: str = "/sys/fs/cgroup",
    mountinfo: str = "/proc/self/mountinfo",
    fs: CgroupFs | None = None,
) -> CgroupManager:
    """A manager for the cgroup ``path`` (relative to each hierarchy's root)."""
    layout = detect_layout(root, mountinfo)
    fs = fs or CgroupFs()
    if layout.mode == "v2":
        from minke.runtime.cgroups.v2 import V2Manager

        assert layout.unified is not None
        return V2Manager(path, layout.unified, fs=fs)
    from minke.runtime.cgroups.v1 import V1Manager

    return V1Manager(path, layout.v1, fs=fs)


__all__ = ["CgroupManager", "CgroupFs", "Layout", "detect_layout", "new_manager"]
