#!/usr/bin/env python3
"""Benchmark: what a `minke run --rm` is made of, against what no Python CLI can avoid.

    sudo /opt/minke/bin/python bench/floor_bench.py [-n 30]

On a private store with the busybox rootfs imported, medians of N runs of:

1. the interpreter alone: ``python -I -S -c pass`` (what the installed launcher starts);
2. the interpreter importing the modules a ``run --rm`` loads in the CLI's process (the
   list is read off one in-process run first);
3. ``minke run --rm --network none busybox true`` through the installed entry point:
   its wall time, and the CPU time (user + system) of the CLI's own process (``wait4``;
   the monitor and the runtime are not its children once detached).

Issue 4 asks ``run --rm`` for 0.25x of ``docker run --rm`` (run_bench.py measures that);
rows 1 and 2 are the part of it a Python CLI that imports its engine pays before any
work.  A benchmark, not a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from run_bench import MINKE, busybox_store, tear_down  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_LIST = """
import sys
sys.path.insert(0, {root!r})
before = set(sys.modules)
from minke.cli.main import main
code = main(["run", "--rm", "--network", "none", "busybox", "true"])
mods = [m for m in sys.modules if m not in before]
print(" ".join(mods))
"""


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system of the process itself) in ms."""
    t = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env)
    _, status, ru = os.wait4(pid, 0)
    wall = (time.perf_counter() - t) * 1000
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed")
    return wall, (ru.ru_utime + ru.ru_stime) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=30, help="runs of each (default 30)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    work = tempfile.mkdtemp(prefix="minke-floor-bench-")
    env = dict(os.environ, MINKE_ROOT=os.path.join(work, "root"), MINKE_RUN_ROOT=os.path.join(work, "run"))
    try:
        env, _tar = busybox_store(work)
        # The second run's list: the first one of a store compiles its seccomp profile.
        for _ in range(2):
            mods = subprocess.run([sys.executable, "-I", "-S", "-c", _LIST.format(root=ROOT)], env=env, check=True,
                                  capture_output=True, text=True).stdout.split()
        # Imported by the list's own run too, but in the CLI only through minke.store.sqlite
        # (which spares _sqlite3 functools): import them the way the CLI does.
        mods = [m for m in mods if m not in ("_functools", "_sqlite3")]
        imports = f"import sys; sys.path.insert(0, {ROOT!r}); import os; " + "; ".join(f"import {m}" for m in mods) + "; os._exit(0)"
        # os._exit, as the installed launcher ends a run: no teardown of what was loaded.
        rows = {
            "python -I -S -c pass": [sys.executable, "-I", "-S", "-c", "pass"],
            f"python -I -S, importing run's {len(mods)} modules": [sys.executable, "-I", "-S", "-c", imports],
            "minke run --rm --network none busybox true": [MINKE, "run", "--rm", "--network", "none", "busybox", "true"],
        }
        for argv in rows.values():  # once each: bytecode written, caches warm
            _timed(argv, env)
        res: dict[str, list[tuple[float, float]]] = {k: [] for k in rows}
        for _ in range(args.n):
            for name, argv in rows.items():
                res[name].append(_timed(argv, env))
        print(f"median of {args.n} runs (ms): wall, CPU of the process")
        for name, v in res.items():
            print(f"  {name:55s} {statistics.median(w for w, _ in v):7.1f} {statistics.median(c for _, c in v):7.1f}")
    finally:
        tear_down(work, env, [])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
