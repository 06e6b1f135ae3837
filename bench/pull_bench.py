"""Pull-and-unpack of a large multi-layer image from a loopback registry: minke vs
``skopeo copy`` + GNU tar vs ``podman pull``.

    /work/main/.venv/bin/python bench/pull_bench.py [--keep-image DIR] [--rounds N] [--only minke,skopeo,podman]

Needs root.  Not a timed test: run it by hand.  It

1. generates an OCI image layout of six gzip layers (``/usr/share/{man,doc,zoneinfo}`` and
   four Python installation trees from ``/root/.pyenv/versions``, plus a small top layer
   with a whiteout and an opaque directory): about 400 MB compressed, 67,000 entries.
   ``--keep-image DIR`` keeps it in DIR and reuses it on the next run (generating takes
   about a minute);
2. starts Debian's docker-registry on a loopback port (``tests/fixtures/registry.py``)
   and pushes the image once with skopeo;
3. times, each from an empty store and in this order:
   (a) ``minke --root R pull --tls-verify=false`` (the installed entry point), which
       returns once the image is unpacked into snapshots and ready to run;
   (b) ``skopeo copy docker://... oci:DIR`` then ``tar -xzf`` of each layer, in order,
       into one directory;
   (c) ``podman pull`` with a private ``--root``/``--runroot`` (skipped when podman is not
       installed or cannot run here);
4. with ``--rounds N`` repeats step 3 N times and keeps each tool's best time;
5. prints the times and the ratios minke/skopeo+tar and minke/podman, and removes the
   registry (by its pid), temp dirs and any mounts left under them.

``sync`` and a drop of the page cache run before each measurement so that no tool pays
for another's dirty pages.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

from tests.fixtures.registry import start_registry  # noqa: E402

MINKE = os.path.join(REPO, ".venv", "bin", "minke")
PYENV = "/root/.pyenv/versions"
SOURCES = [  # (layer name, [(host dir, path in the image)])
    ("share", [("/usr/share/man", "usr/share/man"), ("/usr/share/doc", "usr/share/doc"),
               ("/usr/share/zoneinfo", "usr/share/zoneinfo")]),
    ("py39", [(f"{PYENV}/3.9.18", "opt/python/3.9")]),
    ("py310", [(f"{PYENV}/3.10.13", "opt/python/3.10")]),
    ("py312", [(f"{PYENV}/3.12.1", "opt/python/3.12")]),
    ("py313", [(f"{PYENV}/3.13.0", "opt/python/3.13")]),
]
REF_PATH = "bench/python"


def sh(cmd: list[str] | str, **kw: object) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, shell=isinstance(cmd, str), **kw)  # type: ignore[call-overload]


def _tar_layer(out_dir: str, name: str, parts: list[tuple[str, str]]) -> tuple[str, str, int]:
    """Write one gzip layer blob; return (blob digest, diff_id, size)."""
    tmp = os.path.join(out_dir, f"{name}.tar.gz")
    transforms = []
    dirs = []
    for src, dest in parts:
        rel = src.lstrip("/")
        transforms += ["--transform", f"s,^{rel},{dest},"]
        dirs.append(rel)
    cmd = (["tar", "-C", "/", "--sort=name", "--numeric-owner", "--hard-dereference", "-cf", "-"]
           + transforms + dirs)
    tar = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    gz = subprocess.Popen(["gzip", "-6", "-n"], stdin=subprocess.PIPE, stdout=open(tmp, "wb"))  # noqa: SIM115
    diff = hashlib.sha256()
    assert tar.stdout is not None and gz.stdin is not None
    while chunk := tar.stdout.read(1 << 20):
        diff.update(chunk)
        gz.stdin.write(chunk)
    gz.stdin.close()
    if tar.wait() or gz.wait():
        raise SystemExit(f"making layer {name} failed")
    return _publish(out_dir, tmp, "sha256:" + diff.hexdigest())


def _publish(out_dir: str, tmp: str, diff_id: str) -> tuple[str, str, int]:
    h = hashlib.sha256()
    with open(tmp, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    digest = h.hexdigest()
    os.rename(tmp, os.path.join(out_dir, "blobs", "sha256", digest))
    return "sha256:" + digest, diff_id, os.path.getsize(os.path.join(out_dir, "blobs", "sha256", digest))


def _top_layer(out_dir: str) -> tuple[str, str, int]:
    """A small layer that deletes a directory (whiteout) and empties another (opaque)."""
    import gzip
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, typ in (("opt/python/3.9/lib/python3.9/.wh.test", tarfile.REGTYPE),
                          ("opt/python/3.10/lib/python3.10/idlelib", tarfile.DIRTYPE),
                          ("opt/python/3.10/lib/python3.10/idlelib/.wh..wh..opq", tarfile.REGTYPE),
                          ("etc/bench-release", tarfile.REGTYPE)):
            ti = tarfile.TarInfo(name)
            ti.type = typ
            ti.mode = 0o755 if typ == tarfile.DIRTYPE else 0o644
            data = b"minke pull bench\n" if name == "etc/bench-release" else b""
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    tmp = os.path.join(out_dir, "top.tar.gz")
    with open(tmp, "wb") as f:
        f.write(gzip.compress(raw.getvalue(), mtime=0))
    return _publish(out_dir, tmp, "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest())


def make_image(out_dir: str) -> None:
    """An OCI image layout with the layers above, tagged ``latest``."""
    from concurrent.futures import ThreadPoolExecutor

    os.makedirs(os.path.join(out_dir, "blobs", "sha256"), exist_ok=True)
    with ThreadPoolExecutor(2) as pool:  # gzip is the bottleneck: one per core
        layers = list(pool.map(lambda s: _tar_layer(out_dir, *s), SOURCES))
    layers.append(_top_layer(out_dir))
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/opt/python/3.13/bin:/usr/bin:/bin"], "Cmd": ["/opt/python/3.13/bin/python3"]},
        "rootfs": {"type": "layers", "diff_ids": [d for _, d, _ in layers]},
        "history": [{"created_by": f"bench layer {i}"} for i in range(len(layers))],
    }).encode()

    def blob(data: bytes) -> tuple[str, int]:
        d = hashlib.sha256(data).hexdigest()
        with open(os.path.join(out_dir, "blobs", "sha256", d), "wb") as f:
            f.write(data)
        return "sha256:" + d, len(data)

    cdig, csize = blob(config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdig, "size": csize},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": s}
                   for d, _, s in layers],
    }).encode()
    mdig, msize = blob(manifest)
    with open(os.path.join(out_dir, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdig, "size": msize,
            "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, f)
    with open(os.path.join(out_dir, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')


def image_stats(layout: str) -> tuple[int, int]:
    """(compressed bytes, number of tar entries) of the layout's layers."""
    with open(os.path.join(layout, "index.json")) as f:
        mdig = json.load(f)["manifests"][0]["digest"].split(":")[1]
    with open(os.path.join(layout, "blobs", "sha256", mdig)) as f:
        layers = json.load(f)["layers"]
    total = sum(layer["size"] for layer in layers)
    entries = 0
    for layer in layers:
        path = os.path.join(layout, "blobs", "sha256", layer["digest"].split(":")[1])
        out = subprocess.run(f"tar -tzf {path} | wc -l", shell=True, check=True, capture_output=True, text=True)
        entries += int(out.stdout)
    return total, entries


def quiesce() -> None:
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def timed(cmd: list[str] | str, **kw: object) -> float:
    quiesce()
    t0 = time.perf_counter()
    sh(cmd, **kw)
    return time.perf_counter() - t0


def unmount_under(path: str) -> None:
    """Unmount anything mounted below path (podman's overlay), deepest first."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for p in sorted((p for p in points if p.startswith(path.rstrip("/") + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", p], check=False)


def minke_cmd(src: str | None) -> list[str]:
    """The installed entry point, or minke's CLI from another source tree (``--minke-src``,
    e.g. ``git archive REV minke | tar -x -C DIR``) to compare two versions."""
    if src is None:
        return [MINKE]
    code = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f)]; "
            f"sys.path.insert(0, {os.path.abspath(src)!r}); from minke.cli.main import main; sys.exit(main())")
    return [sys.executable, "-c", code]


def run_minke(host: str, work: str, src: str | None = None) -> float:
    root = os.path.join(work, "minke-root")
    env = {**os.environ, "MINKE_ROOT": root, "MINKE_RUN_ROOT": os.path.join(work, "minke-run")}
    t = timed(minke_cmd(src) + ["pull", "-q", "--tls-verify=false", f"{host}/{REF_PATH}:latest"], env=env,
              stdout=subprocess.DEVNULL)
    # Ready to run: the image is listed and its top snapshot exists.
    sh([MINKE, "image", "inspect", f"{host}/{REF_PATH}:latest"], env=env, stdout=subprocess.DEVNULL)
    return t


def run_skopeo_tar(host: str, work: str) -> tuple[float, float]:
    layout = os.path.join(work, "skopeo-oci")
    rootfs = os.path.join(work, "skopeo-rootfs")
    os.makedirs(rootfs)
    quiesce()
    t0 = time.perf_counter()
    sh(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{host}/{REF_PATH}:latest", f"oci:{layout}:latest"])
    t_copy = time.perf_counter() - t0
    with open(os.path.join(layout, "index.json")) as f:
        mdig = json.load(f)["manifests"][0]["digest"].split(":")[1]
    with open(os.path.join(layout, "blobs", "sha256", mdig)) as f:
        layers = json.load(f)["layers"]
    for layer in layers:
        sh(["tar", "-xzf", os.path.join(layout, "blobs", "sha256", layer["digest"].split(":")[1]), "-C", rootfs])
    return time.perf_counter() - t0, t_copy


def run_podman(host: str, work: str) -> float | None:
    podman = shutil.which("podman")
    if podman is None:
        print("podman: not installed, skipped")
        return None
    root, runroot = os.path.join(work, "podman-root"), os.path.join(work, "podman-run")
    base = [podman, "--root", root, "--runroot", runroot, "--storage-driver", "overlay"]
    try:
        return timed(base + ["pull", "-q", "--tls-verify=false", f"{host}/{REF_PATH}:latest"],
                     stdout=subprocess.DEVNULL)
    except subprocess.CalledProcessError as e:
        print(f"podman: failed ({e}), skipped")
        return None
    finally:
        subprocess.run(base + ["system", "reset", "-f"], check=False, capture_output=True)
        unmount_under(work)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep-image", help="generate the image here once and reuse it on later runs")
    ap.add_argument("--only", default="minke,skopeo,podman", help="comma-separated tools to time")
    ap.add_argument("--minke-src", help="also time minke's CLI from this source tree (an older version)")
    ap.add_argument("--rounds", type=int, default=1, help="time every tool this many times, keep the best")
    ap.add_argument("--json", action="store_true", help="print the result as json too")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("pull_bench: needs root", file=sys.stderr)
        return 1
    only = set(args.only.split(","))
    work = tempfile.mkdtemp(prefix="minke-pull-bench-", dir="/var/tmp")
    reg = None
    try:
        layout = args.keep_image or os.path.join(work, "image")
        if not os.path.exists(os.path.join(layout, "index.json")):
            t0 = time.perf_counter()
            make_image(layout)
            print(f"image generated in {time.perf_counter() - t0:.1f}s")
        size, entries = image_stats(layout)
        print(f"image: {size / 1e6:.0f} MB compressed, {entries} tar entries")
        reg = start_registry(os.path.join(work, "registry"))
        sh(["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:latest",
            f"docker://{reg.host}/{REF_PATH}:latest"])
        res: dict[str, float | None] = {}
        runs: dict[str, list[float]] = {}
        for rnd in range(args.rounds):
            if args.rounds > 1:
                print(f"round {rnd + 1}/{args.rounds}")
            if "minke" in only:
                t = run_minke(reg.host, work)
                runs.setdefault("minke", []).append(t)
                print(f"minke pull:        {t:7.2f}s", flush=True)
                shutil.rmtree(os.path.join(work, "minke-root"), ignore_errors=True)
            if args.minke_src:
                t = run_minke(reg.host, work, args.minke_src)
                runs.setdefault("minke-src", []).append(t)
                print(f"minke pull (src):  {t:7.2f}s", flush=True)
                shutil.rmtree(os.path.join(work, "minke-root"), ignore_errors=True)
            if "skopeo" in only:
                t, copy = run_skopeo_tar(reg.host, work)
                runs.setdefault("skopeo+tar", []).append(t)
                print(f"skopeo copy + tar: {t:7.2f}s (copy {copy:.2f}s)", flush=True)
                shutil.rmtree(os.path.join(work, "skopeo-rootfs"), ignore_errors=True)
                shutil.rmtree(os.path.join(work, "skopeo-oci"), ignore_errors=True)
            if "podman" in only:
                p = run_podman(reg.host, work)
                if p is not None:
                    runs.setdefault("podman", []).append(p)
                    print(f"podman pull:       {p:7.2f}s", flush=True)
                shutil.rmtree(os.path.join(work, "podman-root"), ignore_errors=True)
                shutil.rmtree(os.path.join(work, "podman-run"), ignore_errors=True)
        for name, ts in runs.items():
            res[name] = min(ts)  # the least disturbed run of each: the machine is shared
        if args.rounds > 1:
            print("best of each: " + ", ".join(f"{k} {v:.2f}s" for k, v in res.items() if v))
        m = res.get("minke")
        for other in ("minke-src", "skopeo+tar", "podman"):
            o = res.get(other)
            if m and o:
                print(f"ratio minke/{other}: {m / o:.2f}")
        if args.json:
            print(json.dumps(res))
    finally:
        if reg is not None:
            reg.stop()
        unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
