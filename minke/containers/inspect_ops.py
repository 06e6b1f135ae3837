"""Looking into a container: top (host ``ps`` for its processes).

The pids come from the runtime's ``ps --format json`` (runc's and minke-runtime's), which
reads them from the container's cgroup.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from minke.errors import Conflict, InvalidArgument, MinkeError


def container_pids(svc: Any, c: Any) -> list[int]:
    argv = svc.runtime_argv(c.runtime)
    p = subprocess.run(argv + ["ps", "--format", "json", c.id], stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise MinkeError(f"runtime ps failed: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.returncode}")
    return [int(x) for x in json.loads(p.stdout or "[]")]


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
    p = subprocess.run(["ps", *ps_args], stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise InvalidArgument(f"ps: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else 'failed'}")
    return filter_ps(p.stdout, pids)
