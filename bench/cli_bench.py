#!/usr/bin/env python3
"""Benchmark: the everyday short commands (ps, images, inspect, logs, exec ...) against docker and podman.

    sudo /work/main/.venv/bin/python bench/cli_bench.py [-n 15] [--baseline PATH]

Each engine gets the same busybox rootfs imported and one running ``sleep`` container
named ``benchc`` (minke with ``--network none``, like the dockerd started here with
``--bridge none``); then every command below is timed through each engine's CLI, in
rounds that run every tool once (interleaved: a busy moment of the host hurts them all
alike), and the medians are printed with minke's ratio to each; then, once a round, one
container's life: create, start, stop, restart, kill, rm.  ``--baseline PATH``
times another minke entry point (an older checkout's launcher) in the same rounds.
dockerd and podman are set up as in run_bench.py (private roots, stopped by pid);
everything lives under a temp dir, removed at the end.  Only local sockets are used.
This is a benchmark, not a test: it prints numbers and asserts nothing.
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

from run_bench import MINKE, busybox_store, start_others, store_env, tear_down, timed  # noqa: E402

COMMANDS = [
    ("ps",),
    ("ps", "-a"),
    ("images",),
    ("inspect", "benchc"),
    ("logs", "benchc"),
    ("port", "benchc"),
    ("top", "benchc"),
    ("exec", "benchc", "true"),
    ("volume", "ls"),
    ("network", "ls"),
    ("version",),
]


# One container's life, once a round: create (a sleep), start, stop -t 0, restart -t 0,
# kill, rm.
LIFECYCLE = ("create", "start", "stop -t 0", "restart -t 0", "kill", "rm")


def _lifecycle(times: dict, name: str, cli: list[str], env: dict[str, str] | None, image: str) -> None:
    net = ["--network", "none"] if name.startswith("minke") else []  # dockerd runs with --bridge none
    t = time.perf_counter()
    cid = subprocess.run([*cli, "create", *net, image, "sleep", "3600"], env=env, check=True, capture_output=True,
                         text=True).stdout.strip()
    times.setdefault((name, "create"), []).append(1000 * (time.perf_counter() - t))
    for step in LIFECYCLE[1:]:
        times.setdefault((name, step), []).append(1000 * timed([*cli, *step.split(), cid], env))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=15, help="rounds (default 15)")
    ap.add_argument("--baseline", default=None, help="another minke entry point, timed in the same rounds")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    work = tempfile.mkdtemp(prefix="minke-cli-bench-")
    env = store_env(work)
    cleanups: list = []
    try:
        env, tar = busybox_store(work)
        subprocess.run([MINKE, "run", "-d", "--name", "benchc", "--network", "none", "busybox", "sleep", "3600"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        tools: list[tuple[str, list[str], dict[str, str] | None, str]] = [("minke", [MINKE], env, "busybox")]
        if args.baseline:
            tools.append(("minke-baseline", [args.baseline], env, "busybox"))
        for eng in start_others(work, tar, cleanups)[0]:
            eng.ok("run", "-d", "--name", "benchc", eng.image, "sleep", "3600")
            tools.append((eng.name, eng.argv, eng.env, eng.image))
        times: dict[tuple[str, str], list[float]] = {}
        for argv in COMMANDS:  # once each first: caches warm, bytecode written
            for _name, cli, tenv, _image in tools:
                timed([*cli, *argv], tenv)
        for i in range(args.n):
            order = tools if i % 2 == 0 else tools[::-1]
            for argv in COMMANDS:
                for name, cli, tenv, _image in order:
                    times.setdefault((name, " ".join(argv)), []).append(1000 * timed([*cli, *argv], tenv))
            for name, cli, tenv, image in order:
                _lifecycle(times, name, cli, tenv, image)
        names = [t[0] for t in tools]
        others = [n for n in names if n != "minke"]
        print(f"median of {args.n} rounds, ms: " + ", ".join(names))
        print(f"{'command':16s}" + "".join(f"{n:>16s}" for n in names) + "".join(f"{'minke/' + n:>22s}" for n in others))
        for cmd in [" ".join(argv) for argv in COMMANDS] + list(LIFECYCLE):
            med = {n: statistics.median(times[(n, cmd)]) for n in names}
            print(f"{cmd:16s}" + "".join(f"{med[n]:16.1f}" for n in names)
                  + "".join(f"{med['minke'] / med[n]:22.2f}" for n in others))
    finally:
        tear_down(work, env, cleanups)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
