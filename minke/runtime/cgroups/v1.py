"""cgroup v1: one directory per hierarchy (memory, cpu, pids, freezer, ...)."""

from __future__ import annotations

import os
from _collections_abc import Mapping  # collections.abc imports all of collections (~4 ms)

from minke.errors import Conflict, FailedPrecondition, InvalidArgument, Unavailable, Unsupported
from minke.runtime.cgroups.common import (
    UNLIMITED_THRESHOLD,
    CgroupFs,
    check_path,
    descendants_first,
    device_rule,
    empty_stats,
    read_int,
    read_keyed,
    read_pids,
    read_value,
    rmdir_retrying,
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


def _limit_or_none(value: int | None) -> int | None:
    return None if value is None or value >= UNLIMITED_THRESHOLD else value


class V1Manager:
    """A cgroup in every mounted v1 hierarchy (see the package docstring for the lifecycle)."""

    version = 1

    def __init__(self, path: str, mounts: Mapping[str, str], *, fs: CgroupFs | None = None) -> None:
        self.path = check_path(path)
        self._fs = fs or CgroupFs()
        self._mounts = dict(mounts)  # controller -> mount point
        # Combined hierarchies (cpu,cpuacct) appear once.
        self._hierarchies = sorted(set(self._mounts.values()))
        self._created: list[str] = []

    # --- paths ---

    def dir(self, controller: str) -> str | None:
        """This cgroup's directory in the hierarchy of controller (None: not mounted)."""
        mount = self._mounts.get(controller)
        return None if mount is None else os.path.join(mount, self.path)

    def _file(self, controller: str, name: str) -> str:
        d = self.dir(controller)
        if d is None:
            raise Unsupported(f"cgroup v1 controller {controller} is not mounted")
        return os.path.join(d, name)

    def _dirs(self) -> list[str]:
        return [os.path.join(m, self.path) for m in self._hierarchies]

    # --- lifecycle ---

    def create(self) -> None:
        """mkdir the cgroup (and missing parents) in every hierarchy."""
        made: list[str] = []
        try:
            for mount in self._hierarchies:
                current = mount
                is_cpuset = self._mounts.get("cpuset") == mount
                for part in self.path.split("/"):
                    parent, current = current, os.path.join(current, part)
                    if not self._fs.isdir(current):
                        try:
                            self._fs.mkdir(current)
                        except FileExistsError:
                            pass
                        except PermissionError:
                            raise FailedPrecondition(f"cannot create cgroup {current}: permission denied") from None
                        else:
                            made.append(current)
                    if is_cpuset:
                        self._inherit_cpuset(parent, current)
        except BaseException:
            # Leave nothing half-made.
            for d in reversed(made):
                try:
                    self._fs.rmdir(d)
                except OSError:
                    pass
            raise
        self._created.extend(made)

    def _inherit_cpuset(self, parent: str, child: str) -> None:
        # A new v1 cpuset starts with empty cpus/mems and then refuses every task (ENOSPC);
        # copy the parent's, as runc does.
        for name in ("cpuset.cpus", "cpuset.mems"):
            if not read_value(self._fs, os.path.join(child, name)):
                value = read_value(self._fs, os.path.join(parent, name)) or ""
                if value:
                    write_value(self._fs, os.path.join(child, name), value)

    def apply(self, pid: int) -> None:
        """Move pid (a whole process) into the cgroup in every hierarchy."""
        if not isinstance(pid, int) or pid <= 0:
            raise InvalidArgument(f"invalid pid {pid!r}")
        for d in self._dirs():
            if not self._fs.isdir(d):
                raise FailedPrecondition(f"cgroup {d} does not exist")
            write_value(self._fs, os.path.join(d, "cgroup.procs"), pid)

    def set_resources(self, linux_resources: Mapping[str, Any] | None) -> None:
        """Write OCI linux.resources into the v1 controller files."""
        validate_resources(linux_resources)
        res = linux_resources or {}
        if res.get("unified"):
            raise InvalidArgument("linux.resources.unified needs cgroup v2")
        self._set_memory(res.get("memory") or {})
        self._set_cpu(res.get("cpu") or {})
        limit = (res.get("pids") or {}).get("limit")
        if limit:
            write_value(self._fs, self._file("pids", "pids.max"), "max" if limit < 0 else limit)
        self._set_blkio(res.get("blockIO") or {})
        for entry in res.get("hugepageLimits") or []:
            size = entry["pageSize"]
            write_value(self._fs, self._file("hugetlb", f"hugetlb.{size}.limit_in_bytes"), entry.get("limit", 0))
        devices = res.get("devices")
        if devices:
            for entry in devices:
                name = "devices.allow" if entry["allow"] else "devices.deny"
                write_value(self._fs, self._file("devices", name), device_rule(entry))
        for key in ("network", "rdma"):
            if res.get(key):
                warn(__name__, "linux.resources.%s is not supported and was ignored", key)

    def _set_memory(self, mem: Mapping[str, Any]) -> None:
        limit, swap = mem.get("limit"), mem.get("swap")
        if limit or swap:
            limit_file = self._file("memory", "memory.limit_in_bytes")
            swap_file = self._file("memory", "memory.memsw.limit_in_bytes")
            if swap and not self._fs.exists(swap_file):
                raise Unsupported("memory swap limit needs swap accounting (memory.memsw.*), not enabled here")
            if limit and swap:
                # memsw must stay >= limit at every moment: when memsw grows write it
                # first, when it shrinks write the limit first.
                current = read_int(self._fs, swap_file) or 0
                order = [(swap_file, swap), (limit_file, limit)]
                if swap != -1 and swap < current:
                    order.reverse()
                for path, value in order:
                    write_value(self._fs, path, value)
            elif limit:
                write_value(self._fs, limit_file, limit)
            else:
                write_value(self._fs, swap_file, swap)
        if mem.get("reservation"):
            write_value(self._fs, self._file("memory", "memory.soft_limit_in_bytes"), mem["reservation"])
        if mem.get("swappiness") is not None:
            write_value(self._fs, self._file("memory", "memory.swappiness"), mem["swappiness"])
        if mem.get("disableOOMKiller"):
            write_value(self._fs, self._file("memory", "memory.oom_control"), 1)
        if mem.get("kernel") or mem.get("kernelTCP"):
            warn(__name__, "kernel memory limits are deprecated by Linux and were ignored")

    def _set_cpu(self, cpu: Mapping[str, Any]) -> None:
        if cpu.get("shares"):
            write_value(self._fs, self._file("cpu", "cpu.shares"), cpu["shares"])
        # The period first: a quota is checked against the period already in place.
        if cpu.get("period"):
            write_value(self._fs, self._file("cpu", "cpu.cfs_period_us"), cpu["period"])
        if cpu.get("quota"):
            write_value(self._fs, self._file("cpu", "cpu.cfs_quota_us"), cpu["quota"])
        if cpu.get("burst") is not None:
            write_value(self._fs, self._file("cpu", "cpu.cfs_burst_us"), cpu["burst"])
        if cpu.get("realtimePeriod"):
            write_value(self._fs, self._file("cpu", "cpu.rt_period_us"), cpu["realtimePeriod"])
        if cpu.get("realtimeRuntime"):
            write_value(self._fs, self._file("cpu", "cpu.rt_runtime_us"), cpu["realtimeRuntime"])
        if cpu.get("idle") is not None:
            write_value(self._fs, self._file("cpu", "cpu.idle"), cpu["idle"])
        if cpu.get("cpus"):
            write_value(self._fs, self._file("cpuset", "cpuset.cpus"), cpu["cpus"])
        if cpu.get("mems"):
            write_value(self._fs, self._file("cpuset", "cpuset.mems"), cpu["mems"])

    def _blkio_file(self, plain: str, bfq: str) -> str:
        """blkio.weight where CFQ is used, blkio.bfq.weight where BFQ is (5.0+ kernels)."""
        for name in (plain, bfq):
            path = self._file("blkio", name)
            if self._fs.exists(path):
                return path
        raise Unsupported(f"block I/O weight is not supported here (no {plain} or {bfq})")

    def _set_blkio(self, bio: Mapping[str, Any]) -> None:
        if bio.get("weight"):
            write_value(self._fs, self._blkio_file("blkio.weight", "blkio.bfq.weight"), bio["weight"])
        if bio.get("leafWeight"):
            write_value(self._fs, self._file("blkio", "blkio.leaf_weight"), bio["leafWeight"])
        for entry in bio.get("weightDevice") or []:
            if entry.get("weight"):
                path = self._blkio_file("blkio.weight_device", "blkio.bfq.weight_device")
                write_value(self._fs, path, f"{entry['major']}:{entry['minor']} {entry['weight']}")
        for key, name in (
            ("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
            ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
            ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
            ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"),
        ):
            for entry in bio.get(key) or []:
                value = f"{entry['major']}:{entry['minor']} {entry.get('rate', 0)}"
                write_value(self._fs, self._file("blkio", name), value)

    # --- freezer ---

    def _freezer_state(self) -> str:
        return read_value(self._fs, self._file("freezer", "freezer.state")) or ""

    def freeze(self) -> None:
        """Freeze every task; returns when the kernel reports FROZEN."""
        path = self._file("freezer", "freezer.state")
        write_value(self._fs, path, "FROZEN")
        try:
            # FREEZING can linger while a task is in an uninterruptible sleep; asking
            # again makes the kernel retry the tasks it could not freeze yet.
            wait_until(
                lambda: self._freezer_state() == "FROZEN",
                FREEZE_TIMEOUT,
                f"cgroup {self.path} to freeze",
                poke=lambda: write_value(self._fs, path, "FROZEN"),
            )
        except Unavailable:
            write_value(self._fs, path, "THAWED")
            raise

    def thaw(self) -> None:
        path = self._file("freezer", "freezer.state")
        write_value(self._fs, path, "THAWED")
        wait_until(lambda: self._freezer_state() == "THAWED", FREEZE_TIMEOUT, f"cgroup {self.path} to thaw")

    # --- reading ---

    def pids(self) -> list[int]:
        """Every process in the cgroup and its sub-cgroups."""
        for controller in ("pids", "freezer", "memory", "cpu", "name=systemd"):
            d = self.dir(controller)
            if d is not None and self._fs.isdir(d):
                return read_pids(self._fs, d)
        dirs = [d for d in self._dirs() if self._fs.isdir(d)]
        return read_pids(self._fs, dirs[0]) if dirs else []

    def stats(self) -> dict[str, dict[str, int | None]]:
        """Normalised usage numbers (see common.empty_stats for the keys)."""
        fs, out = self._fs, empty_stats()
        mem_dir = self.dir("memory")
        if mem_dir and fs.isdir(mem_dir):
            m = out["memory"]
            m["usage"] = read_int(fs, os.path.join(mem_dir, "memory.usage_in_bytes"))
            m["limit"] = _limit_or_none(read_int(fs, os.path.join(mem_dir, "memory.limit_in_bytes")))
            m["max_usage"] = read_int(fs, os.path.join(mem_dir, "memory.max_usage_in_bytes"))
            stat = read_keyed(fs, os.path.join(mem_dir, "memory.stat"))
            m["cache"] = stat.get("total_cache", stat.get("cache"))
            m["inactive_file"] = stat.get("total_inactive_file", stat.get("inactive_file"))
            m["oom_kills"] = read_keyed(fs, os.path.join(mem_dir, "memory.oom_control")).get("oom_kill")
        acct = self.dir("cpuacct")
        if acct and fs.isdir(acct):
            c = out["cpu"]
            c["usage_total"] = read_int(fs, os.path.join(acct, "cpuacct.usage"))
            user = read_int(fs, os.path.join(acct, "cpuacct.usage_user"))
            system = read_int(fs, os.path.join(acct, "cpuacct.usage_sys"))
            if user is None or system is None:
                # Older kernels: cpuacct.stat in USER_HZ ticks.
                ticks = read_keyed(fs, os.path.join(acct, "cpuacct.stat"))
                hz = os.sysconf("SC_CLK_TCK")
                user = ticks["user"] * 1_000_000_000 // hz if "user" in ticks else None
                system = ticks["system"] * 1_000_000_000 // hz if "system" in ticks else None
            c["usage_user"], c["usage_system"] = user, system
        cpu_dir = self.dir("cpu")
        if cpu_dir and fs.isdir(cpu_dir):
            st = read_keyed(fs, os.path.join(cpu_dir, "cpu.stat"))
            out["cpu"]["periods"] = st.get("nr_periods")
            out["cpu"]["throttled_periods"] = st.get("nr_throttled")
            out["cpu"]["throttled_time"] = st.get("throttled_time")
        pids_dir = self.dir("pids")
        if pids_dir and fs.isdir(pids_dir):
            out["pids"]["current"] = read_int(fs, os.path.join(pids_dir, "pids.current"))
            out["pids"]["limit"] = read_int(fs, os.path.join(pids_dir, "pids.max"))
        blk = self.dir("blkio")
        if blk and fs.isdir(blk):
            out["blkio"] = _blkio_bytes(fs, blk)
        return out

    def oom_killed(self) -> bool:
        """Whether the kernel OOM-killed a process in this cgroup (memory.oom_control)."""
        d = self.dir("memory")
        if d is None:
            return False
        return read_keyed(self._fs, os.path.join(d, "memory.oom_control")).get("oom_kill", 0) > 0

    # --- teardown ---

    def destroy(self, *, kill: bool = False) -> None:
        """Remove the cgroup from every hierarchy.

        With kill, leftover processes are SIGKILLed first (frozen meanwhile so none can
        fork away); without it, a cgroup that still has processes raises Conflict.
        """
        if kill:
            self._kill_all()
        elif self.pids():
            raise Conflict(f"cgroup {self.path} still has processes")
        for d in self._dirs():
            if self._fs.isdir(d):
                for sub in descendants_first(self._fs, d):
                    rmdir_retrying(self._fs, sub)
        for d in reversed(self._created):
            if d in self._dirs():
                continue
            try:
                self._fs.rmdir(d)
            except OSError:
                pass  # a sibling container still uses this parent
        self._created.clear()

    def _kill_all(self) -> None:
        pids = self.pids()
        if not pids:
            return
        frozen = False
        if self.dir("freezer") and self._fs.isdir(self.dir("freezer") or ""):
            try:
                self.freeze()
                frozen = True
            except Unavailable:
                pass
        for pid in self.pids():
            try:
                os.kill(pid, _SIGKILL)
            except ProcessLookupError:
                pass
        if frozen:
            self.thaw()  # SIGKILL is delivered once the tasks run again
        wait_until(lambda: not self.pids(), 5.0, f"processes of cgroup {self.path} to exit")


def _blkio_bytes(fs: CgroupFs, directory: str) -> dict[str, int | None]:
    """Read/Write byte totals from blkio.throttle.io_service_bytes(_recursive)."""
    for name in (
        "blkio.throttle.io_service_bytes_recursive",
        "blkio.io_service_bytes_recursive",
        "blkio.throttle.io_service_bytes",
    ):
        text = read_value(fs, os.path.join(directory, name))
        if text is None:
            continue
        read = write = 0
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] == "Read":
                read += int(parts[2])
            elif len(parts) == 3 and parts[1] == "Write":
                write += int(parts[2])
        return {"read_bytes": read, "write_bytes": write}
    return {"read_bytes": None, "write_bytes": None}
