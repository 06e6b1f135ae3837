"""``minke update``: change a container's resource limits and restart policy, as Docker's
``docker update`` does.

``changes`` is the body of Docker's ``POST /containers/{id}/update``: the resource fields of
a HostConfig (``Memory``, ``MemorySwap``, ``MemoryReservation``, ``NanoCpus``, ``CpuShares``,
``CpuPeriod``, ``CpuQuota``, ``CpusetCpus``, ``CpusetMems``, ``PidsLimit``, ``BlkioWeight``)
and ``RestartPolicy``.  A field left out, 0 or "" keeps the container's value (``PidsLimit``:
None keeps it, 0 or less means unlimited).

Lifecycle::

    merge_host_config(hc, changes)   Docker's rules: conflicting options, memory above the
                                     memory+swap already set, restart with --rm ...
    update(svc, ref, changes)        under the container's lock: the new HostConfig is
                                     saved; a running or paused container also gets the
                                     new limits from its runtime's ``update`` (on failure
                                     the old HostConfig is put back); a created or
                                     stopped one gets them at its next start
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from minke.errors import Conflict, InvalidArgument, MinkeError

MIN_MEMORY = 6 * 1024 * 1024  # Docker's linuxMinMemory

RESOURCE_KEYS = (
    "Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuShares", "CpuPeriod", "CpuQuota",
    "CpusetCpus", "CpusetMems", "PidsLimit", "BlkioWeight",
)  # fmt: skip
_MEMORY_KEYS = ("Memory", "MemorySwap", "MemoryReservation")
_CPU_KEYS = ("NanoCpus", "CpuShares", "CpuPeriod", "CpuQuota", "CpusetCpus", "CpusetMems")
_CPUSET = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")


def _int(changes: dict[str, Any], key: str) -> int:
    value = changes.get(key)
    if value in (None, ""):
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"invalid {key} {value!r}: must be an integer")
    return value


def check_changes(changes: dict[str, Any], ncpu: int | None = None) -> None:
    """Docker's checks of an update's values on their own (verifyContainerResources)."""
    unknown = set(changes) - set(RESOURCE_KEYS) - {"RestartPolicy"}
    if unknown:
        raise InvalidArgument(f"cannot update {', '.join(sorted(unknown))}")
    mem, swap, reservation = _int(changes, "Memory"), _int(changes, "MemorySwap"), _int(changes, "MemoryReservation")
    if mem < 0 or reservation < 0 or swap < -1:
        raise InvalidArgument("invalid memory limit: it cannot be negative")
    if 0 < mem < MIN_MEMORY:
        raise InvalidArgument("minimum memory limit allowed is 6MB")
    if mem > 0 and swap > 0 and swap < mem:
        raise InvalidArgument("minimum memoryswap limit should be larger than memory limit, see usage")
    if 0 < reservation < MIN_MEMORY:
        raise InvalidArgument("minimum memory reservation allowed is 6MB")
    if mem > 0 and reservation > 0 and mem < reservation:
        raise InvalidArgument("minimum memory limit can not be less than memory reservation limit, see usage")
    nano = _int(changes, "NanoCpus")
    ncpu = ncpu or os.cpu_count() or 1
    if nano < 0 or nano > ncpu * 1_000_000_000:
        raise InvalidArgument(f"range of cpus is from 0.01 to {ncpu}.00, as there are only {ncpu} cpus available")
    period, quota = _int(changes, "CpuPeriod"), _int(changes, "CpuQuota")
    if nano and (period or quota):
        raise InvalidArgument("conflicting options: nano cpus and cpu period/quota cannot both be set")
    if period and not 1000 <= period <= 1_000_000:
        raise InvalidArgument("cpu cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if 0 < quota < 1000:
        raise InvalidArgument("cpu cfs quota can not be less than 1ms (i.e. 1000)")
    if _int(changes, "CpuShares") < 0:
        raise InvalidArgument("invalid cpu shares: it cannot be negative")
    weight = _int(changes, "BlkioWeight")
    if weight and not 10 <= weight <= 1000:
        raise InvalidArgument("range of blkio weight is from 10 to 1000")
    for key in ("CpusetCpus", "CpusetMems"):
        value = changes.get(key) or ""
        if value and (not isinstance(value, str) or not _CPUSET.match(value)):
            raise InvalidArgument(f"invalid value {value} for cpuset {'cpus' if key == 'CpusetCpus' else 'mems'}")
    pids = changes.get("PidsLimit")
    if pids is not None and (isinstance(pids, bool) or not isinstance(pids, int)):
        raise InvalidArgument(f"invalid PidsLimit {pids!r}: must be an integer")


def current_swap(hc: dict[str, Any]) -> int:
    """The memory+swap limit a container has: Docker records twice the memory when none
    was given with a memory limit; 0 is no limit at all."""
    mem, swap = int(hc.get("Memory") or 0), int(hc.get("MemorySwap") or 0)
    return 2 * mem if swap == 0 and mem > 0 else swap


def merge_host_config(hc: dict[str, Any], changes: dict[str, Any], cid: str = "", ncpu: int | None = None) -> dict[str, Any]:
    """The HostConfig after ``changes``, by Docker's rules (container.UpdateContainer);
    a conflict raises Conflict("Cannot update container ID: ...")."""
    check_changes(changes, ncpu)

    def refuse(message: str) -> Conflict:
        return Conflict(f"Cannot update container {cid}: {message}")

    new = json.loads(json.dumps(hc))
    nano, period, quota = _int(changes, "NanoCpus"), _int(changes, "CpuPeriod"), _int(changes, "CpuQuota")
    # NanoCpus sets period and quota itself: once one way is in use the other is refused.
    if nano > 0 and int(hc.get("CpuPeriod") or 0) > 0:
        raise refuse("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set")
    if nano > 0 and int(hc.get("CpuQuota") or 0) > 0:
        raise refuse("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set")
    if period > 0 and int(hc.get("NanoCpus") or 0) > 0:
        raise refuse("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
    if quota > 0 and int(hc.get("NanoCpus") or 0) > 0:
        raise refuse("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
    for key in ("BlkioWeight", "CpuShares", "NanoCpus", "CpuPeriod", "CpuQuota", "MemoryReservation"):
        if _int(changes, key):
            new[key] = _int(changes, key)
    for key in ("CpusetCpus", "CpusetMems"):
        if changes.get(key):
            new[key] = changes[key]
    mem, swap = _int(changes, "Memory"), _int(changes, "MemorySwap")
    if mem:
        # Docker's rule, whatever the limits were: a new memory limit must stay within the
        # memory+swap already set unless the same update sets that too (unlimited, 0 or -1,
        # counts as below: `update --memory` alone fails on a container without limits).
        if swap == 0 and mem > current_swap(hc):
            raise refuse("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
        # The memory+swap stays what it was (twice the old memory when not given).
        new["MemorySwap"] = current_swap(hc)
        new["Memory"] = mem
    if swap:
        new["MemorySwap"] = swap
    if int(new.get("MemorySwap") or 0) > 0 and 0 < int(new.get("Memory") or 0) and new["MemorySwap"] < new["Memory"]:
        raise refuse("Minimum memoryswap limit should be larger than memory limit, see usage")
    if int(new.get("MemorySwap") or 0) > 0 and not int(new.get("Memory") or 0):
        raise refuse("You should always set the Memory limit when using Memoryswap limit, see usage")
    reservation = int(new.get("MemoryReservation") or 0)
    if reservation and int(new.get("Memory") or 0) and int(new["Memory"]) < reservation:
        raise refuse("Minimum memory limit can not be less than memory reservation limit, see usage")
    if changes.get("PidsLimit") is not None:
        new["PidsLimit"] = int(changes["PidsLimit"])
    policy = changes.get("RestartPolicy") or {}
    if policy.get("Name"):
        if policy["Name"] != "no" and hc.get("AutoRemove"):
            raise refuse("Restart policy cannot be updated because AutoRemove is enabled for the container")
        new["RestartPolicy"] = {"Name": policy["Name"], "MaximumRetryCount": int(policy.get("MaximumRetryCount") or 0)}
    return new


def linux_resources(hc: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The OCI linux.resources for the runtime's ``update``: the sections ``changes``
    touches, with their values from the merged HostConfig ``hc`` (the same mapping as the
    spec a container starts with)."""
    res: dict[str, Any] = {}
    touched = {k for k in RESOURCE_KEYS if changes.get(k) not in (None, 0, "")}
    if touched & set(_MEMORY_KEYS):
        memory: dict[str, Any] = {}
        mem, swap = int(hc.get("Memory") or 0), int(hc.get("MemorySwap") or 0)
        if mem > 0:
            memory["limit"] = mem
            memory["swap"] = -1 if swap == -1 else (swap if swap > 0 else 2 * mem)
        elif swap == -1:
            memory["swap"] = -1
        if int(hc.get("MemoryReservation") or 0) > 0:
            memory["reservation"] = int(hc["MemoryReservation"])
        res["memory"] = memory
    if touched & set(_CPU_KEYS):
        from minke.containers.spec import cpu_resources

        res["cpu"] = cpu_resources(hc)
    if "PidsLimit" in touched:
        pids = int(hc.get("PidsLimit") or 0)
        res["pids"] = {"limit": pids if pids > 0 else -1}
    if "BlkioWeight" in touched:
        res["blockIO"] = {"weight": int(hc["BlkioWeight"])}
    return res


def update(svc: Any, ref: str, changes: dict[str, Any]) -> Any:
    """Apply ``changes`` to the container ``ref`` (see the module docstring); the container."""
    from minke.containers.exec import runtime_for
    from minke.containers.service import Container
    from minke.containers.state import Status

    c = svc.get(ref)
    with svc._lock(c.id):
        # Re-read under the lock (get() would take the lock again to reconcile).
        c = Container.from_row(svc._row(c.id))
        if c.status in (Status.REMOVING, Status.DEAD):
            raise Conflict(f'Cannot update container {c.id}: container is marked for removal and cannot be "update"')
        old = c.host_config
        new = merge_host_config(old, changes, c.id)
        svc._update(c.id, host_config=json.dumps(new))
        res = linux_resources(new, changes)
        if res and c.status in (Status.RUNNING, Status.PAUSED):
            try:
                runtime_for(svc, c).update(c.id, res)
            except MinkeError as e:
                svc._update(c.id, host_config=json.dumps(old))
                raise type(e)(f"Cannot update container {c.id}: {e}") from None
    return svc.get(c.id)
