"""Shared fixtures: a private minke root per test, CLI runners, a busybox test image.

- ``minke_env``: the private ``root`` and ``run_root`` of this test (under tmp_path).
- ``minke``: ``minke(*args, input=b"...") -> Result`` runs ``minke.cli.main.main`` in this
  process against the private root (fast; stdout is binary-capable so ``save`` works).
- ``minke_proc``: the same through ``/work/main/.venv/bin/minke`` in a subprocess, for the
  few end-to-end tests that need a real process (stdin, exit codes, terminals).
- ``busybox_rootfs_tar`` (session): a rootfs tar with Debian's static busybox and the
  usual applet symlinks, /etc/passwd and /etc/group; built once.
- ``busybox_image``: ``minke import`` of it as ``busybox:latest`` in this test's root;
  returns the image ID.
- ``store_hash``: ``store_hash(root) -> str`` hashes everything a store holds (files,
  symlinks, and the database's rows, not its page layout) for "store unchanged" checks.
"""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

MINKE_BIN = os.path.join(os.path.dirname(sys.executable), "minke")
BUSYBOX = "/bin/busybox"
APPLETS = (
    "sh ls cat echo true false sleep id hostname env ps kill mkdir rm cp mv ln touch "
    "pwd uname whoami wc head tail grep sed awk test printf stat date find chmod chown "
    "mount umount ip ping nc wget sync yes seq tee vi df du free top"
).split()
PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n"


@dataclass
class Result:
    code: int
    out: str
    err: str
    out_bytes: bytes = b""

    def __repr__(self) -> str:  # pytest shows this on a failed assert
        return f"Result(code={self.code}, out={self.out[:2000]!r}, err={self.err[:2000]!r})"


@dataclass(frozen=True)
class MinkeEnv:
    root: str
    run_root: str

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["MINKE_ROOT"] = self.root
        env["MINKE_RUN_ROOT"] = self.run_root
        return env


@pytest.fixture
def minke_env(tmp_path: Path) -> MinkeEnv:
    root = tmp_path / "root"
    run = tmp_path / "run"
    root.mkdir()
    run.mkdir()
    return MinkeEnv(str(root), str(run))


def run_in_process(env: MinkeEnv, args: tuple[str, ...], input: bytes | None = None) -> Result:
    from minke.cli.main import main

    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    err = io.StringIO()
    saved_stdin = sys.stdin
    if input is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(input), encoding="utf-8")
    try:
        code = main(["--root", env.root, "--run-root", env.run_root, *args], out, err)
    finally:
        sys.stdin = saved_stdin
    out.flush()
    data = raw.getvalue()
    return Result(code, data.decode("utf-8", "replace"), err.getvalue(), data)


@pytest.fixture
def minke(minke_env: MinkeEnv) -> Callable[..., Result]:
    def run(*args: str, input: bytes | None = None) -> Result:
        return run_in_process(minke_env, tuple(str(a) for a in args), input)

    return run


@pytest.fixture
def minke_proc(minke_env: MinkeEnv) -> Callable[..., Result]:
    def run(*args: str, input: bytes | None = None, timeout: float = 120) -> Result:
        p = subprocess.run(
            [MINKE_BIN, *[str(a) for a in args]],
            input=input if input is not None else b"",
            capture_output=True,
            env=minke_env.env,
            timeout=timeout,
        )
        return Result(p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"), p.stdout)

    return run


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.mtime = 1_700_000_000
    tar.addfile(info)


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 1_700_000_000
    tar.addfile(info, io.BytesIO(data))


def build_busybox_rootfs(path: str) -> str:
    with open(BUSYBOX, "rb") as f:
        busybox = f.read()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("bin", "dev", "etc", "proc", "root", "sys", "usr", "usr/bin", "var"):
            _add_dir(tar, d)
        _add_dir(tar, "tmp", 0o1777)
        _add_file(tar, "bin/busybox", busybox, 0o755)
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            info.mode = 0o777
            info.mtime = 1_700_000_000
            tar.addfile(info)
        _add_file(tar, "etc/passwd", PASSWD.encode())
        _add_file(tar, "etc/group", GROUP.encode())
        _add_file(tar, "etc/hostname", b"busybox\n")
    return path


@pytest.fixture(scope="session")
def busybox_rootfs_tar(tmp_path_factory: pytest.TempPathFactory) -> str:
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed (/bin/busybox)")
    return build_busybox_rootfs(str(tmp_path_factory.mktemp("busybox") / "rootfs.tar"))


@pytest.fixture
def busybox_image(minke: Callable[..., Result], busybox_rootfs_tar: str) -> str:
    r = minke("import", busybox_rootfs_tar, "busybox:latest")
    assert r.code == 0, r
    image_id = r.out.strip()
    assert image_id.startswith("sha256:"), r
    return image_id


def store_hash(root: str) -> str:
    """A digest of a store's contents: every file and symlink below ``root`` (path, mode,
    bytes) and every row of every table of its database, in a stable order.  Empty
    directories and SQLite's page layout are not content and are left out."""
    h = hashlib.sha256()
    db_path = None
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames) + sorted(d for d in dirnames if os.path.islink(os.path.join(dirpath, d))):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if rel.startswith("minke.db"):
                if rel == "minke.db":
                    db_path = path
                continue
            st = os.lstat(path)
            h.update(f"{rel}\0{st.st_mode:o}\0".encode())
            if os.path.islink(path):
                h.update(os.readlink(path).encode())
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    for chunk in iter(lambda f=f: f.read(1 << 20), b""):
                        h.update(chunk)
            h.update(b"\0")
    if db_path:
        conn = sqlite3.connect(db_path)
        try:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
            for t in tables:
                rows = sorted(repr(tuple(r)) for r in conn.execute(f'SELECT * FROM "{t}"'))
                h.update(f"table {t}\n".encode())
                for r in rows:
                    h.update(r.encode() + b"\n")
        finally:
            conn.close()
    return h.hexdigest()


@pytest.fixture(name="store_hash")
def store_hash_fixture() -> Callable[[str], str]:
    return store_hash


@pytest.fixture(autouse=True)
def _no_docker_hub(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach the internet: docker.io is a blocked registry for every test
    (tests that need a registry start their own on loopback and set their own config)."""
    cfg = tmp_path_factory.getbasetemp() / "etc-minke-blocked"
    if not cfg.exists():
        cfg.mkdir(exist_ok=True)
        (cfg / "registries.json").write_text('{"blocked-registries": ["docker.io"]}\n')
    monkeypatch.setenv("MINKE_CONFIG_DIR", str(cfg))


@pytest.fixture(autouse=True)
def _networks_torn_down(tmp_path: Path) -> object:
    """After each test, undo the kernel objects (bridge addresses, iptables rules,
    resolvers, namespaces) of the networks of every minke store the test made under its
    tmp_path.  minke keeps a store's default bridge once used, as Docker keeps docker0;
    a test's store is thrown away, so its bridge state must go with it, or the host's
    address pools run out over a long suite."""
    yield
    for db in sorted(tmp_path.glob("**/minke.db")):
        root = db.parent
        run_root = next((str(p) for p in (root.parent / "run", root.parent / "run-root") if p.is_dir()),
                        str(root.parent / "run"))
        try:
            conn = sqlite3.connect(str(db))
            try:
                has = conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type='table' AND name='networks'").fetchone()
                used = has and conn.execute("SELECT 1 FROM networks LIMIT 1").fetchone()
            except sqlite3.DatabaseError as e:
                if isinstance(e, sqlite3.OperationalError):
                    raise
                used = None  # not a database (a test of that): no store, no networks
            finally:
                conn.close()
            if not used:
                continue
            from minke.config import Config
            from minke.engine import Engine

            engine = Engine(Config(root=str(root), run_root=run_root))
            try:
                engine.networks.teardown_all()
            finally:
                engine.close()
        except Exception as e:  # noqa: BLE001 - report, never mask the test's own result
            import warnings

            warnings.warn(f"network teardown of {root} failed: {e}", stacklevel=1)


@pytest.fixture(autouse=True, scope="session")
def _host_sysctls_restored() -> object:
    """minke turns on net.ipv4.ip_forward for NAT networks and leaves it on, as Docker
    does; the suite puts back what the host had."""
    path = "/proc/sys/net/ipv4/ip_forward"
    try:
        with open(path) as f:
            before = f.read()
    except OSError:
        before = None
    yield
    if before is not None and os.geteuid() == 0:
        with open(path, "w") as f:
            f.write(before)
