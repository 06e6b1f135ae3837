"""What ``minke info`` tells: Docker's ``GET /info`` fields that mean something here.

Read from the store (counts), the host (kernel, OS, CPUs, memory, cgroups) and the
configuration (root, snapshotter, runtimes); nothing is started or written.
"""

from __future__ import annotations

import os
from typing import Any

from minke import __version__


def system_info(engine: Any) -> dict[str, Any]:
    import shutil

    containers = engine.containers.list(all=True)
    states = [str(c.status) for c in containers]
    running = sum(1 for s in states if s in ("running", "restarting"))
    paused = states.count("paused")
    try:
        from minke.runtime.cgroups import detect_layout

        cgroup_version = "2" if detect_layout().mode == "v2" else "1"
    except Exception:  # noqa: BLE001 - no cgroups mounted: said as unknown
        cgroup_version = ""
    runtimes = {"minke": {"path": "minke-runtime"}}
    for name in ("runc", "crun"):
        path = shutil.which(name)
        if path:
            runtimes[name] = {"path": path}
    uname = os.uname()
    return {
        "Containers": len(containers),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": len(containers) - running - paused,
        "Images": len(engine.images.list(all=True)),
        "Driver": engine.snapshots.name,
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version,
        "KernelVersion": uname.release,
        "OperatingSystem": _os_name(),
        "OSType": "linux",
        "Architecture": uname.machine,
        "NCPU": os.cpu_count() or 0,
        "MemTotal": _mem_total(),
        "Name": uname.nodename,
        "DockerRootDir": engine.config.root,
        "ServerVersion": __version__,
        "Runtimes": runtimes,
        "DefaultRuntime": engine.config.runtime,
        "SecurityOptions": ["name=seccomp,profile=builtin"],
    }


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def render(info: dict[str, Any]) -> str:
    """``docker info``'s layout (its Server part) for these fields."""
    from minke.cli.units import bytes_size

    lines = [
        "Server:",
        f" Containers: {info['Containers']}",
        f"  Running: {info['ContainersRunning']}",
        f"  Paused: {info['ContainersPaused']}",
        f"  Stopped: {info['ContainersStopped']}",
        f" Images: {info['Images']}",
        f" Server Version: {info['ServerVersion']}",
        f" Storage Driver: {info['Driver']}",
        f" Logging Driver: {info['LoggingDriver']}",
        f" Cgroup Driver: {info['CgroupDriver']}",
        f" Cgroup Version: {info['CgroupVersion'] or 'unknown'}",
        f" Runtimes: {' '.join(sorted(info['Runtimes']))}",
        f" Default Runtime: {info['DefaultRuntime']}",
        " Security Options:",
        "  seccomp",
        "   Profile: builtin",
        f" Kernel Version: {info['KernelVersion']}",
        f" Operating System: {info['OperatingSystem']}",
        f" OSType: {info['OSType']}",
        f" Architecture: {info['Architecture']}",
        f" CPUs: {info['NCPU']}",
        f" Total Memory: {bytes_size(info['MemTotal'])}",
        f" Name: {info['Name']}",
        f" Minke Root Dir: {info['DockerRootDir']}",
    ]
    return "\n".join(lines) + "\n"
