"""Helpers for the runtime tests: a busybox bundle and a runc-compatible runtime driver.

Every spec-driven test runs against minke-runtime AND runc: a test that fails on runc is
a wrong test.  Each test gets a private ``--root`` and unique container ids, and the driver
deletes (--force) every container it created when the test ends.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import uuid

VENV_BIN = os.path.dirname(os.path.realpath(__file__)).rsplit("/tests/", 1)[0] + "/.venv/bin"
MINKE_RUNTIME = os.path.join(VENV_BIN, "minke-runtime")
RUNC = shutil.which("runc") or "/usr/sbin/runc"
RUNTIMES = {"minke": MINKE_RUNTIME, "runc": RUNC}
BUSYBOX = "/bin/busybox"


def make_rootfs(path: str) -> str:
    """A busybox rootfs: /bin/busybox, a symlink per applet, and the usual mount points."""
    os.makedirs(os.path.join(path, "bin"))
    shutil.copy2(BUSYBOX, os.path.join(path, "bin", "busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for name in applets:
        if name != "busybox":
            os.symlink("busybox", os.path.join(path, "bin", name))
    for d in ("proc", "sys", "dev", "tmp", "etc", "root", "home/user"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    with open(os.path.join(path, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n")
    with open(os.path.join(path, "etc", "group"), "w") as f:
        f.write("root:x:0:\ntty:x:5:\nuser:x:1000:\n")
    return path


DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def default_config(args: list[str], rootfs: str = "rootfs") -> dict:
    """What ``runc spec`` writes (terminal off), for ``args``."""
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(DEFAULT_CAPS) for k in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": rootfs, "readonly": True},
        "hostname": "minke-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }  # fmt: skip


def read_pty(master: int, until: bytes | None = None) -> bytes:
    """What a pty master gives until the slave side is gone (EOF or EIO), or until
    ``until`` has been read."""
    out = b""
    while until is None or until not in out:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out


def write_bundle(path: str, rootfs: str, config: dict) -> str:
    """A bundle dir whose config.json points at the (shared, read-only) ``rootfs``."""
    os.makedirs(path, exist_ok=True)
    cfg = copy.deepcopy(config)
    cfg["root"]["path"] = rootfs
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f)
    return path


class Driver:
    """Runs one runtime binary with a private state root; remembers ids to clean up."""

    def __init__(self, name: str, root: str) -> None:
        self.name = name
        self.binary = RUNTIMES[name]
        self.root = root
        self.ids: list[str] = []

    def new_id(self) -> str:
        cid = f"t-{uuid.uuid4().hex[:12]}"
        self.ids.append(cid)
        return cid

    def __call__(self, *args: str, check: bool = True, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
        """Run a command; output is captured in files, not pipes, because a detached
        container keeps the stdio it was given and a pipe would never reach end of file."""
        import tempfile

        if kw.pop("capture_output", True) is False:
            p = subprocess.run([self.binary, "--root", self.root, *args], timeout=timeout, check=False, **kw)
        else:
            with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
                kw.pop("text", None)
                p = subprocess.run([self.binary, "--root", self.root, *args], stdout=out, stderr=err,
                                   timeout=timeout, check=False, text=True, **kw)  # fmt: skip
                out.seek(0)
                err.seek(0)
                p.stdout, p.stderr = out.read(), err.read()
        if check and p.returncode != 0:
            raise AssertionError(f"{self.name} {' '.join(args)} -> {p.returncode}: {p.stderr}")
        return p

    def run(self, bundle: str, **kw) -> subprocess.CompletedProcess:
        """``run`` in the foreground: the container's output and exit code."""
        return self("run", "--bundle", bundle, self.new_id(), check=False, **kw)

    def state(self, cid: str) -> dict:
        return json.loads(self("state", cid).stdout)

    def cleanup(self) -> None:
        for cid in self.ids:
            self("delete", "--force", cid, check=False)
