#!/usr/bin/env python3
"""Benchmark: a request's round trip from the host through a published port, minke
against docker on the same machine.

    sudo /work/main/.venv/bin/python bench/port_bench.py [-n 300] [--echo 3000]

One busybox container per engine, started with ``-p 127.0.0.1:P1:80 -p 127.0.0.1:P2:81``:
``busybox httpd`` on 80 and a persistent ``busybox nc -ll -e cat`` echo server on 81.
From the host, on loopback only:

1. ``-n`` HTTP GETs of a small file, each over a fresh TCP connection (connect, request,
   response, close): median and p90 latency, requests per second;
2. ``--echo`` 64-byte round trips over one kept TCP connection: median and p90.

minke runs on a private root with its default bridge; dockerd is started here with a
private --data-root/--exec-root/socket, ``--bip`` on its own bridge (docker0, removed at
the end if this run made it) and ``--iptables=false`` (its userland proxy serves the
published ports; no rule is added to the host's firewall), and stopped by pid.  A
benchmark, not a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from run_bench import MINKE, Docker  # noqa: E402

BODY = b"x" * 512


def rootfs_tar(work: str) -> str:
    root = os.path.join(work, "rootfs")
    for d in ("bin", "etc", "www", "proc", "sys", "dev", "tmp"):
        os.makedirs(os.path.join(root, d))
    shutil.copy2("/bin/busybox", os.path.join(root, "bin", "busybox"))
    for a in ("sh", "cat", "true"):
        os.symlink("busybox", os.path.join(root, "bin", a))
    with open(os.path.join(root, "www", "index.html"), "wb") as f:
        f.write(BODY)
    with open(os.path.join(root, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    tar = os.path.join(work, "rootfs.tar")
    with tarfile.open(tar, "w") as t:
        t.add(root, arcname=".")
    return tar


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVE = "busybox httpd -p 80 -h /www && exec busybox nc -ll -p 81 -e /bin/cat"


def wait_ready(http_port: int, echo_port: int, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            get(http_port)
            with socket.create_connection(("127.0.0.1", echo_port), timeout=2) as s:
                s.sendall(b"ping")
                if s.recv(4) == b"ping":
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the published ports did not answer in time")


def get(port: int) -> float:
    t = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", "/index.html")
        body = c.getresponse().read()
    finally:
        c.close()
    if body != BODY:
        raise OSError("short answer")
    return time.perf_counter() - t


def echo_round_trips(port: int, n: int) -> list[float]:
    out = []
    msg = b"m" * 64
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(n):
            t = time.perf_counter()
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                chunk = s.recv(4096)
                if not chunk:
                    raise OSError("echo server closed")
                got += chunk
            out.append(time.perf_counter() - t)
    return out


def summary(times: list[float]) -> dict[str, float]:
    s = sorted(times)
    return {"median_ms": round(statistics.median(s) * 1000, 3), "p90_ms": round(s[int(len(s) * 0.9)] * 1000, 3)}


def measure(http_port: int, echo_port: int, n: int, n_echo: int) -> dict:
    wait_ready(http_port, echo_port)
    for _ in range(20):  # warm up
        get(http_port)
    t0 = time.perf_counter()
    fresh = [get(http_port) for _ in range(n)]
    rate = n / (time.perf_counter() - t0)
    kept = echo_round_trips(echo_port, n_echo)
    return {"fresh_connection": {**summary(fresh), "req_per_s": round(rate, 1)}, "kept_connection": summary(kept)}


def run_minke(work: str, tar: str, n: int, n_echo: int) -> dict:
    env = dict(os.environ, MINKE_ROOT=os.path.join(work, "minke-root"), MINKE_RUN_ROOT=os.path.join(work, "minke-run"))
    m = [MINKE]
    subprocess.run([*m, "import", tar, "portbench:latest"], env=env, check=True, capture_output=True)
    hp, ep = free_port(), free_port()
    cid = subprocess.run([*m, "run", "-d", "-p", f"127.0.0.1:{hp}:80", "-p", f"127.0.0.1:{ep}:81", "portbench",
                          "sh", "-c", SERVE], env=env, check=True, capture_output=True, text=True).stdout.strip()
    try:
        return measure(hp, ep, n, n_echo)
    finally:
        subprocess.run([*m, "rm", "-f", cid], env=env, capture_output=True)
        # minke keeps a store's default bridge once used (as Docker keeps docker0); this
        # store is thrown away: take its bridge, rules and addresses down with it.
        from minke.config import Config
        from minke.engine import Engine

        e = Engine(Config(root=env["MINKE_ROOT"], run_root=env["MINKE_RUN_ROOT"]))
        try:
            e.networks.teardown_all()
        finally:
            e.close()


class PortDocker(Docker):
    """dockerd with a bridge (its own subnet) and the userland proxy, no iptables."""

    name = "docker"
    image = "portbench:latest"

    def start(self, tar: str) -> str | None:
        self.made_bridge = not os.path.exists("/sys/class/net/docker0")
        return super().start(tar)


def run_docker(work: str, tar: str, n: int, n_echo: int) -> dict | str:
    d = PortDocker(work)
    # Docker's start() passes --bridge none: give it a bridge of its own here.
    orig = subprocess.Popen

    def popen(argv, *a, **kw):
        if argv and argv[0].endswith("dockerd"):
            argv = [x for x in argv if x not in ("--bridge", "none")] + ["--bip", "10.213.17.1/24"]
        return orig(argv, *a, **kw)

    subprocess.Popen = popen  # type: ignore[misc]
    try:
        err = d.start(tar)
    finally:
        subprocess.Popen = orig  # type: ignore[misc]
    try:
        if err:
            return err
        hp, ep = free_port(), free_port()
        r = subprocess.run([*d.argv, "run", "-d", "-p", f"127.0.0.1:{hp}:80", "-p", f"127.0.0.1:{ep}:81", d.image,
                            "sh", "-c", SERVE], capture_output=True, text=True)
        if r.returncode != 0:
            return f"docker run failed: {r.stderr.strip()}"
        return measure(hp, ep, n, n_echo)
    finally:
        d.stop()
        if getattr(d, "made_bridge", False) and os.path.exists("/sys/class/net/docker0"):
            subprocess.run(["ip", "link", "del", "docker0"], capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=300, help="HTTP requests over fresh connections (default 300)")
    ap.add_argument("--echo", type=int, default=3000, help="round trips over one connection (default 3000)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("port_bench: needs root", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="minke-portbench-") as work:
        tar = rootfs_tar(work)
        res: dict = {"minke": run_minke(work, tar, args.n, args.echo)}
        res["docker"] = run_docker(work, tar, args.n, args.echo)
    for name, r in res.items():
        if isinstance(r, str):
            print(f"{name}: not measured: {r}")
            continue
        print(f"{name}: fresh connection {r['fresh_connection']}; one connection {r['kept_connection']}")
    if not isinstance(res["docker"], str):
        m, d = res["minke"], res["docker"]
        fresh = m["fresh_connection"]["median_ms"] / d["fresh_connection"]["median_ms"]
        kept = m["kept_connection"]["median_ms"] / d["kept_connection"]["median_ms"]
        print(f"minke/docker: fresh connection median {fresh:.2f}, one connection median {kept:.2f}")
    if args.json:
        print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
