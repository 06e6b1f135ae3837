"""Looking into a container: top (host ``ps`` for its processes), stats (its cgroup).

The pids come from the runtime's ``ps --format json`` (runc's and minke-runtime's), which
reads them from the container's cgroup.
"""

from __future__ import annotations

import os

from minke import fastjson
from minke.errors import Conflict, InvalidArgument, MinkeError
from minke.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing for annotations only: its import costs a short command ~5 ms
    from typing import Any


def container_pids(svc: Any, c: Any) -> list[int]:
    rt = svc._builtin_runtime(c)
    if rt is not None:  # in this process: `minke-runtime ps` would be another interpreter (~40 ms)
        try:
            return rt.pids(c.id)
        except (MinkeError, OSError) as e:
            raise MinkeError(f"runtime ps failed: {e}") from None
    code, out, err = run_capture(svc.runtime_argv(c.runtime) + ["ps", "--format", "json", c.id])
    if code != 0:
        raise MinkeError(f"runtime ps failed: {err.strip().splitlines()[-1] if err.strip() else code}")
    return [int(x) for x in fastjson.loads(out or "[]")]


def run_capture(argv: list[str]) -> tuple[int, str, str]:
    """Run ``argv`` (looked up in PATH) with stdin on /dev/null: its exit code, stdout and
    stderr.  subprocess.run's, without subprocess (its import is ~10 ms of a `top`)."""
    import select

    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, out_w, 1),
            (os.POSIX_SPAWN_DUP2, err_w, 2),
        ])
    except OSError as e:
        for fd in (out_r, out_w, err_r, err_w):
            os.close(fd)
        return 127, "", f"{argv[0]}: {e.strerror}"
    os.close(out_w)
    os.close(err_w)
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    open_fds = [out_r, err_r]
    while open_fds:  # both at once: a full stderr pipe must not stall stdout's reader
        for fd in select.select(open_fds, [], [])[0]:
            data = os.read(fd, 65536)
            if data:
                chunks[fd].append(data)
            else:
                open_fds.remove(fd)
                os.close(fd)
    _, status = os.waitpid(pid, 0)
    text = {fd: b"".join(parts).decode(errors="replace") for fd, parts in chunks.items()}
    return os.waitstatus_to_exitcode(status), text[out_r], text[err_r]


def filter_ps(output: str, pids: list[int]) -> tuple[list[str], list[list[str]]]:
    """Docker's parsing of ``ps`` output: the header's columns, and the rows whose PID is
    one of ``pids``; the last column (the command) keeps its spaces."""
    lines = output.splitlines()
    if not lines:
        return [], []
    titles = lines[0].split()
    if "PID" not in titles:
        raise InvalidArgument("Couldn't find PID field in ps output")
    col = titles.index("PID")
    wanted = set(pids)
    rows = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) <= col or not fields[col].isdigit() or int(fields[col]) not in wanted:
            continue
        rows.append(fields + [""] * (len(titles) - len(fields)))
    return titles, rows


def top(svc: Any, ref: str, ps_args: list[str]) -> tuple[list[str], list[list[str]]]:
    from minke.containers.state import Status

    c = svc.get(ref)
    if c.status not in (Status.RUNNING, Status.PAUSED):
        raise Conflict(f"Container {c.id} is not running")
    pids = container_pids(svc, c)
    code, out, err = run_capture(["ps", *ps_args])
    if code != 0:
        raise InvalidArgument(f"ps: {err.strip().splitlines()[-1] if err.strip() else 'failed'}")
    return filter_ps(out, pids)


# --- stats ---------------------------------------------------------------------------------


@record
class Sample:
    """One reading of a container's usage; ``cpu_ns`` and ``at`` (monotonic seconds) make
    CPU % from two samples, or from the start of the container for the first one."""

    id: str
    name: str
    at: float
    cpu_ns: int
    mem_usage: int
    mem_limit: int
    net_rx: int
    net_tx: int
    blk_read: int
    blk_write: int
    pids: int
    running: bool


def _host_memory() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def net_bytes(pid: int) -> tuple[int, int]:
    """Received and sent bytes of every interface but lo in the netns of ``pid``."""
    rx = tx = 0
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.read().splitlines()[2:]
    except OSError:
        return 0, 0
    for line in lines:
        name, _, rest = line.partition(":")
        if name.strip() == "lo":
            continue
        fields = rest.split()
        if len(fields) >= 9:
            rx += int(fields[0])
            tx += int(fields[8])
    return rx, tx


def memory_usage(mem: dict) -> int:
    """Docker CLI's figure: usage less the inactive page cache (it can be reclaimed)."""
    usage = mem.get("usage") or 0
    inactive = mem.get("inactive_file") or 0
    return usage - inactive if inactive < usage else usage


def sample(svc: Any, c: Any) -> Sample:
    """Read the container's cgroup (v1 or v2, through the runtime's cgroup manager)."""
    import time

    from minke.containers.state import Status

    running = c.status in (Status.RUNNING, Status.PAUSED)
    now = time.monotonic()
    if not running:
        return Sample(c.id, c.name, now, 0, 0, 0, 0, 0, 0, 0, 0, False)
    from minke.runtime.cgroups import new_manager

    path = f"/{svc.config.cgroup_parent.strip('/')}/{c.id}"
    try:
        with open(os.path.join(svc.run_dir(c.id), "config.json")) as f:
            path = fastjson.load(f)["linux"]["cgroupsPath"]
    except (OSError, ValueError, KeyError):
        pass
    st = new_manager(path).stats()
    mem = st["memory"]
    limit = mem.get("limit") or _host_memory()
    rx, tx = net_bytes(c.pid)
    return Sample(
        id=c.id, name=c.name, at=now, cpu_ns=st["cpu"].get("usage_total") or 0,
        mem_usage=memory_usage(mem), mem_limit=limit, net_rx=rx, net_tx=tx,
        blk_read=st["blkio"].get("read_bytes") or 0, blk_write=st["blkio"].get("write_bytes") or 0,
        pids=st["pids"].get("current") or 0, running=True,
    )


def cpu_percent(cur: Sample, prev: Sample | None, started_at: float | None) -> float:
    """CPU time over wall time, x100 (Docker's figure: 100% is one CPU busy).  Without a
    previous sample, over the container's life so far: no two-second wait."""
    import time

    if prev is not None and cur.at > prev.at:
        return max(0.0, (cur.cpu_ns - prev.cpu_ns) / 1e9 / (cur.at - prev.at) * 100)
    if started_at:
        wall = time.time() - started_at
        if wall > 0:
            return max(0.0, cur.cpu_ns / 1e9 / wall * 100)
    return 0.0
