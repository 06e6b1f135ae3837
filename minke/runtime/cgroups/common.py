"""What both cgroup managers share: file access, error mapping, validation, conversions."""

from __future__ import annotations

import errno
import os
import time
from _collections_abc import Mapping  # collections.abc imports all of collections (~4 ms)

from minke.errors import (
    Conflict,
    InvalidArgument,
    MinkeError,
    NotFound,
    PermissionDenied,
    Unavailable,
    Unsupported,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs every runtime call ~3 ms of import; re ~2 ms
    from collections.abc import Callable
    from typing import Any



def warn(logger: str, message: str, *args: Any) -> None:
    """Log a warning; logging is imported only when there is something to say (hot path)."""
    import logging

    logging.getLogger(logger).warning(message, *args)


def debug(logger: str, message: str, *args: Any) -> None:
    import logging

    logging.getLogger(logger).debug(message, *args)


# Above this a v1 limit means "unlimited" (the kernel reports PAGE_COUNTER_MAX pages).
UNLIMITED_THRESHOLD = 1 << 62


class CgroupFs:
    """File operations on a cgroup filesystem.

    A seam: tests subclass it to emulate what the kernel does on mkdir/rmdir in cgroupfs
    (interface files appear and disappear with the directory).
    """

    def read(self, path: str) -> str:
        with open(path) as f:
            return f.read()

    def write(self, path: str, value: str) -> None:
        # One write() per value: cgroupfs parses each write on its own.  O_TRUNC is ignored
        # by cgroupfs and makes a plain-file tree behave the same.
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def mkdir(self, path: str) -> None:
        os.mkdir(path, 0o755)

    def rmdir(self, path: str) -> None:
        os.rmdir(path)

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path)


def write_value(fs: CgroupFs, path: str, value: str | int) -> None:
    """Write one value to a cgroup file, turning errno into the right minke error."""
    text = str(value)
    try:
        fs.write(path, text)
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.ERANGE, errno.EOVERFLOW):
            raise InvalidArgument(f"invalid value {text!r} for {path}") from None
        if e.errno == errno.ENOENT:
            raise Unsupported(f"{path} does not exist: controller not available here") from None
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise PermissionDenied(f"cannot write {text!r} to {path}: {e.strerror}") from None
        if e.errno == errno.EBUSY:
            raise Conflict(f"cannot write {text!r} to {path}: device or resource busy") from None
        if e.errno == errno.ESRCH:
            raise NotFound(f"cannot write {text!r} to {path}: no such process") from None
        raise MinkeError(f"cannot write {text!r} to {path}: {e.strerror}") from None


def read_value(fs: CgroupFs, path: str) -> str | None:
    """The stripped contents of a cgroup file, or None when it does not exist."""
    try:
        return fs.read(path).strip()
    except FileNotFoundError:
        return None


def read_int(fs: CgroupFs, path: str) -> int | None:
    text = read_value(fs, path)
    if text is None or text == "":
        return None
    if text == "max":
        return None
    return int(text.split()[0])


def read_keyed(fs: CgroupFs, path: str) -> dict[str, int]:
    """A flat keyed file ("key value" per line: memory.stat, cpu.stat, memory.events)."""
    text = read_value(fs, path)
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def read_pids(fs: CgroupFs, directory: str) -> list[int]:
    """Every pid in cgroup.procs of directory and of its descendant cgroups."""
    pids: list[int] = []
    if not fs.isdir(directory):
        return pids
    text = read_value(fs, os.path.join(directory, "cgroup.procs")) or ""
    pids.extend(int(p) for p in text.split())
    for name in sorted(fs.listdir(directory)):
        sub = os.path.join(directory, name)
        if fs.isdir(sub):
            pids.extend(read_pids(fs, sub))
    return sorted(set(pids))


def descendants_first(fs: CgroupFs, directory: str) -> list[str]:
    """directory and its sub-cgroups, deepest first (the order rmdir needs)."""
    out: list[str] = []
    for name in sorted(fs.listdir(directory)):
        sub = os.path.join(directory, name)
        if fs.isdir(sub):
            out.extend(descendants_first(fs, sub))
    out.append(directory)
    return out


def rmdir_retrying(fs: CgroupFs, path: str, timeout: float = 2.0) -> None:
    """rmdir a cgroup; EBUSY right after the last process exits is retried a little."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            fs.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                if e.errno in (errno.EBUSY, errno.ENOTEMPTY):
                    raise Conflict(f"cgroup {path} is still in use") from None
                raise MinkeError(f"cannot remove cgroup {path}: {e.strerror}") from None
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def wait_until(check: Callable[[], bool], timeout: float, what: str, poke: Callable[[], None] | None = None) -> None:
    """Poll check() until true; call poke() now and then (to re-request a state)."""
    deadline = time.monotonic() + timeout
    delay = 0.0005
    n = 0
    while not check():
        if time.monotonic() > deadline:
            raise Unavailable(f"timed out waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
        n += 1
        if poke is not None and n % 8 == 0:
            poke()


def check_path(path: str) -> str:
    """The cgroup path relative to each hierarchy's root; rejects what could escape it."""
    if not isinstance(path, str) or not path.strip("/"):
        raise InvalidArgument(f"invalid cgroup path {path!r}")
    if ":" in path:
        raise Unsupported(f"systemd cgroup paths are not supported: {path!r}")
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise InvalidArgument(f"invalid cgroup path {path!r}")
    return "/".join(parts)


# --- conversions ----------------------------------------------------------------------------


def shares_to_weight(shares: int) -> int:
    """cgroup v1 cpu.shares [2, 262144] -> v2 cpu.weight [1, 10000], the linear map runc,
    crun and Kubernetes use (shares 1024 -> weight 39)."""
    shares = min(max(shares, 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_weight_to_io_weight(weight: int) -> int:
    """v1 blkio weight [10, 1000] -> v2 io.weight [1, 10000]."""
    return 1 + ((weight - 10) * 9999) // 990


def swap_for_v2(swap: int | None, limit: int | None) -> int | None:
    """OCI memory.swap (memory + swap, v1 semantics) -> v2 memory.swap.max (swap only).

    None: leave alone; -1: unlimited.  Same rules as runc: unlimited memory with unset swap
    means unlimited swap too; swap needs a memory limit and must not be below it.
    """
    if limit == -1 and not swap:
        return -1
    if swap is None or swap == 0:
        return None
    if swap == -1:
        return -1
    if not limit or limit == -1:
        raise InvalidArgument("memory swap limit needs a memory limit")
    if swap < limit:
        raise InvalidArgument(f"memory+swap limit {swap} is below the memory limit {limit}")
    return swap - limit


# --- validation ----------------------------------------------------------------------------

def _is_cpuset(value: str) -> bool:
    """A cpuset list, ``0-3, 5``: numbers and ranges, commas with blanks around them.
    By hand, not with re: its import (~7 ms here) was most of every create's check of
    the resources, on the path of the container's first cgroup move."""
    for part in value.split(","):
        lo, dash, hi = part.strip().partition("-")
        if not lo.isdecimal() or (dash and not hi.isdecimal()):
            return False
    return True


def _is_page_size(value: str) -> bool:
    """A hugepage size as the kernel names its files: ``2MB``, ``1GB``, ``64KB``."""
    return len(value) > 2 and value[:-2].isdecimal() and value[-2] in "KMG" and value[-1] == "B"


_KNOWN = {"memory", "cpu", "pids", "blockIO", "hugepageLimits", "devices", "unified", "network", "rdma"}


def _int(section: Mapping[str, Any], key: str, where: str, minimum: int | None = None, maximum: int | None = None) -> int | None:
    value = section.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"linux.resources.{where}.{key} must be an integer, not {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise InvalidArgument(f"invalid linux.resources.{where}.{key} {value}")
    return value


def _section(res: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = res.get(key) or {}
    if not isinstance(value, Mapping):
        raise InvalidArgument(f"linux.resources.{key} must be an object")
    return value


def _limit(section: Mapping[str, Any], key: str, where: str) -> int | None:
    """A byte limit: -1 (unlimited), 0 (unset) or positive."""
    return _int(section, key, where, minimum=-1)


def validate_resources(res: Mapping[str, Any] | None) -> None:
    """Check types and ranges of OCI linux.resources before anything is written."""
    if res is None:
        return
    if not isinstance(res, Mapping):
        raise InvalidArgument("linux.resources must be an object")
    mem = _section(res, "memory")
    limit = _limit(mem, "limit", "memory")
    swap = _limit(mem, "swap", "memory")
    _limit(mem, "reservation", "memory")
    _int(mem, "swappiness", "memory", 0, 100)
    if swap not in (None, 0, -1) and limit not in (None, 0, -1) and swap < limit:
        raise InvalidArgument(f"memory+swap limit {swap} is below the memory limit {limit}")
    if "disableOOMKiller" in mem and not isinstance(mem["disableOOMKiller"], bool):
        raise InvalidArgument("linux.resources.memory.disableOOMKiller must be a boolean")
    cpu = _section(res, "cpu")
    _int(cpu, "shares", "cpu", 0, 262144)
    _int(cpu, "quota", "cpu", -1)
    _int(cpu, "period", "cpu", 0, 1000000)
    _int(cpu, "burst", "cpu", 0)
    _int(cpu, "realtimeRuntime", "cpu", -1)
    _int(cpu, "realtimePeriod", "cpu", 0)
    _int(cpu, "idle", "cpu", 0, 1)
    for key in ("cpus", "mems"):
        value = cpu.get(key)
        if value is not None and (not isinstance(value, str) or (value and not _is_cpuset(value))):
            raise InvalidArgument(f"invalid linux.resources.cpu.{key} {value!r}")
    _int(_section(res, "pids"), "limit", "pids")
    bio = _section(res, "blockIO")
    for key in ("weight", "leafWeight"):
        value = _int(bio, key, "blockIO", 0, 1000)
        if value and value < 10:
            raise InvalidArgument(f"invalid linux.resources.blockIO.{key} {value}")
    for key in ("weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
                "throttleReadIOPSDevice", "throttleWriteIOPSDevice"):  # fmt: skip
        entries = bio.get(key) or []
        if not isinstance(entries, list):
            raise InvalidArgument(f"linux.resources.blockIO.{key} must be a list")
        for entry in entries:
            if not isinstance(entry, Mapping):
                raise InvalidArgument(f"linux.resources.blockIO.{key} entries must be objects")
            _int(entry, "major", f"blockIO.{key}", 0)
            _int(entry, "minor", f"blockIO.{key}", 0)
            if entry.get("major") is None or entry.get("minor") is None:
                raise InvalidArgument(f"linux.resources.blockIO.{key} entries need major and minor")
            _int(entry, "rate", f"blockIO.{key}", 0)
            _int(entry, "weight", f"blockIO.{key}", 0, 1000)
    for entry in res.get("hugepageLimits") or []:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("pageSize"), str):
            raise InvalidArgument("linux.resources.hugepageLimits entries need a pageSize")
        if not _is_page_size(entry["pageSize"]):
            raise InvalidArgument(f"invalid hugepage size {entry['pageSize']!r}")
        _int(entry, "limit", "hugepageLimits", 0)
    for entry in res.get("devices") or []:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("allow"), bool):
            raise InvalidArgument("linux.resources.devices entries need allow: true or false")
        if entry.get("type", "a") not in ("a", "b", "c"):
            raise InvalidArgument(f"invalid device type {entry.get('type')!r}")
        access = entry.get("access", "rwm")
        if not isinstance(access, str) or not access or set(access) - set("rwm"):
            raise InvalidArgument(f"invalid device access {access!r}")
        _int(entry, "major", "devices", -1)
        _int(entry, "minor", "devices", -1)
    unified = res.get("unified") or {}
    if not isinstance(unified, Mapping):
        raise InvalidArgument("linux.resources.unified must be an object")
    for key, value in unified.items():
        if not isinstance(key, str) or "/" in key or key.startswith(".") or not isinstance(value, str):
            raise InvalidArgument(f"invalid linux.resources.unified entry {key!r}")


def device_rule(entry: Mapping[str, Any]) -> str:
    """An OCI device cgroup entry as a v1 devices.allow/deny line ("c 1:3 rwm")."""
    kind = entry.get("type", "a")
    major, minor = entry.get("major"), entry.get("minor")
    major_s = "*" if major is None or major == -1 else str(major)
    minor_s = "*" if minor is None or minor == -1 else str(minor)
    return f"{kind} {major_s}:{minor_s} {entry.get('access', 'rwm')}"


def empty_stats() -> dict[str, dict[str, int | None]]:
    """The normalised stats shape both managers return (None: not available)."""
    return {
        "memory": {"usage": None, "limit": None, "max_usage": None, "cache": None,
                   "inactive_file": None, "oom_kills": None},
        "cpu": {"usage_total": None, "usage_user": None, "usage_system": None,
                "periods": None, "throttled_periods": None, "throttled_time": None},
        "pids": {"current": None, "limit": None},
        "blkio": {"read_bytes": None, "write_bytes": None},
    }  # fmt: skip
