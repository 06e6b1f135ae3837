#!/usr/bin/env python3
"""Benchmark: container start-up and the memory of running containers.

    sudo /work/main/.venv/bin/python bench/run_bench.py [-n 20] [--containers 50] [--runtime runc|minke]

1. ``minke run --rm busybox true`` through the installed entry point, N times: median,
   min and p90 wall time.  ``runc run`` of the same rootfs as a bundle is measured in the
   same run as the floor (what the OCI runtime alone costs).  ``docker run --rm`` and
   ``podman run --rm`` are measured only when installed (the ratio is printed then); on a
   host without them the line says so.
2. ``--containers`` detached ``sleep`` containers from one image: the time to start them
   all, the PSS of each monitor (``/proc/PID/smaps_rollup``), and the time to remove them.

Everything lives in a private root under a temp dir, removed at the end.  This is a
benchmark, not a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

MINKE = os.path.join(os.path.dirname(sys.executable), "minke")
APPLETS = ("sh", "true", "sleep", "echo", "cat")


def busybox_rootfs(path: str) -> None:
    os.makedirs(os.path.join(path, "bin"))
    for d in ("etc", "proc", "sys", "dev", "tmp"):
        os.makedirs(os.path.join(path, d))
    shutil.copy2("/bin/busybox", os.path.join(path, "bin", "busybox"))
    for a in APPLETS:
        os.symlink("busybox", os.path.join(path, "bin", a))
    with open(os.path.join(path, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    with open(os.path.join(path, "etc", "group"), "w") as f:
        f.write("root:x:0:\n")


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    r = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")
    return dt


def summary(times: list[float]) -> dict[str, float]:
    s = sorted(times)
    return {
        "median_ms": round(statistics.median(s) * 1000, 1),
        "min_ms": round(s[0] * 1000, 1),
        "p90_ms": round(s[min(len(s) - 1, int(len(s) * 0.9))] * 1000, 1),
    }


def pss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def monitors_under(run_root: str) -> list[int]:
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"minke.containers.monitor" in cmd and run_root.encode() in cmd:
            pids.append(int(p))
    return pids


def runc_bundle(work: str, rootfs: str) -> str:
    bundle = os.path.join(work, "bundle")
    os.makedirs(bundle)
    subprocess.run(["runc", "spec", "--bundle", bundle], check=True)
    with open(os.path.join(bundle, "config.json")) as f:
        spec = json.load(f)
    spec["root"] = {"path": rootfs, "readonly": True}
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["true"]
    spec["process"]["rlimits"] = []
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(spec, f)
    return bundle


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=20, help="runs of `run --rm true` (default 20)")
    ap.add_argument("--containers", type=int, default=50, help="detached sleep containers (default 50)")
    ap.add_argument("--runtime", default="runc", help="minke's --runtime (runc, minke, a path)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON too")
    ap.add_argument("--no-import", action="store_true", help="use the busybox image the store already has")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    results: dict[str, object] = {"runtime": args.runtime, "n": args.n}
    work = tempfile.mkdtemp(prefix="minke-bench-")
    env = dict(os.environ, MINKE_ROOT=os.path.join(work, "root"), MINKE_RUN_ROOT=os.path.join(work, "run"),
               MINKE_RUNTIME=args.runtime)
    try:
        rootfs = os.path.join(work, "rootfs")
        busybox_rootfs(rootfs)
        tar = os.path.join(work, "busybox.tar")
        with tarfile.open(tar, "w") as t:
            t.add(rootfs, arcname=".")
        if not args.no_import:
            subprocess.run([MINKE, "import", tar, "busybox:latest"], env=env, check=True, stdout=subprocess.DEVNULL)

        # 1. run --rm true
        timed([MINKE, "run", "--rm", "busybox", "true"], env)  # warm the caches
        minke_times = [timed([MINKE, "run", "--rm", "busybox", "true"], env) for _ in range(args.n)]
        results["minke_run_rm_true"] = summary(minke_times)
        print(f"minke run --rm busybox true ({args.runtime}): {results['minke_run_rm_true']}")
        if shutil.which("runc"):
            bundle = runc_bundle(work, rootfs)
            rroot = os.path.join(work, "runc-root")
            runc_times = [timed(["runc", "--root", rroot, "run", "--bundle", bundle, f"bench{i}"]) for i in range(args.n)]
            results["runc_run_true"] = summary(runc_times)
            print(f"runc run (bundle only, floor):  {results['runc_run_true']}")
            print(f"  minke / runc median ratio: {results['minke_run_rm_true']['median_ms'] / results['runc_run_true']['median_ms']:.2f}")  # type: ignore[index]
        for tool in ("docker", "podman"):
            if shutil.which(tool) is None:
                print(f"{tool}: not installed on this host; no comparison measured")
                results[tool] = "not installed"
                continue
            if subprocess.run([tool, "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
                # Starting dockerd (or configuring podman for runc) is left to whoever has
                # them installed; a CLI without its daemon measures nothing.
                why = "its daemon is not running" + ("" if shutil.which("dockerd") else " and dockerd is not installed")
                print(f"{tool}: the command is installed but {why}; no comparison measured")
                results[tool] = f"not measured: {why}"
                continue
            # Installed: import the same rootfs and time it in this run.
            ref = f"minke-bench-busybox:{os.getpid()}"
            subprocess.run([tool, "import", tar, ref], check=True, stdout=subprocess.DEVNULL)
            try:
                timed([tool, "run", "--rm", ref, "true"])
                t = [timed([tool, "run", "--rm", ref, "true"]) for _ in range(args.n)]
                results[tool] = summary(t)
                ratio = results["minke_run_rm_true"]["median_ms"] / results[tool]["median_ms"]  # type: ignore[index]
                print(f"{tool} run --rm true: {results[tool]}  minke/{tool} = {ratio:.2f}")
            finally:
                subprocess.run([tool, "rmi", ref], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        # 2. N detached sleep containers
        if args.containers > 0:
            t0 = time.perf_counter()
            for i in range(args.containers):
                subprocess.run([MINKE, "run", "-d", "--name", f"s{i}", "busybox", "sleep", "3600"], env=env,
                               check=True, stdout=subprocess.DEVNULL)
            start_all = time.perf_counter() - t0
            mons = monitors_under(env["MINKE_RUN_ROOT"])
            pss = [pss_kib(p) for p in mons]
            results["detached"] = {
                "containers": args.containers,
                "start_all_s": round(start_all, 2),
                "start_each_ms": round(start_all / args.containers * 1000, 1),
                "monitors": len(mons),
                "monitor_pss_kib_mean": round(statistics.mean(pss), 1) if pss else None,
                "monitor_pss_kib_total": sum(pss),
            }
            ids = subprocess.run([MINKE, "ps", "-aq"], env=env, capture_output=True, text=True, check=True).stdout.split()
            t0 = time.perf_counter()
            subprocess.run([MINKE, "rm", "-f", *ids], env=env, check=True, stdout=subprocess.DEVNULL)
            results["detached"]["rm_all_s"] = round(time.perf_counter() - t0, 2)  # type: ignore[index]
            d = results["detached"]
            print(f"{args.containers} x run -d sleep: {d['start_all_s']} s ({d['start_each_ms']} ms each); "  # type: ignore[index]
                  f"monitor PSS mean {d['monitor_pss_kib_mean']} KiB (docker's containerd-shim: about 2.8 MiB, "  # type: ignore[index]
                  f"not measured here); rm -f all: {d['rm_all_s']} s")  # type: ignore[index]
        if args.json:
            print(json.dumps(results, indent=2))
    finally:
        ids = subprocess.run([MINKE, "ps", "-aq"], env=env, capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run([MINKE, "rm", "-f", *ids], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
