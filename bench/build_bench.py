"""A cold build and a fully cached rebuild of a 10-step Dockerfile: minke vs docker vs podman.

    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python bench/build_bench.py [-n 10] [--minke PATH]

minke is timed through its installed entry point, ``/opt/minke/bin/minke`` (what
``scripts/install`` makes and users run; ``--minke`` times another one, e.g.
``.venv/bin/minke``).  All three build the same Dockerfile and context on the same busybox base image, imported
into each engine (never pulled), with ``--network none`` so nothing leaves the machine.
docker is Debian's docker.io with a dockerd this script starts on private directories
(classic builder, DOCKER_BUILDKIT=0), podman uses private --root/--runroot; both set up
and torn down by the classes in bench/run_bench.py.  Prints the cold time, the median
cached-rebuild time of n runs, and the ratios.  The cached rebuilds are interleaved (one
of each tool per round) so a busy moment of the machine falls on all of them alike.  Run as root, by hand: not a timed test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from run_bench import Docker, Podman, busybox_rootfs  # noqa: E402

DOCKERFILE = """\
FROM {base}
ENV APP=/app MODE=bench
WORKDIR /app
COPY data.txt /app/data.txt
COPY conf/ /app/conf/
RUN echo built > /app/built && cat /app/data.txt > /app/copy
RUN mkdir -p /app/out && for i in 1 2 3 4 5; do echo $i > /app/out/$i; done
LABEL org.example.bench=yes
EXPOSE 8080
CMD ["cat", "/app/built"]
"""


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    r = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}... failed: {r.stderr.decode(errors='replace')[-400:]}")
    return time.perf_counter() - t


def make_context(path: str, base: str) -> None:
    os.makedirs(os.path.join(path, "conf"))
    with open(os.path.join(path, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE.format(base=base))
    with open(os.path.join(path, "data.txt"), "w") as f:
        f.write("payload\n" * 1000)
    for i in range(20):
        with open(os.path.join(path, "conf", f"c{i}.ini"), "w") as f:
            f.write(f"key={i}\n")


INSTALLED = "/opt/minke/bin/minke"


def check_installed(minke: str) -> None:
    """Say so when the entry point runs a minke other than this checkout (pip's script
    with a copy of an older tree), or stop when it is missing: the figures would not be
    this code's."""
    if not os.path.exists(minke):
        raise SystemExit(f"{minke} is missing: run `sudo scripts/install` (or pass --minke)")
    with open(minke) as f:
        text = f.read()
    checkout = os.path.dirname(HERE)
    if repr(checkout) not in text:
        python = text.split("\n", 1)[0][2:].split()[0]
        r = subprocess.run([python, "-c", "import minke; print(minke.__file__)"],
                           capture_output=True, text=True, cwd="/")
        if not r.stdout.startswith(checkout + "/"):
            print(f"note: {minke} runs {r.stdout.strip() or '?'}, not this checkout; "
                  "run `sudo scripts/install`")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10)
    ap.add_argument("--minke", default=INSTALLED, help="the minke entry point to time")
    args = ap.parse_args()
    check_installed(args.minke)
    work = tempfile.mkdtemp(prefix="minke-build-bench-")
    engines = []
    try:
        rootfs = os.path.join(work, "rootfs")
        busybox_rootfs(rootfs)
        tar = os.path.join(work, "busybox.tar")
        subprocess.run(["tar", "-C", rootfs, "-cf", tar, "."], check=True)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        minke = [args.minke, "--root", os.path.join(work, "minke-root"), "--run-root", os.path.join(work, "minke-run")]
        subprocess.run([*minke, "import", tar, "bench-base:latest"], check=True, stdout=subprocess.DEVNULL, env=env)
        tools: dict[str, tuple[list[str], dict[str, str] | None, str]] = {
            "minke": ([*minke, "build", "--network", "none"], env, "bench-base:latest")}
        for cls in (Docker, Podman):
            e = cls(work)
            err = e.start(tar)
            if err:
                print(f"{cls.name}: not measured: {err}")
                continue
            engines.append(e)
            tool_env = dict(e.env or os.environ)
            if cls is Docker:
                tool_env["DOCKER_BUILDKIT"] = "0"
            tools[cls.name] = ([*e.argv, "build", "--network", "none"], tool_env, e.image)
        colds: dict[str, float] = {}
        for name, (argv, tool_env, base) in tools.items():
            ctx = os.path.join(work, f"ctx-{name}")
            make_context(ctx, base)
            colds[name] = timed([*argv, "-t", f"bench-{name}:1", ctx], tool_env)
        cached: dict[str, list[float]] = {name: [] for name in tools}
        for _ in range(args.n):
            for name, (argv, tool_env, _base) in tools.items():
                ctx = os.path.join(work, f"ctx-{name}")
                cached[name].append(timed([*argv, "-t", f"bench-{name}:1", ctx], tool_env))
        results = {}
        for name in tools:
            med = statistics.median(cached[name])
            results[name] = (colds[name], med)
            print(f"{name:7s} cold {colds[name] * 1000:8.0f} ms   cached rebuild median {med * 1000:7.0f} ms"
                  f"   (min {min(cached[name]) * 1000:.0f}, max {max(cached[name]) * 1000:.0f})")
        m_cold, m_cached = results["minke"]
        for other in ("docker", "podman"):
            if other in results:
                o_cold, o_cached = results[other]
                print(f"minke/{other}: cold {m_cold / o_cold:.2f}x  cached {m_cached / o_cached:.2f}x")
        return 0
    finally:
        for e in engines:
            e.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
