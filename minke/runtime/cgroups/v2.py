"""cgroup v2: one unified hierarchy; controllers enabled top-down via cgroup.subtree_control."""

from __future__ import annotations

import os
from _collections_abc import Mapping  # collections.abc imports all of collections (~4 ms)

from minke.errors import Conflict, FailedPrecondition, InvalidArgument, Unavailable, Unsupported
from minke.runtime.cgroups.common import (
    CgroupFs,
    blkio_weight_to_io_weight,
    check_path,
    debug,
    descendants_first,
    empty_stats,
    read_int,
    read_keyed,
    read_pids,
    read_value,
    rmdir_retrying,
    shares_to_weight,
    swap_for_v2,
    validate_resources,
    wait_until,
    warn,
    write_value,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and signal (enum) would cost every runtime call their import
    from typing import Any
_SIGKILL = 9

FREEZE_TIMEOUT = 5.0
# Controllers a container's cgroup gets, when the parent has them.
WANTED_CONTROLLERS = ("cpuset", "cpu", "io", "memory", "pids", "hugetlb", "misc")


def _max(value: int) -> str:
    return "max" if value == -1 else str(value)


class V2Manager:
    """A cgroup in the unified hierarchy (see the package docstring for the lifecycle)."""

    version = 2

    def __init__(self, path: str, mount: str, *, fs: CgroupFs | None = None) -> None:
        self.path = check_path(path)
        self._fs = fs or CgroupFs()
        self._mount = mount
        self.dir = os.path.join(mount, self.path)
        self._created: list[str] = []

    def _file(self, name: str) -> str:
        return os.path.join(self.dir, name)

    # --- lifecycle ---

    def create(self) -> None:
        """mkdir the cgroup and missing parents, enabling controllers on the way down."""
        made: list[str] = []
        current = self._mount
        try:
            for part in self.path.split("/"):
                self._enable_controllers(current)
                current = os.path.join(current, part)
                if not self._fs.isdir(current):
                    try:
                        self._fs.mkdir(current)
                    except FileExistsError:
                        pass
                    except PermissionError:
                        raise FailedPrecondition(f"cannot create cgroup {current}: permission denied") from None
                    else:
                        made.append(current)
        except BaseException:
            for d in reversed(made):
                try:
                    self._fs.rmdir(d)
                except OSError:
                    pass
            raise
        self._created.extend(made)

    def _enable_controllers(self, directory: str) -> None:
        """Delegate the wanted controllers from directory to its children.

        One write per controller: a controller the kernel refuses (busy, or a threaded
        subtree) should not stop the others.  A missing one shows up later as Unsupported
        naming the file when a limit needs it.
        """
        available = (read_value(self._fs, os.path.join(directory, "cgroup.controllers")) or "").split()
        enabled = (read_value(self._fs, os.path.join(directory, "cgroup.subtree_control")) or "").split()
        for controller in WANTED_CONTROLLERS:
            if controller in available and controller not in enabled:
                try:
                    self._fs.write(os.path.join(directory, "cgroup.subtree_control"), f"+{controller}")
                except OSError as e:
                    debug(__name__, "cannot enable %s in %s: %s", controller, directory, e)

    def apply(self, pid: int) -> None:
        """Move pid (a whole process) into the cgroup."""
        if not isinstance(pid, int) or pid <= 0:
            raise InvalidArgument(f"invalid pid {pid!r}")
        if not self._fs.isdir(self.dir):
            raise FailedPrecondition(f"cgroup {self.dir} does not exist")
        write_value(self._fs, self._file("cgroup.procs"), pid)

    def set_resources(self, linux_resources: Mapping[str, Any] | None) -> None:
        """Write OCI linux.resources into the v2 interface files (converting v1 units)."""
        validate_resources(linux_resources)
        res = linux_resources or {}
        fs = self._fs
        mem = res.get("memory") or {}
        limit, swap = mem.get("limit"), mem.get("swap")
        swap_max = swap_for_v2(swap, limit)
        if swap_max is not None:
            # memory.swap.max first, like runc: the order does not matter to the kernel
            # but a failure here then leaves memory.max untouched.
            write_value(fs, self._file("memory.swap.max"), _max(swap_max))
        if limit:
            write_value(fs, self._file("memory.max"), _max(limit))
        if mem.get("reservation"):
            write_value(fs, self._file("memory.low"), _max(mem["reservation"]))
        if mem.get("swappiness") is not None:
            warn(__name__, "memory swappiness has no cgroup v2 equivalent and was ignored")
        if mem.get("disableOOMKiller"):
            warn(__name__, "disableOOMKiller has no cgroup v2 equivalent and was ignored")
        if mem.get("kernel") or mem.get("kernelTCP"):
            warn(__name__, "kernel memory limits are deprecated by Linux and were ignored")

        cpu = res.get("cpu") or {}
        if cpu.get("shares"):
            write_value(fs, self._file("cpu.weight"), shares_to_weight(cpu["shares"]))
        quota, period = cpu.get("quota") or 0, cpu.get("period") or 0
        if quota or period:
            value = str(quota) if quota > 0 else "max"
            if period:
                value += f" {period}"
            write_value(fs, self._file("cpu.max"), value)
        if cpu.get("burst") is not None:
            write_value(fs, self._file("cpu.max.burst"), cpu["burst"])
        if cpu.get("realtimeRuntime") or cpu.get("realtimePeriod"):
            raise Unsupported("realtime cpu scheduling limits are not supported on cgroup v2")
        if cpu.get("idle") is not None:
            write_value(fs, self._file("cpu.idle"), cpu["idle"])
        if cpu.get("cpus"):
            write_value(fs, self._file("cpuset.cpus"), cpu["cpus"])
        if cpu.get("mems"):
            write_value(fs, self._file("cpuset.mems"), cpu["mems"])

        pids_limit = (res.get("pids") or {}).get("limit")
        if pids_limit:
            write_value(fs, self._file("pids.max"), "max" if pids_limit < 0 else pids_limit)

        self._set_io(res.get("blockIO") or {})
        for entry in res.get("hugepageLimits") or []:
            write_value(fs, self._file(f"hugetlb.{entry['pageSize']}.max"), entry.get("limit", 0))
        if res.get("devices"):
            # v2 has no devices files: access control needs a BPF_PROG_TYPE_CGROUP_DEVICE
            # program, which minke does not load yet.
            warn(__name__, "device cgroup rules are not enforced on cgroup v2 and were ignored")
        for key in ("network", "rdma"):
            if res.get(key):
                warn(__name__, "linux.resources.%s is not supported and was ignored", key)
        for key, value in (res.get("unified") or {}).items():
            path = self._file(key)
            if not fs.exists(path):
                raise Unsupported(f"cgroup file {key} does not exist (controller not enabled?)")
            write_value(fs, path, value)

    def _set_io(self, bio: Mapping[str, Any]) -> None:
        fs = self._fs
        bfq = self._file("io.bfq.weight")
        if bio.get("weight"):
            # io.bfq.weight takes the v1 range as is; io.weight needs converting.
            if fs.exists(bfq):
                write_value(fs, bfq, bio["weight"])
            else:
                write_value(fs, self._file("io.weight"), blkio_weight_to_io_weight(bio["weight"]))
        for entry in bio.get("weightDevice") or []:
            if entry.get("weight"):
                dev = f"{entry['major']}:{entry['minor']}"
                if fs.exists(bfq):
                    write_value(fs, bfq, f"{dev} {entry['weight']}")
                else:
                    write_value(fs, self._file("io.weight"), f"{dev} {blkio_weight_to_io_weight(entry['weight'])}")
        for key, name in (
            ("throttleReadBpsDevice", "rbps"),
            ("throttleWriteBpsDevice", "wbps"),
            ("throttleReadIOPSDevice", "riops"),
            ("throttleWriteIOPSDevice", "wiops"),
        ):
            for entry in bio.get(key) or []:
                rate = entry.get("rate", 0)
                write_value(fs, self._file("io.max"), f"{entry['major']}:{entry['minor']} {name}={rate or 'max'}")

    # --- freezer ---

    def _frozen(self) -> int | None:
        return read_keyed(self._fs, self._file("cgroup.events")).get("frozen")

    def freeze(self) -> None:
        """Freeze every task; returns when cgroup.events says frozen 1."""
        write_value(self._fs, self._file("cgroup.freeze"), 1)
        try:
            wait_until(lambda: self._frozen() == 1, FREEZE_TIMEOUT, f"cgroup {self.path} to freeze")
        except Unavailable:
            write_value(self._fs, self._file("cgroup.freeze"), 0)
            raise

    def thaw(self) -> None:
        write_value(self._fs, self._file("cgroup.freeze"), 0)
        wait_until(lambda: self._frozen() == 0, FREEZE_TIMEOUT, f"cgroup {self.path} to thaw")

    # --- reading ---

    def pids(self) -> list[int]:
        """Every process in the cgroup and its sub-cgroups."""
        return read_pids(self._fs, self.dir)

    def stats(self) -> dict[str, dict[str, int | None]]:
        """Normalised usage numbers (see common.empty_stats for the keys)."""
        fs, out = self._fs, empty_stats()
        if not fs.isdir(self.dir):
            return out
        m = out["memory"]
        m["usage"] = read_int(fs, self._file("memory.current"))
        m["limit"] = read_int(fs, self._file("memory.max"))
        m["max_usage"] = read_int(fs, self._file("memory.peak"))  # 5.19+
        stat = read_keyed(fs, self._file("memory.stat"))
        m["cache"] = stat.get("file")
        m["inactive_file"] = stat.get("inactive_file")
        m["oom_kills"] = read_keyed(fs, self._file("memory.events")).get("oom_kill")
        st = read_keyed(fs, self._file("cpu.stat"))
        c = out["cpu"]
        for key, name in (("usage_total", "usage_usec"), ("usage_user", "user_usec"), ("usage_system", "system_usec"),
                          ("throttled_time", "throttled_usec")):  # fmt: skip
            c[key] = st[name] * 1000 if name in st else None
        c["periods"], c["throttled_periods"] = st.get("nr_periods"), st.get("nr_throttled")
        out["pids"]["current"] = read_int(fs, self._file("pids.current"))
        out["pids"]["limit"] = read_int(fs, self._file("pids.max"))
        text = read_value(fs, self._file("io.stat"))
        if text is not None:
            read = write = 0
            for line in text.splitlines():
                for item in line.split()[1:]:
                    key, _, value = item.partition("=")
                    if key == "rbytes":
                        read += int(value)
                    elif key == "wbytes":
                        write += int(value)
            out["blkio"] = {"read_bytes": read, "write_bytes": write}
        return out

    def oom_killed(self) -> bool:
        """Whether the kernel OOM-killed a process in this cgroup (memory.events)."""
        return read_keyed(self._fs, self._file("memory.events")).get("oom_kill", 0) > 0

    # --- teardown ---

    def destroy(self, *, kill: bool = False) -> None:
        """Remove the cgroup (and sub-cgroups, and parents this manager created if empty).

        With kill, leftover processes are killed first (cgroup.kill on 5.14+, else frozen
        and SIGKILLed); without it, a cgroup that still has processes raises Conflict.
        """
        if self._fs.isdir(self.dir):
            if kill:
                self._kill_all()
            elif self.pids():
                raise Conflict(f"cgroup {self.path} still has processes")
            for sub in descendants_first(self._fs, self.dir):
                rmdir_retrying(self._fs, sub)
        for d in reversed(self._created):
            if d == self.dir:
                continue
            try:
                self._fs.rmdir(d)
            except OSError:
                pass  # a sibling still uses this parent
        self._created.clear()

    def _kill_all(self) -> None:
        if not self.pids():
            return
        kill_file = self._file("cgroup.kill")
        if self._fs.exists(kill_file):
            write_value(self._fs, kill_file, 1)
        else:
            frozen = False
            try:
                self.freeze()
                frozen = True
            except (Unavailable, Unsupported):
                pass
            for pid in self.pids():
                try:
                    os.kill(pid, _SIGKILL)
                except ProcessLookupError:
                    pass
            if frozen:
                self.thaw()
        wait_until(lambda: not self.pids(), 5.0, f"processes of cgroup {self.path} to exit")
