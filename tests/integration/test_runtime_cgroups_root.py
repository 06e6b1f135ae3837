from __future__ import annotations

import glob
import os
import subprocess
import sys
import uuid

import pytest

from minke.errors import Conflict, InvalidArgument
from minke.runtime.cgroups import detect_layout, new_manager
from minke.runtime.cgroups.v1 import V1Manager

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(
        not os.path.isdir("/sys/fs/cgroup/memory"), reason="these tests cover the cgroup v1 host"
    ),
]

# A child that waits for a line on stdin before doing anything, so it can be moved into
# the cgroup first.
GATED = "import sys, time\nsys.stdin.readline()\n{work}\ntime.sleep(30)\n"


@pytest.fixture
def cgroup():
    top = f"minke-test-{uuid.uuid4().hex[:12]}"
    m = new_manager(f"{top}/ctr")
    procs: list[subprocess.Popen] = []
    yield m, procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
    m.destroy(kill=True)
    assert glob.glob(f"/sys/fs/cgroup/*/{top}") == []


def _start(procs, work: str = "") -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", GATED.format(work=work)], stdin=subprocess.PIPE)
    procs.append(p)
    return p


def _go(p: subprocess.Popen) -> None:
    assert p.stdin is not None
    p.stdin.write(b"go\n")
    p.stdin.flush()


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/status") as f:
        return next(line for line in f if line.startswith("State:")).split()[1]


def test_detects_hybrid_layout():
    layout = detect_layout()
    assert layout.mode in ("hybrid", "v1")
    assert layout.v1["memory"] == "/sys/fs/cgroup/memory"


def test_limits_stats_freeze_destroy(cgroup):
    m, procs = cgroup
    assert isinstance(m, V1Manager)
    m.create()
    m.set_resources({
        "memory": {"limit": 256 << 20, "swap": 512 << 20, "reservation": 64 << 20, "swappiness": 10},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 20},
    })
    mem = m.dir("memory")
    assert open(f"{mem}/memory.limit_in_bytes").read().strip() == str(256 << 20)
    assert open(f"{mem}/memory.memsw.limit_in_bytes").read().strip() == str(512 << 20)
    assert open(f"{mem}/memory.soft_limit_in_bytes").read().strip() == str(64 << 20)
    assert open(f"{m.dir('cpu')}/cpu.cfs_quota_us").read().strip() == "50000"
    assert open(f"{m.dir('cpu')}/cpu.shares").read().strip() == "512"
    assert open(f"{m.dir('cpuset')}/cpuset.cpus").read().strip() == "0"
    assert open(f"{m.dir('pids')}/pids.max").read().strip() == "20"

    p = _start(procs, "b = bytearray(20 << 20)\nsum(range(2_000_000))")
    m.apply(p.pid)
    _go(p)
    assert m.pids() == [p.pid]
    with open(f"/proc/{p.pid}/cgroup") as f:
        assert f"/{m.path}" in f.read()

    def usage_grew():
        return (m.stats()["memory"]["usage"] or 0) >= 20 << 20

    for _ in range(200):
        if usage_grew():
            break
        subprocess.run(["sleep", "0.02"])
    st = m.stats()
    assert st["memory"]["usage"] >= 20 << 20
    assert st["memory"]["limit"] == 256 << 20
    assert st["memory"]["max_usage"] >= st["memory"]["usage"] - (1 << 20)
    assert st["pids"] == {"current": 1, "limit": 20}
    assert st["cpu"]["usage_total"] > 0
    assert st["cpu"]["usage_user"] is not None and st["cpu"]["usage_system"] is not None
    assert st["blkio"]["read_bytes"] is not None

    m.freeze()
    assert open(f"{m.dir('freezer')}/freezer.state").read().strip() == "FROZEN"
    assert _state(p.pid) == "D"  # v1 freezer: frozen tasks show as uninterruptible
    m.thaw()
    assert _state(p.pid) in ("S", "R")

    with pytest.raises(Conflict, match="still has processes"):
        m.destroy()
    m.destroy(kill=True)
    assert p.wait(timeout=5) == -9
    assert not os.path.exists(m.dir("memory"))


def test_oom_kill_is_reported(cgroup):
    m, procs = cgroup
    m.create()
    m.set_resources({"memory": {"limit": 32 << 20, "swap": 32 << 20}})
    p = _start(procs, "b = bytearray(200 << 20)")
    m.apply(p.pid)
    assert not m.oom_killed()
    _go(p)
    assert p.wait(timeout=10) == -9
    assert m.oom_killed()
    assert m.stats()["memory"]["oom_kills"] >= 1


def test_invalid_values_name_the_file(cgroup):
    m, _ = cgroup
    m.create()
    with pytest.raises(InvalidArgument, match="cpu.cfs_quota_us"):
        m.set_resources({"cpu": {"quota": 10}})  # below the kernel's 1ms minimum
    with pytest.raises(InvalidArgument, match="cpuset.cpus"):
        m.set_resources({"cpu": {"cpus": "4096"}})
    with pytest.raises(InvalidArgument, match="memory.limit"):
        m.set_resources({"memory": {"limit": -5}})


def test_pids_limit_is_enforced(cgroup):
    m, procs = cgroup
    m.create()
    m.set_resources({"pids": {"limit": 4}})
    # The child forks sleepers until the kernel refuses (EAGAIN), then reports how many.
    work = (
        "import os\n"
        "n = 0\n"
        "for _ in range(10):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except BlockingIOError:\n"
        "        break\n"
        "    if pid == 0:\n"
        "        time.sleep(30)\n"
        "        os._exit(0)\n"
        "    n += 1\n"
        "print(n, flush=True)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", GATED.format(work=work)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    procs.append(p)
    m.apply(p.pid)
    _go(p)
    assert p.stdout is not None
    assert p.stdout.readline().strip() == b"3"  # the parent plus three children
    assert m.stats()["pids"] == {"current": 4, "limit": 4}
    m.destroy(kill=True)
    assert m.pids() == []
