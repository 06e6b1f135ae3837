"""create + start + wait + delete of /bin/true in a busybox bundle: minke-runtime vs runc.

    .venv/bin/python bench/runtime_bench.py [-n 30] [--minke PATH] [--runc PATH]

Both runtimes run the same bundle (the config ``runc spec`` writes: pid, net, ipc, uts and
mount namespaces, the default mounts, masked and read-only paths, capabilities, no cgroup
limits) in the same run, interleaved so machine noise hits both alike.  The benchmark is
the containers' parent (child subreaper), so "wait" is a waitpid on the container's init,
not a polling loop.  Prints the median and mean per cycle and the ratio minke/runc.
Needs root.  Not a timed test: run it by hand.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from runtime_bundle import default_config, make_rootfs, write_bundle  # noqa: E402

PR_SET_CHILD_SUBREAPER = 36


STEPS = ("create", "start", "wait", "delete")


def cycle(binary: str, root: str, bundle: str, cid: str, steps: dict[str, list[float]] | None = None) -> float:
    pid_file = os.path.join(root, f"{cid}.pid")
    t0 = time.perf_counter()
    subprocess.run([binary, "--root", root, "create", "--bundle", bundle, "--pid-file", pid_file, cid], check=True)
    t1 = time.perf_counter()
    subprocess.run([binary, "--root", root, "start", cid], check=True)
    t2 = time.perf_counter()
    with open(pid_file) as f:
        pid = int(f.read())
    _, status = os.waitpid(pid, 0)  # we are subreaper: the init is ours to wait for
    t3 = time.perf_counter()
    subprocess.run([binary, "--root", root, "delete", cid], check=True)
    t4 = time.perf_counter()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{binary}: /bin/true exited {os.waitstatus_to_exitcode(status)}")
    os.unlink(pid_file)
    if steps is not None:
        for name, a, b in zip(STEPS, (t0, t1, t2, t3), (t1, t2, t3, t4), strict=True):
            steps[name].append(b - a)
    return t4 - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=30, help="cycles per runtime (default 30)")
    ap.add_argument("--minke", default=os.path.join(HERE, "..", ".venv", "bin", "minke-runtime"))
    ap.add_argument("--runc", default=shutil.which("runc") or "/usr/sbin/runc")
    ap.add_argument("--json", action="store_true", help="print the result as json")
    ap.add_argument("--steps", action="store_true", help="also print the median of each step")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("runtime_bench: needs root", file=sys.stderr)
        return 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    runtimes = {"minke-runtime": os.path.abspath(args.minke), "runc": args.runc}
    times: dict[str, list[float]] = {name: [] for name in runtimes}
    steps: dict[str, dict[str, list[float]]] = {name: {s: [] for s in STEPS} for name in runtimes}
    with tempfile.TemporaryDirectory(prefix="minke-bench-") as tmp:
        rootfs = make_rootfs(os.path.join(tmp, "rootfs"))
        cfg = default_config(["/bin/true"])
        bundle = write_bundle(os.path.join(tmp, "bundle"), rootfs, cfg)
        roots = {name: os.path.join(tmp, f"state-{i}") for i, name in enumerate(runtimes)}
        for name, binary in runtimes.items():  # warm the page cache for both
            cycle(binary, roots[name], bundle, "warm")
        for i in range(args.n):
            for name, binary in runtimes.items():
                times[name].append(cycle(binary, roots[name], bundle, f"b{i}", steps[name]))
    result = {
        name: {"median_ms": statistics.median(t) * 1000, "mean_ms": statistics.mean(t) * 1000, "n": len(t)}
        for name, t in times.items()
    }
    result["ratio_median"] = result["minke-runtime"]["median_ms"] / result["runc"]["median_ms"]
    result["steps_median_ms"] = {name: {s: round(statistics.median(v) * 1000, 1) for s, v in st.items()}
                                 for name, st in steps.items()}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"create+start+wait+delete of /bin/true, {args.n} cycles each")
        for name in runtimes:
            r = result[name]
            print(f"  {name:<14} median {r['median_ms']:7.1f} ms   mean {r['mean_ms']:7.1f} ms")
        print(f"  ratio minke-runtime/runc (median): {result['ratio_median']:.2f}x  (target <= 1.5x)")
        if args.steps:
            for name, st in result["steps_median_ms"].items():
                print(f"  {name:<14} " + "  ".join(f"{s} {v:.1f}" for s, v in st.items()) + "  (median ms per step)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
