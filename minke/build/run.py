"""RUN steps: one command in a throw-away OCI bundle on the step's rootfs, through runc
(or any runc-compatible binary).  The builder's own minimal spec: Docker's default
capabilities, private pid/ipc/uts/mount namespaces, a network namespace unless
``--network=host``; the container is deleted whatever happens."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Sequence

from minke.build.record import record
from minke.errors import Unavailable

_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
         "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
         "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]


@record
class RunResult:
    exit_code: int
    output: bytes


def _spec(rootfs: str, argv: Sequence[str], env: Sequence[str], cwd: str, uid: int, gid: int,
          network: str, extra_mounts: Sequence[tuple[str, str, bool]]) -> dict[str, object]:
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if network != "host":
        namespaces.append({"type": "network"})
    mounts: list[dict[str, object]] = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
    ]
    if network == "host":
        # The host's resolver config, as BuildKit gives a host-network step.
        for name in ("resolv.conf", "hosts"):
            if os.path.exists(f"/etc/{name}"):
                mounts.append({"destination": f"/etc/{name}", "type": "bind",
                               "source": f"/etc/{name}", "options": ["rbind", "ro"]})
    for source, dest, readonly in extra_mounts:
        mounts.append({"destination": dest, "type": "bind", "source": source,
                       "options": ["rbind", "ro" if readonly else "rw"]})
    return {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": uid, "gid": gid}, "args": list(argv),
                    "env": list(env), "cwd": cwd or "/",
                    "capabilities": {k: _CAPS for k in ("bounding", "effective", "permitted")},
                    "noNewPrivileges": False},
        "root": {"path": rootfs, "readonly": False},
        "hostname": "buildkitsandbox",
        "mounts": mounts,
        "linux": {"namespaces": namespaces,
                  "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list"],
                  "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]},
    }


def run_in_rootfs(rootfs: str, argv: Sequence[str], *, env: Sequence[str], cwd: str,
                  uid: int = 0, gid: int = 0, network: str = "default",
                  mounts: Sequence[tuple[str, str, bool]] = (), work_dir: str,
                  runtime: str = "runc", state_root: str) -> RunResult:
    """Run ``argv`` on ``rootfs`` (mounted, writable); return exit code and output."""
    if shutil.which(runtime) is None and not os.path.exists(runtime):
        raise Unavailable(f"oci runtime {runtime!r} not found")
    bundle = os.path.join(work_dir, "bundle-" + uuid.uuid4().hex[:12])
    os.makedirs(bundle)
    cid = "minke-build-" + uuid.uuid4().hex[:16]
    for d in ("proc", "dev", "sys", "etc"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    for f in ("etc/resolv.conf", "etc/hosts"):
        p = os.path.join(rootfs, f)
        if network == "host" and not os.path.lexists(p):
            open(p, "a").close()  # a mount point for the bind
    if cwd:
        os.makedirs(os.path.join(rootfs, cwd.lstrip("/")), exist_ok=True)
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(_spec(rootfs, argv, env, cwd, uid, gid, network, mounts), f)
    try:
        proc = subprocess.run([runtime, "--root", state_root, "run", "--bundle", bundle, cid],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, check=False)
        return RunResult(proc.returncode, proc.stdout)
    finally:
        subprocess.run([runtime, "--root", state_root, "delete", "--force", cid],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(bundle, ignore_errors=True)
