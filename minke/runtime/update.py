"""``minke-runtime update``: change the cgroup limits of a created, running or paused
container, as ``runc update`` does.

    minke-runtime update [--memory N] [--memory-reservation N] [--memory-swap N|-1]
                         [--cpu-share N] [--cpu-period N] [--cpu-quota N]
                         [--cpu-rt-period N] [--cpu-rt-runtime N] [--cpuset-cpus LIST]
                         [--cpuset-mems LIST] [--pids-limit N] [--blkio-weight N] ID
    minke-runtime update -r FILE|- ID        # an OCI linux.resources object (flags ignored)

A limit left out, or given as 0, stays as it is (runc's rule); memory sizes take runc's
units (``64m``, ``1g``).  The new limits are written through the cgroup manager and merged
into the container's saved config, so ``state`` and a later ``update`` see them.
"""

from __future__ import annotations

import json
from typing import Any

from minke.errors import Conflict, FailedPrecondition, InvalidArgument

# runc's update flags -> (OCI section, key, kind); "bytes" takes units and -1.
FLAG_FIELDS: dict[str, tuple[str, str, str]] = {
    "memory": ("memory", "limit", "bytes"),
    "memory_reservation": ("memory", "reservation", "bytes"),
    "memory_swap": ("memory", "swap", "bytes"),
    "cpu_share": ("cpu", "shares", "int"),
    "cpu_period": ("cpu", "period", "int"),
    "cpu_quota": ("cpu", "quota", "int"),
    "cpu_rt_period": ("cpu", "realtimePeriod", "int"),
    "cpu_rt_runtime": ("cpu", "realtimeRuntime", "int"),
    "cpuset_cpus": ("cpu", "cpus", "str"),
    "cpuset_mems": ("cpu", "mems", "str"),
    "pids_limit": ("pids", "limit", "int"),
    "blkio_weight": ("blockIO", "weight", "int"),
}

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_bytes(flag: str, value: str) -> int:
    """A size as runc takes it (go-units RAMInBytes): ``1024``, ``64m``, ``1.5GiB``; -1."""
    text = value.strip()
    if text == "-1":
        return -1
    low = text.lower()
    for suffix in ("ib", "b"):
        if low.endswith(suffix) and len(low) > len(suffix):
            low = low[: -len(suffix)]
            break
    unit = low[-1:] if low[-1:] in _UNITS and low[-1:] != "" else ""
    number = low[: -1] if unit else low
    try:
        amount = float(number.strip())
    except ValueError:
        raise InvalidArgument(f"invalid value for {flag}: {value!r}") from None
    if amount < 0:
        raise InvalidArgument(f"invalid value for {flag}: {value!r}")
    return int(amount * _UNITS[unit])


def resources_from_flags(opts: dict[str, Any], read: Any = None) -> dict[str, Any]:
    """The OCI linux.resources an update's flags ask for (only what was given).

    With ``resources`` (``-r FILE`` or ``-r -``, read through ``read(path) -> text``) the
    file's object is used and the other flags are ignored, as runc does.
    """
    source = opts.get("resources")
    if source:
        text = (read or _read)(source)
        try:
            res = json.loads(text)
        except ValueError as e:
            raise InvalidArgument(f"resources {source}: invalid json: {e}") from None
        if not isinstance(res, dict):
            raise InvalidArgument(f"resources {source}: must be a json object")
        return res
    res: dict[str, Any] = {}
    for key, (section, field, kind) in FLAG_FIELDS.items():
        value = opts.get(key)
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if kind == "bytes":
            parsed: Any = parse_bytes(flag, str(value))
        elif kind == "int":
            try:
                parsed = int(str(value).strip())
            except ValueError:
                raise InvalidArgument(f"invalid value for {flag}: {value!r}") from None
        else:
            parsed = str(value)
        res.setdefault(section, {})[field] = parsed
    return res


def _read(source: str) -> str:
    if source == "-":
        import sys

        return sys.stdin.read()
    try:
        with open(source) as f:
            return f.read()
    except FileNotFoundError:
        raise InvalidArgument(f"resources file {source}: no such file") from None


def _set(value: Any) -> bool:
    """Whether an update value changes something: 0, "" and None leave a limit alone."""
    return value not in (None, 0, "")


def merge_resources(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """``old`` with what ``new`` sets laid over it, section by section (objects merge, lists
    and plain values replace); unset values in ``new`` keep the old ones."""
    out = json.loads(json.dumps(old or {}))
    for key, value in new.items():
        if isinstance(value, dict):
            section = out.get(key) if isinstance(out.get(key), dict) else {}
            for k, v in value.items():
                if _set(v) or (isinstance(v, bool)):
                    section[k] = v
            out[key] = section
        elif isinstance(value, list):
            if value:
                out[key] = value
        elif _set(value):
            out[key] = value
    return out


def effective(new: dict[str, Any], saved: dict[str, Any]) -> dict[str, Any]:
    """What to write to the cgroup for ``new``, completed from the saved limits where the
    kernel needs both halves of a pair."""
    res = json.loads(json.dumps(new))
    for section in ("memory", "cpu", "pids", "blockIO"):
        if section in res and res[section] is not None and not isinstance(res[section], dict):
            raise InvalidArgument(f"linux.resources.{section} must be an object")
    cpu = res.get("cpu") or {}
    old_cpu = saved.get("cpu") or {}
    # cgroup v2 writes quota and period together (cpu.max): one alone keeps the other's
    # saved value, as runc does.
    if _set(cpu.get("quota")) != _set(cpu.get("period")):
        other = "period" if _set(cpu.get("quota")) else "quota"
        if _set(old_cpu.get(other)):
            cpu[other] = old_cpu[other]
    mem = res.get("memory") or {}
    # Unlimited memory with no swap given: unlimited swap too (runc), else the kernel
    # would refuse a memory limit above memory+swap.
    if mem.get("limit") == -1 and not _set(mem.get("swap")):
        mem["swap"] = -1
    return res


def update(rt: Any, container_id: str, resources: dict[str, Any]) -> None:
    """Apply ``resources`` to the container's cgroup and record them in its state."""
    from minke.runtime import state as st_mod
    from minke.runtime.cgroups import new_manager
    from minke.runtime.cgroups.common import validate_resources

    validate_resources(resources)
    st = rt.load(container_id)
    if rt.status(st) == st_mod.STOPPED:
        raise FailedPrecondition("container not running")
    config = st.setdefault("config", {})
    linux = config.setdefault("linux", {})
    saved = linux.get("resources") or {}
    res = effective(resources, saved)
    mgr = new_manager(st["cgroups_path"])
    mem = res.get("memory") or {}
    if mem.get("swap") == -1 and not _set((resources.get("memory") or {}).get("swap")) and mgr.version == 1:
        # The unlimited swap effective() added, only where the host accounts swap at all.
        import os

        memdir = mgr.dir("memory")  # type: ignore[attr-defined]
        if memdir is None or not os.path.exists(os.path.join(memdir, "memory.memsw.limit_in_bytes")):
            del mem["swap"]
    try:
        mgr.set_resources(res)
    except Conflict as e:
        # EBUSY on the memory limit: the kernel could not reclaim down to it.  runc's words.
        limit = mem.get("limit")
        if limit and ("memory.limit_in_bytes" in str(e) or "memory.max" in str(e)):
            usage = mgr.stats()["memory"]
            raise Conflict(f"unable to set memory limit to {limit} (current usage: {usage['usage']}, "
                           f"peak usage: {usage['max_usage']})") from None
        raise
    linux["resources"] = merge_resources(saved, res)
    st_mod.save(rt.root, st)
