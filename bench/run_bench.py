#!/usr/bin/env python3
"""Benchmark: container start-up and the memory of running containers, against docker and podman.

    sudo /work/main/.venv/bin/python bench/run_bench.py [-n 20] [--containers 50] [--runtime minke|runc]

1. ``minke run --rm busybox true`` through the installed entry point, N times: median,
   min and p90 wall time.  In the same rounds (interleaved, one run of each tool per
   round): ``runc run`` of the same rootfs as a bundle (the floor: the OCI runtime alone),
   ``docker run --rm IMAGE true`` and ``podman run --rm IMAGE true`` with the same rootfs
   imported (``docker import`` / ``podman import``; nothing is pulled).  dockerd is
   started here with a private --data-root, --exec-root and unix socket, no bridge and no
   iptables rules, and stopped by pid at the end; podman runs on a private
   --root/--runroot with ``--runtime runc`` and a containers.conf (CONTAINERS_CONF) that
   sets default_ulimits (what podman needs on these hosts).  A tool not installed
   (``apt-get install docker.io podman``) or unable to run is reported with its error.
2. ``--containers`` detached ``sleep`` containers from one image per engine: the time to
   start them all, the PSS and the private memory (``/proc/PID/smaps_rollup``) of minke's
   monitor against docker's containerd-shim and podman's conmon, and the time to remove
   them.

Everything lives in a private root under a temp dir, removed at the end.  Only loopback
and local sockets are used.  This is a benchmark, not a test: it prints numbers and
asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
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


def store_env(work: str, **extra_env: str) -> dict[str, str]:
    """The environment of a private minke store under ``work`` (MINKE_ROOT, MINKE_RUN_ROOT
    and ``extra_env``): the benches' tear_down needs it even when the set-up failed."""
    return dict(os.environ, MINKE_ROOT=os.path.join(work, "root"), MINKE_RUN_ROOT=os.path.join(work, "run"), **extra_env)


def busybox_store(work: str, *, image: bool = True, **extra_env: str) -> tuple[dict[str, str], str]:
    """A private minke store under ``work`` (its env: MINKE_ROOT, MINKE_RUN_ROOT, and
    ``extra_env``) and the busybox rootfs as a tar, imported as busybox:latest unless
    ``image`` is False; (env, the tar's path)."""
    env = store_env(work, **extra_env)
    # An installed minke has its bytecode cached; a shell that forbids writing it would
    # have every run compile the modules changed since the last cache (tens of ms).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    rootfs = os.path.join(work, "rootfs")
    busybox_rootfs(rootfs)
    tar = os.path.join(work, "busybox.tar")
    with tarfile.open(tar, "w") as t:
        t.add(rootfs, arcname=".")
    if image:
        subprocess.run([MINKE, "import", tar, "busybox:latest"], env=env, check=True, stdout=subprocess.DEVNULL)
    return env, tar


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


def uss_kib(pid: int) -> int:
    """Private_Clean + Private_Dirty: the pages only this process has.  Steadier than PSS,
    which adds a share of the pages mapped by others (the interpreter's text, libc) and
    so moves with whatever else runs on the host."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Private_"):
                total += int(line.split()[1])
    return total


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


class Engine:
    """Another engine on a private root, the same rootfs imported (never pulled)."""

    name = ""
    image = "minke-bench-busybox:latest"

    def __init__(self, work: str) -> None:
        self.dir = os.path.join(work, self.name)
        self.argv: list[str] = []
        self.env: dict[str, str] | None = None

    def timed(self, *args: str) -> float:
        return timed([*self.argv, *args], self.env)

    def ok(self, *args: str) -> str:
        return subprocess.run([*self.argv, *args], env=self.env, check=True, capture_output=True, text=True).stdout

    def start(self, tar: str) -> str | None:
        raise NotImplementedError

    def stop(self) -> None:
        pass

    def shim_pids(self) -> list[int]:
        """The per-container processes that play the part of minke's monitor."""
        return []


def _cmdlines() -> dict[int, bytes]:
    out = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    out[int(p)] = f.read()
            except OSError:
                pass
    return out


class Docker(Engine):
    """dockerd started here: private --data-root, --exec-root and socket; no bridge and
    no iptables rules (it touches nothing of the host's network); stopped by pid."""

    name = "docker"

    def __init__(self, work: str) -> None:
        super().__init__(work)
        self.pid = 0
        self.log = os.path.join(self.dir, "dockerd.log")

    def start(self, tar: str) -> str | None:
        dockerd = shutil.which("dockerd")
        # Debian's docker.io client; /usr/local/bin may hold a client of another version.
        cli = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")
        if dockerd is None or cli is None:
            return "dockerd/docker not installed (apt-get install docker.io)"
        os.makedirs(self.dir)
        sock = os.path.join(self.dir, "docker.sock")
        with open(self.log, "w") as log:
            p = subprocess.Popen([dockerd, "--data-root", os.path.join(self.dir, "data"),
                                  "--exec-root", os.path.join(self.dir, "exec"), "-H", f"unix://{sock}",
                                  "--pidfile", os.path.join(self.dir, "docker.pid"), "--bridge", "none",
                                  "--iptables=false", "--ip6tables=false"],
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = p.pid
        self.proc = p
        self.argv = [cli, "-H", f"unix://{sock}"]
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if p.poll() is not None:
                return f"dockerd exited {p.returncode}: {self._log_tail()}"
            if subprocess.run([*self.argv, "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
                break
            time.sleep(0.2)
        else:
            return f"dockerd not ready in 60 s: {self._log_tail()}"
        r = subprocess.run([*self.argv, "import", tar, self.image], capture_output=True, text=True)
        if r.returncode != 0:
            return f"docker import failed: {r.stderr.strip()}"
        r = subprocess.run([*self.argv, "run", "--rm", self.image, "true"], capture_output=True, text=True)
        if r.returncode != 0:
            return f"docker run failed: {r.stderr.strip()}"
        return None

    def _log_tail(self) -> str:
        try:
            with open(self.log) as f:
                return " | ".join(f.read().strip().splitlines()[-3:])
        except OSError:
            return "no log"

    def shim_pids(self) -> list[int]:
        exec_root = os.path.join(self.dir, "exec").encode()
        return [pid for pid, cmd in _cmdlines().items() if b"containerd-shim" in cmd and exec_root in cmd]

    def stop(self) -> None:
        if not self.pid:
            return
        ids = subprocess.run([*self.argv, "ps", "-aq"], capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run([*self.argv, "rm", "-f", *ids], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.kill(self.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait()
        self.pid = 0
        _unmount_under(self.dir)


class Podman(Engine):
    """podman with private --root/--runroot; on these hosts it runs containers only with
    runc and explicit default ulimits (containers.conf pointed to by CONTAINERS_CONF)."""

    name = "podman"

    def start(self, tar: str) -> str | None:
        podman = shutil.which("podman")
        if podman is None:
            return "podman not installed (apt-get install podman)"
        if shutil.which("runc") is None:
            return "podman needs runc here and runc is not installed"
        os.makedirs(self.dir)
        conf = os.path.join(self.dir, "containers.conf")
        with open(conf, "w") as f:
            f.write('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n')
        self.env = dict(os.environ, CONTAINERS_CONF=conf)
        self.argv = [podman, "--root", os.path.join(self.dir, "root"), "--runroot", os.path.join(self.dir, "run"),
                     "--runtime", "runc"]
        for argv in (["import", "-q", tar, self.image], ["run", "--rm", self.image, "true"]):
            r = subprocess.run([*self.argv, *argv], env=self.env, capture_output=True, text=True)
            if r.returncode != 0:
                self.argv = []
                return f"podman {argv[0]} failed: {r.stderr.strip()[-300:]}"
        return None

    def shim_pids(self) -> list[int]:
        root = os.path.join(self.dir, "run").encode()
        return [pid for pid, cmd in _cmdlines().items() if cmd.startswith(b"/usr/bin/conmon") and root in cmd]

    def stop(self) -> None:
        if not self.argv:
            return
        subprocess.run([*self.argv, "rm", "-af", "-t", "0"], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([*self.argv, "system", "reset", "-f"], env=self.env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        self.argv = []
        _unmount_under(self.dir)


def start_others(work: str, tar: str, cleanups: list) -> tuple[list[Engine], dict[str, str]]:
    """docker and podman started on private roots under ``work`` with ``tar`` imported
    (their stops added to ``cleanups``): the ones that run, and why the others do not."""
    others: list[Engine] = []
    skipped: dict[str, str] = {}
    for make in (Docker, Podman):
        eng = make(work)
        cleanups.append(eng.stop)
        why = eng.start(tar)
        if why:
            print(f"{eng.name}: not measured: {why}")
            skipped[eng.name] = why
        else:
            others.append(eng)
    return others, skipped


def _unmount_under(path: str) -> None:
    """What an engine left mounted under its private dir (deepest first), so that the
    temp dir can be removed."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for p in sorted((p for p in points if p.startswith(path)), key=len, reverse=True):
        subprocess.run(["umount", "-l", p], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def detached(argv_run: list[str], env: dict[str, str] | None, count: int, image: str,
             extra: list[str] | None = None) -> tuple[float, list[str]]:
    t0 = time.perf_counter()
    ids = []
    for i in range(count):
        r = subprocess.run([*argv_run, "run", "-d", "--name", f"s{i}", *(extra or []), image, "sleep", "3600"], env=env,
                           check=True, capture_output=True, text=True)
        ids.append(r.stdout.strip())
    return time.perf_counter() - t0, ids


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=20, help="runs of `run --rm true` (default 20)")
    ap.add_argument("--containers", type=int, default=50, help="detached sleep containers (default 50)")
    ap.add_argument("--runtime", default="minke", help="minke's --runtime (runc, minke, a path)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON too")
    ap.add_argument("--no-import", action="store_true", help="use the busybox image the store already has")
    ap.add_argument("--network", default=None,
                    help="minke's --network for the runs (default: its default bridge; the dockerd here "
                         "runs with --bridge none, so `--network none` is the like-for-like comparison)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    results: dict[str, object] = {"runtime": args.runtime, "n": args.n, "network": args.network or "default"}
    net = ["--network", args.network] if args.network else []
    work = tempfile.mkdtemp(prefix="minke-bench-")
    cleanups: list = []
    env = store_env(work)
    try:
        env, tar = busybox_store(work, image=not args.no_import, MINKE_RUNTIME=args.runtime)
        rootfs = os.path.join(work, "rootfs")

        # Start the other engines first, so that every round times each tool once
        # (interleaved: a busy moment of the host hurts them all alike).
        others, skipped = start_others(work, tar, cleanups)
        results.update({name: f"not measured: {why}" for name, why in skipped.items()})
        bundle = runc_bundle(work, rootfs) if shutil.which("runc") else None
        rroot = os.path.join(work, "runc-root")

        # 1. run --rm true
        timed([MINKE, "run", "--rm", *net, "busybox", "true"], env)  # warm the caches
        for eng in others:
            eng.timed("run", "--rm", eng.image, "true")
        times: dict[str, list[float]] = {"minke": [], "runc": [], **{e.name: [] for e in others}}
        for i in range(args.n):
            times["minke"].append(timed([MINKE, "run", "--rm", *net, "busybox", "true"], env))
            for eng in others:
                times[eng.name].append(eng.timed("run", "--rm", eng.image, "true"))
            if bundle:
                times["runc"].append(timed(["runc", "--root", rroot, "run", "--bundle", bundle, f"bench{i}"]))
        results["minke_run_rm_true"] = m = summary(times["minke"])
        print(f"minke run --rm busybox true ({args.runtime}): {m}")
        if bundle:
            results["runc_run_true"] = summary(times["runc"])
            print(f"runc run (bundle only, floor):  {results['runc_run_true']}  "
                  f"minke/runc = {m['median_ms'] / results['runc_run_true']['median_ms']:.2f}")  # type: ignore[index]
        for eng in others:
            results[eng.name] = o = summary(times[eng.name])
            results[f"minke/{eng.name}"] = round(m["median_ms"] / o["median_ms"], 2)
            print(f"{eng.name} run --rm {eng.image} true: {o}  minke/{eng.name} = {results[f'minke/{eng.name}']:.2f}")

        # 2. N detached sleep containers, each engine in turn (then removed).
        if args.containers > 0:
            start_all, _ = detached([MINKE], env, args.containers, "busybox", net)
            mons = monitors_under(env["MINKE_RUN_ROOT"])
            pss = [pss_kib(p) for p in mons]
            uss = [uss_kib(p) for p in mons]
            results["detached"] = d = {
                "containers": args.containers,
                "start_all_s": round(start_all, 2),
                "start_each_ms": round(start_all / args.containers * 1000, 1),
                "monitors": len(mons),
                "monitor_pss_kib_mean": round(statistics.mean(pss), 1) if pss else None,
                "monitor_pss_kib_total": sum(pss),
                "monitor_uss_kib_mean": round(statistics.mean(uss), 1) if uss else None,
            }
            ids = subprocess.run([MINKE, "ps", "-aq"], env=env, capture_output=True, text=True, check=True).stdout.split()
            t0 = time.perf_counter()
            subprocess.run([MINKE, "rm", "-f", *ids], env=env, check=True, stdout=subprocess.DEVNULL)
            d["rm_all_s"] = round(time.perf_counter() - t0, 2)
            print(f"minke: {args.containers} x run -d sleep: {d['start_all_s']} s ({d['start_each_ms']} ms each); "
                  f"monitor PSS mean {d['monitor_pss_kib_mean']} KiB (private {d['monitor_uss_kib_mean']}) over "
                  f"{len(mons)}; rm -f all: {d['rm_all_s']} s")
            for eng in others:
                total, ids = detached(eng.argv, eng.env, args.containers, eng.image)
                shims = eng.shim_pids()
                spss = [pss_kib(p) for p in shims]
                suss = [uss_kib(p) for p in shims]
                results[f"detached_{eng.name}"] = o = {
                    "start_all_s": round(total, 2),
                    "start_each_ms": round(total / args.containers * 1000, 1),
                    "shims": len(shims),
                    "shim_pss_kib_mean": round(statistics.mean(spss), 1) if spss else None,
                    "shim_uss_kib_mean": round(statistics.mean(suss), 1) if suss else None,
                }
                t0 = time.perf_counter()
                subprocess.run([*eng.argv, "rm", "-f", *(["-t", "0"] if eng.name == "podman" else []), *ids], env=eng.env, check=True, stdout=subprocess.DEVNULL)
                o["rm_all_s"] = round(time.perf_counter() - t0, 2)
                shim = "containerd-shim" if eng.name == "docker" else "conmon"
                print(f"{eng.name}: {args.containers} x run -d sleep: {o['start_all_s']} s ({o['start_each_ms']} ms each); "
                      f"{shim} PSS mean {o['shim_pss_kib_mean']} KiB (private {o['shim_uss_kib_mean']}) over "
                      f"{len(shims)}; rm -f all: {o['rm_all_s']} s; "
                      f"minke/{eng.name} start = {start_all / total:.2f}, PSS = "
                      f"{(d['monitor_pss_kib_mean'] or 0) / (o['shim_pss_kib_mean'] or 1):.2f}")
        if args.json:
            print(json.dumps(results, indent=2))
    finally:
        tear_down(work, env, cleanups)


def tear_down(work: str, env: dict[str, str], cleanups: list) -> None:
    """The end of a bench: the other engines stopped (``cleanups``), every container of
    the private store removed, its networks taken down, ``work`` deleted."""
    for stop in reversed(cleanups):
        try:
            stop()
        except Exception as e:  # noqa: BLE001 - report and go on cleaning up
            print(f"cleanup: {e}", file=sys.stderr)
    ids = subprocess.run([MINKE, "ps", "-aq"], env=env, capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run([MINKE, "rm", "-f", *ids], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _networks_down(env)
    shutil.rmtree(work, ignore_errors=True)


def _networks_down(env: dict[str, str]) -> None:
    """minke keeps a store's default bridge once used (as Docker keeps docker0); this
    store is thrown away: its bridge, NAT rules and addresses go with it."""
    if not os.path.exists(os.path.join(env["MINKE_ROOT"], "minke.db")):
        return
    from minke.config import Config
    from minke.engine import Engine

    e = Engine(Config(root=env["MINKE_ROOT"], run_root=env["MINKE_RUN_ROOT"]))
    try:
        e.networks.teardown_all()
    except Exception as err:  # noqa: BLE001 - report, the rest of the cleanup goes on
        print(f"cleanup: networks: {err}", file=sys.stderr)
    finally:
        e.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
