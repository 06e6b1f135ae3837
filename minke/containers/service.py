"""ContainerService: the container lifecycle (create, start, stop, kill, restart, rm, wait,
rename, prune, list, inspect, logs).

Lifecycle and who does what::

    create   CLI:     row (name reserved, UNIQUE), writable snapshot over the image's
                      top chain ID, the container dir (hosts, hostname, resolv.conf)
    start    CLI:     lock; mount the rootfs; config.json; spawn the monitor (double fork,
                      own session) and wait for its report on a pipe
             monitor: runtime create + start; row -> running; logs; waits the init
    exit     monitor: row -> exited (code, time, OOM); runtime delete; unmount; then the
                      restart policy (back-off, mount again, create again) or --rm
    stop     CLI:     stop signal, wait, SIGKILL after the timeout (the monitor records)
    rm       CLI:     lock; (-f: SIGKILL and wait for the monitor); unmount; remove the
                      snapshot, the dirs, the row

Every command first reconciles: a container whose monitor is gone (pid missing, or the pid
reused by another process: the start time in /proc differs) is killed, unmounted and
marked exited, so ``ps -a`` never shows a dead container as running.

Paths: ``ROOT/containers/ID/`` holds what outlives a reboot (hosts, hostname, resolv.conf,
the json log); ``RUN_ROOT/containers/ID/`` holds the bundle (config.json, the rootfs mount
point, the attach socket, the monitor's own log); ``RUN_ROOT/locks/ID.lock`` serialises
commands on one container.
"""

from __future__ import annotations

import _signal  # signal's enums are not needed for SIGKILL
import os
import time

from minke import fastjson as json  # json's defaults, without re and enum
from minke.containers.state import Status
from minke.errors import (
    AlreadyExists,
    CannotRun,
    CommandNotFound,
    Conflict,
    InvalidArgument,
    MinkeError,
    NotFound,
    Unavailable,
)
from minke.record import factory, record, replace

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing: for mypy only (its import costs a short command ~4 ms)
    from typing import Any

    from minke.containers.spawn import EarlyMonitor

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")

_ADJECTIVES = (
    "admiring", "agitated", "amazing", "awesome", "blissful", "bold", "brave", "charming",
    "clever", "cool", "dazzling", "eager", "ecstatic", "elegant", "epic", "festive", "focused",
    "friendly", "gallant", "gifted", "happy", "hopeful", "jolly", "keen", "kind", "lucid",
    "modest", "nifty", "optimistic", "peaceful", "quirky", "relaxed", "serene", "sharp",
    "stoic", "sweet", "tender", "trusting", "vibrant", "wizardly", "zealous",
)
_WHALES = (
    "beluga", "blue", "bowhead", "bryde", "cuvier", "fin", "gray", "humpback", "minke",
    "narwhal", "orca", "pilot", "right", "sei", "sperm", "beaked", "pygmy", "dwarf", "omura",
    "rice", "baird", "arnoux", "sowerby", "gervais", "hector", "blainville",
)


def _choice(names: tuple[str, ...]) -> str:
    """A random element (secrets.choice without importing secrets: hmac, random and
    OpenSSL's hashlib cost a ``run`` ~10 ms).  The modulo's bias over 65536 is nothing
    for a name."""
    return names[int.from_bytes(os.urandom(2), "big") % len(names)]


def _random_name() -> str:
    return f"{_choice(_ADJECTIVES)}_{_choice(_WHALES)}"


def check_name(name: str) -> str:
    n = name[1:] if name.startswith("/") else name
    if len(n) < 2 or n[0] in "_.-" or not set(n) <= _NAME_CHARS:
        raise InvalidArgument(f"invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return n


def format_time(ts: float | None) -> str:
    if not ts:
        return "0001-01-01T00:00:00Z"
    secs = int(ts)
    nanos = int(round((ts - secs) * 1e9))
    if nanos >= 1_000_000_000:
        secs, nanos = secs + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{nanos:09d}Z"


@record
class Container:
    """One container row, with its Config and HostConfig parsed."""

    id: str
    name: str
    image_id: str
    image_ref: str
    created: float
    config: dict[str, Any]
    host_config: dict[str, Any]
    snapshot_key: str
    status: Status
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    oom_killed: bool = False
    started_at: float | None = None
    finished_at: float | None = None
    restart_count: int = 0
    monitor_pid: int = 0
    monitor_start: int = 0
    stopped_by_user: bool = False
    runtime: str = ""
    extra: dict[str, Any] = factory(dict, compare=False)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def command(self) -> list[str]:
        from minke.containers.spec import command_of

        return command_of(self.config)

    @classmethod
    def from_row(cls, row: Any) -> Container:
        return cls(
            id=row["id"], name=row["name"], image_id=row["image_id"], image_ref=row["image_ref"],
            created=row["created"], config=json.loads(row["config"]),
            host_config=json.loads(row["host_config"]), snapshot_key=row["snapshot_key"],
            status=Status(row["status"]), pid=row["pid"], exit_code=row["exit_code"],
            error=row["error"], oom_killed=bool(row["oom_killed"]), started_at=row["started_at"],
            finished_at=row["finished_at"], restart_count=row["restart_count"],
            monitor_pid=row["monitor_pid"], monitor_start=row["monitor_start"],
            stopped_by_user=bool(row["stopped_by_user"]), runtime=row["runtime"],
        )


def is_mounted(path: str) -> bool:
    from minke.containers.monitor_exit import is_mounted as _is_mounted

    return _is_mounted(path)


def _proc_start_time(pid: int) -> int:
    from minke.containers.monitor import proc_start_time

    return proc_start_time(pid) if pid > 0 else 0


class ContainerService:
    def __init__(self, config: Any, db: Any, images: Any, snapshots: Any,
                 networks: Any = None, volumes: Any = None) -> None:
        """``images`` is the ImageService, or a function returning it: only create
        needs it, and importing it would slow every ps / stop / rm.  ``networks`` and
        ``volumes`` are functions returning those services, called only when a container
        needs them (so ``--network none|host`` never builds the network service)."""
        self.config = config
        self.db = db
        self._images = images
        self.snapshots = snapshots
        self.networks = networks or _unavailable("networks")
        self._volumes = volumes or _unavailable("volumes")

    @property
    def images(self) -> Any:
        if callable(self._images) and not hasattr(self._images, "get"):
            self._images = self._images()
        return self._images

    # --- paths ---------------------------------------------------------------------------------
    def container_dir(self, cid: str) -> str:
        return os.path.join(self.config.containers_dir, cid)

    def run_dir(self, cid: str) -> str:
        return os.path.join(self.config.run_root, "containers", cid)

    def rootfs(self, cid: str) -> str:
        return os.path.join(self.run_dir(cid), "rootfs")

    def log_path(self, cid: str) -> str:
        return os.path.join(self.container_dir(cid), f"{cid}-json.log")

    def _lock(self, cid: str, timeout: float | None = None):
        from minke.store.locks import FileLock

        d = os.path.join(self.config.run_root, "locks")
        os.makedirs(d, mode=0o700, exist_ok=True)
        return FileLock(os.path.join(d, f"{cid}.lock"), timeout=timeout)

    # --- runtime --------------------------------------------------------------------------------
    def runtime_argv(self, name: str) -> list[str]:
        """The runtime's command line with its state root: ``minke`` is the built-in
        ``minke-runtime``; ``runc``/``crun``/any name is looked up in PATH; a path is used
        as is."""
        name = name or self.config.runtime
        if name in ("minke", "minke-runtime"):
            import sys

            # The built-in runtime is this package, run by this interpreter with -S: its
            # `create`, `start` and `delete` are three interpreters per container, and
            # site's processing of the venv (.pth files, an editable install's finder)
            # costs each ~35 ms.  It imports only the standard library and minke, found
            # here without site.  Same command line as the minke-runtime script.
            pkg_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            boot = (f"import sys; sys.path.insert(0, {pkg_parent!r}); sys.argv[0] = 'minke-runtime'; "
                    "from minke.runtime.cli import main; sys.exit(main())")
            root = os.path.join(self.config.run_root, "runtime", "minke")
            return [sys.executable, "-S", "-c", boot, "--root", root]
        elif "/" in name:
            binary, label = name, os.path.basename(name)
        else:
            import shutil

            binary, label = shutil.which(name), name
        if not binary or not os.access(binary, os.X_OK):
            raise Unavailable(f"runtime {name!r} not found")
        root = os.path.join(self.config.run_root, "runtime", label)
        return [binary, "--root", root]

    # --- lookup -----------------------------------------------------------------------------------
    def _row(self, ref: str) -> Any:
        if not ref:
            raise NotFound("No such container: ")
        row = self.db.query_one("SELECT * FROM containers WHERE id = ?", (ref,))
        if row is None:
            row = self.db.query_one("SELECT * FROM containers WHERE name = ?", (ref.lstrip("/"),))
        if row is None and all(c in "0123456789abcdef" for c in ref):
            rows = self.db.query("SELECT * FROM containers WHERE id LIKE ? LIMIT 2", (ref + "%",))
            if len(rows) > 1:
                raise InvalidArgument(f"multiple containers found with provided prefix: {ref}")
            row = rows[0] if rows else None
        if row is None:
            raise NotFound(f"No such container: {ref}")
        return row

    def get(self, ref: str) -> Container:
        c = Container.from_row(self._row(ref))
        return self._reconcile(c)

    def find(self, ref: str) -> Container | None:
        try:
            return self.get(ref)
        except NotFound:
            return None

    def list(self, all: bool = True) -> list[Container]:
        rows = self.db.query("SELECT * FROM containers ORDER BY created DESC, rowid DESC")
        out = [self._reconcile(Container.from_row(r)) for r in rows]
        return out if all else [c for c in out if c.status in (Status.RUNNING, Status.PAUSED, Status.RESTARTING)]

    def _update(self, cid: str, **cols: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in cols)
        self.db.execute(f"UPDATE containers SET {sets} WHERE id = ?", (*cols.values(), cid))

    def monitor_alive(self, c: Container) -> bool:
        return c.monitor_pid > 0 and _proc_start_time(c.monitor_pid) == c.monitor_start

    def _adopt(self, cid: str) -> bool:
        """Copy the monitor's running state (``monitor.state`` in the run dir) into the
        row, unless the row already records an exit after that start."""
        from minke.containers.monitor import load_settings

        path = os.path.join(self.run_dir(cid), "monitor.state")
        try:
            with open(path) as f:
                st = load_settings(f.read())
        except (OSError, ValueError):
            return False
        if "started_at" not in st or "init_pid" not in st:
            return False
        cur = self.db.execute(
            "UPDATE containers SET status = 'running', pid = ?, started_at = ?, exit_code = 0, error = '',"
            " oom_killed = 0, monitor_pid = ?, monitor_start = ?, restart_count = ?"
            " WHERE id = ? AND status IN ('created', 'exited', 'restarting')"
            " AND (finished_at IS NULL OR finished_at < ?)",
            (st["init_pid"], st["started_at"], st["monitor_pid"], st["monitor_start"], st["restart_count"], cid, st["started_at"]),
        )
        return cur.rowcount > 0

    def _reconcile(self, c: Container) -> Container:
        """A container said to be running whose monitor is gone: clean up, mark exited.
        A container still 'created' whose monitor left a running state (the CLI that
        started it died before recording it) is adopted first."""
        if c.status in (Status.CREATED, Status.EXITED) and os.path.exists(os.path.join(self.run_dir(c.id), "monitor.state")):
            if self._adopt(c.id):
                c = Container.from_row(self._row(c.id))
        if not c.status.is_active or self.monitor_alive(c):
            return c
        # Re-read under the lock: the monitor may just have recorded the exit itself.
        with self._lock(c.id):
            row = self.db.query_one("SELECT * FROM containers WHERE id = ?", (c.id,))
            if row is None:
                raise NotFound(f"No such container: {c.id}")
            c = Container.from_row(row)
            if not c.status.is_active or self.monitor_alive(c):
                return c
            self._runtime_quiet(c, "kill", c.id, "KILL")
            self._runtime_quiet(c, "delete", "--force", c.id)
            self._unmount(c.id)
            self._network_down(c.id, c.host_config)
            self._update(
                c.id, status=Status.EXITED.value, pid=0, exit_code=137 if c.status is Status.RUNNING else c.exit_code,
                finished_at=time.time(), error="container monitor died", monitor_pid=0,
            )
            return Container.from_row(self.db.query_one("SELECT * FROM containers WHERE id = ?", (c.id,)))

    def _event(self, action: str, c: Container, **extra: object) -> None:
        """Record a container event (``minke events``); never fails the operation."""
        from minke import events

        events.container(self.config.root, action, c, **extra)

    def _builtin_runtime(self, c: Container) -> Any | None:
        """The built-in runtime's ``Runtime`` for this container, or None for another
        runtime.  Its kill, delete, pause and resume are called in-process: the same
        functions its command runs, without a new interpreter (~60 ms a call)."""
        if (c.runtime or self.config.runtime) not in ("minke", "minke-runtime"):
            return None
        from minke.runtime.container import Runtime

        return Runtime(os.path.join(self.config.run_root, "runtime", "minke"), warn=lambda _m: None)

    def _runtime_quiet(self, c: Container, *args: str) -> int:
        rt = self._builtin_runtime(c)
        if rt is not None:
            from minke.runtime.container import parse_signal

            cmd, rest = args[0], args[1:]
            try:
                if cmd == "kill":
                    rt.kill(rest[0], parse_signal(rest[1]))
                elif cmd == "delete":
                    rt.delete(rest[-1], force="--force" in rest)
                elif cmd == "resume":
                    rt.resume(rest[0])
                else:
                    raise ValueError(f"runtime command {cmd!r}")
            except (MinkeError, OSError):
                return 1
            return 0
        try:
            argv = self.runtime_argv(c.runtime)
        except Unavailable:
            return -1
        import subprocess  # here: ~5-15 ms of imports that a built-in runtime's rm or kill needs not

        return subprocess.run(argv + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode

    # --- create -------------------------------------------------------------------------------------
    def _resolve_image(self, ref: str) -> tuple[str, dict, str | None]:
        """(image id, the image config's ``config`` object, top chain id)."""
        img = self.images.get(ref)
        cfg = self.images.image_config(img.id)
        inner = (cfg.get("config") or cfg.get("Config") or {}) if isinstance(cfg, dict) else {}
        return img.id, inner, img.chain_id

    def create(self, config: dict[str, Any], host_config: dict[str, Any] | None = None, name: str | None = None,
               networking_config: dict[str, Any] | None = None, cid: str | None = None) -> Container:
        """Docker's create: ``config`` is Docker's Config (``Image`` required; ``Cmd`` /
        ``Entrypoint`` None for the image's), ``host_config`` Docker's HostConfig,
        ``networking_config`` Docker's NetworkingConfig (aliases, --ip, --mac-address per
        network; kept in the config JSON, which has no column of its own for it)."""
        from minke.containers.options import validate_host_config
        from minke.containers.spec import make_config

        hc = dict(host_config or {})
        hc.setdefault("NetworkMode", "default")
        hc.setdefault("RestartPolicy", {"Name": "", "MaximumRetryCount": 0})
        hc.setdefault("LogConfig", {"Type": "json-file", "Config": {}})
        hc.setdefault("Runtime", self.config.runtime)
        validate_host_config(hc)
        runtime = hc.get("Runtime") or self.config.runtime
        self.runtime_argv(runtime)  # fail early on an unknown runtime
        image_ref = config.get("Image") or ""
        if not image_ref:
            raise InvalidArgument("no image given")
        self._check_network(hc, networking_config)
        self._volumes_from(hc)  # Docker's errors at create: an unknown container, a bad mode
        image_id, image_cfg, chain_id = self._resolve_image(image_ref)
        ep = config.get("Entrypoint")
        if ep is not None:
            ep = [] if list(ep) == [""] else list(ep)
        cfg = make_config(
            image_cfg, image=image_ref, cmd=config.get("Cmd") or None, entrypoint=ep,
            env=config.get("Env") or [], user=config.get("User"), workdir=config.get("WorkingDir") or None,
            hostname=config.get("Hostname") or None, labels=config.get("Labels") or {},
            tty=bool(config.get("Tty")), open_stdin=bool(config.get("OpenStdin")),
            stop_signal=config.get("StopSignal") or None, stop_timeout=config.get("StopTimeout"),
        )
        if config.get("Healthcheck") or image_cfg.get("Healthcheck"):
            from minke.containers.health import for_container  # ~1 ms of import: only for one

            cfg = for_container(cfg, config.get("Healthcheck"), image_cfg.get("Healthcheck"))
        else:
            cfg.pop("Healthcheck", None)  # what for_container leaves of none and none
        cfg["StdinOnce"] = bool(config.get("StdinOnce"))
        for k in ("AttachStdin", "AttachStdout", "AttachStderr"):
            cfg[k] = bool(config.get(k))
        if config.get("ExposedPorts"):
            cfg["ExposedPorts"] = {**(cfg.get("ExposedPorts") or {}), **config["ExposedPorts"]}
        if networking_config and networking_config.get("EndpointsConfig"):
            cfg["NetworkingConfig"] = networking_config
        cid = cid or os.urandom(32).hex()
        if not cfg["Hostname"]:
            cfg["Hostname"] = cid[:12]
        explicit = name is not None
        hc = self._create_volumes(hc, image_cfg.get("Volumes"))
        try:
            c = self._insert(cid, name, explicit, image_id, image_ref, cfg, hc, runtime, chain_id)
        except BaseException:
            self._remove_volumes(hc)
            raise
        self._event("create", c)
        return c

    def _check_network(self, hc: dict[str, Any], networking_config: dict[str, Any] | None) -> None:
        """Fail before anything is made: an unknown network or container:REF, or
        options the mode cannot take."""
        from minke.network.container import plan

        atts, _ = plan(hc, networking_config)
        for a in atts:
            if a.network.startswith("container:"):
                self.get(a.network.split(":", 1)[1])
            elif a.network not in ("none", "host", "bridge"):
                self.networks().get(a.network)

    def _volumes_from(self, hc: dict[str, Any]) -> list[tuple[Container, str]]:
        """HostConfig.VolumesFrom (``CONTAINER[:ro|rw]``): the containers and modes."""
        out = []
        for item in hc.get("VolumesFrom") or []:
            ref, _, mode = str(item).partition(":")
            if mode not in ("", "ro", "rw"):
                raise InvalidArgument(f"invalid mode: {mode}")
            try:
                other = self.get(ref)
            except NotFound:
                raise NotFound(f"No such container: {ref}") from None
            out.append((other, mode))
        return out

    def _with_volumes_from(self, c: Container) -> Container:
        """The container with its --volumes-from mounts added to HostConfig.Mounts, as
        Docker resolves them at start: each volume and bind mount of the other container
        at the same place (read-only with ``:ro``, writable with ``:rw``, else as there),
        unless this container mounts something there itself.  Not saved: the volumes stay
        the other container's (``rm -v`` here does not remove them)."""
        sources = self._volumes_from(c.host_config)
        if not sources:
            return c
        hc = dict(c.host_config)
        mounts = list(hc.get("Mounts") or [])
        taken = {m.get("Target", "").rstrip("/") for m in mounts} | {p.rstrip("/") for p in hc.get("Tmpfs") or {}}
        for other, mode in sources:
            for m in other.host_config.get("Mounts") or []:
                target = m.get("Target", "").rstrip("/")
                if m.get("Type") not in ("volume", "bind") or target in taken:
                    continue
                taken.add(target)
                mounts.append(dict(m, ReadOnly=(mode == "ro") if mode else bool(m.get("ReadOnly"))))
        hc["Mounts"] = mounts
        return replace(c, host_config=hc)

    def _create_volumes(self, hc: dict[str, Any], image_volumes: dict[str, Any] | None) -> dict[str, Any]:
        from minke.volumes.mounts import container_mounts

        specs = container_mounts(hc, image_volumes)
        if not specs:
            return hc
        from minke.volumes import container as vc

        # Binds and tmpfs alone need no volume service (nor its import).
        return vc.create_hook(self._volumes() if any(m.type == "volume" for m in specs) else None, hc, image_volumes)

    def _remove_volumes(self, hc: dict[str, Any]) -> None:
        if any(m.get("Type") == "volume" for m in hc.get("Mounts") or []):
            from minke.volumes import container as vc

            vc.remove_hook(self._volumes(), hc)

    def _insert(self, cid: str, name: str | None, explicit: bool, image_id: str, image_ref: str,
                cfg: dict[str, Any], hc: dict[str, Any], runtime: str, chain_id: str | None) -> Container:
        from minke.containers.spec import hosts_file, resolv_conf

        nm = check_name(name) if explicit else _random_name()
        now = time.time()
        for attempt in range(20):
            try:
                with self.db.transaction():
                    self.db.execute(
                        "INSERT INTO containers (id, name, image_id, image_ref, created, config, host_config, snapshot_key, status, runtime)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'created', ?)",
                        (cid, nm, image_id, image_ref, now, json.dumps(cfg), json.dumps(hc), cid, runtime),
                    )
                break
            except Exception as e:  # sqlite3.IntegrityError, without importing sqlite3 here
                if "UNIQUE" not in str(e) and "unique" not in str(e):
                    raise
                if explicit:
                    other = self.db.query_one("SELECT id FROM containers WHERE name = ?", (nm,))
                    oid = other["id"] if other else "?"
                    raise AlreadyExists(
                        f'Conflict. The container name "/{nm}" is already in use by container "{oid}". '
                        "You have to remove (or rename) that container to be able to reuse that name."
                    ) from None
                nm = _random_name() + (str(attempt) if attempt > 5 else "")
        try:
            self.snapshots.prepare(cid, parent=chain_id, labels={"minke.io/container": cid})
            d = self.container_dir(cid)
            os.makedirs(d, mode=0o710, exist_ok=True)
            try:
                with open("/etc/resolv.conf") as f:
                    host_resolv = f.read()
            except OSError:
                host_resolv = ""
            for fname, text in (("hosts", hosts_file(cfg["Hostname"])), ("hostname", cfg["Hostname"] + "\n"), ("resolv.conf", resolv_conf(host_resolv))):
                with open(os.path.join(d, fname), "w") as f:
                    f.write(text)
        except BaseException:
            self._remove_files(cid)
            raise
        return self.get(cid)

    # --- start -------------------------------------------------------------------------------------
    def _mount_rootfs(self, c: Container) -> str:
        from minke.snapshots.mount import mount_all

        target = self.rootfs(c.id)
        os.makedirs(target, mode=0o700, exist_ok=True)
        if not is_mounted(target):
            mounts = self.snapshots.mounts(c.snapshot_key)
            if c.host_config.get("AutoRemove"):
                volatile = [_volatile(m) for m in mounts]
                try:
                    mount_all(volatile, target)
                    return target
                except MinkeError:
                    pass  # a kernel before 5.10 has no "volatile": mount it the usual way
            mount_all(mounts, target)
        return target

    def _unmount(self, cid: str) -> None:
        from minke.containers.monitor_exit import unmount_rootfs

        unmount_rootfs(self.rootfs(cid))

    def _read_image_file(self, rootfs: str, path: str) -> str | None:
        # The image's /etc/passwd may be a symlink: resolve it inside the rootfs, never
        # on the host.
        full = os.path.join(rootfs, path.lstrip("/"))
        for _ in range(10):
            if not os.path.islink(full):
                break
            target = os.readlink(full)
            base = rootfs if target.startswith("/") else os.path.dirname(full)
            full = os.path.normpath(os.path.join(base, target.lstrip("/")))
            if not full.startswith(rootfs):
                return None
        try:
            with open(full, encoding="utf-8", errors="replace") as f:
                return f.read(1 << 20)
        except OSError:
            return None

    def _write_bundle(self, c: Container) -> dict:
        """Mount the rootfs and write config.json; return the monitor's settings."""
        from minke.containers.spec import SpecInputs, build_spec, default_caps, security_options

        rundir = self.run_dir(c.id)
        os.makedirs(rundir, mode=0o700, exist_ok=True)
        rootfs = self._mount_rootfs(c)
        c = self._with_volumes_from(c)
        hc = c.host_config
        sec = security_options(hc.get("SecurityOpt") or [])
        seccomp_file = None
        if sec["seccomp"] not in ("default", "unconfined"):
            try:
                with open(sec["seccomp"]) as f:
                    seccomp_file = json.load(f)
            except (OSError, ValueError) as e:
                raise InvalidArgument(f"opening seccomp profile ({sec['seccomp']}) failed: {e}") from None
        from minke.containers.spec import bounding_caps, capabilities

        with open("/proc/self/status") as f:
            all_caps = bounding_caps(f.read())
        caps = tuple(c for c in default_caps() if c in all_caps)
        eff = capabilities(hc.get("CapAdd") or [], hc.get("CapDrop") or [], bool(hc.get("Privileged")), caps, all_caps)
        seccomp = None
        if sec["seccomp"] == "default" and not hc.get("Privileged"):
            seccomp = self._default_seccomp(eff)
        # os.uname, not platform.machine: the platform module compiles a dozen regexes.
        machine = os.uname().machine
        import resource

        init_path = self._init_binary(machine) if hc.get("Init") else None

        spec = build_spec(c.config, hc, SpecInputs(
            container_id=c.id, rootfs=rootfs, container_dir=self.container_dir(c.id),
            passwd=self._read_image_file(rootfs, "/etc/passwd"), group=self._read_image_file(rootfs, "/etc/group"),
            cgroup_parent=self.config.cgroup_parent, default_caps=caps, all_caps=all_caps, seccomp=seccomp,
            seccomp_file=seccomp_file, init_path=init_path, arch=machine,
            # Docker's containers inherit dockerd's open-file limits; ours inherit the
            # caller's (raising the hard limit needs CAP_SYS_RESOURCE, not always there).
            nofile=resource.getrlimit(resource.RLIMIT_NOFILE),
        ))
        if hc.get("Init"):
            _resolve_in_path(spec, rootfs)
        self._attach_network_and_volumes(c, spec, rootfs)
        tmp = os.path.join(rundir, "config.json.tmp")
        with open(tmp, "w") as f:
            json.dump(spec, f)
        os.replace(tmp, os.path.join(rundir, "config.json"))
        return self._monitor_settings(c)

    def _monitor_settings(self, c: Container) -> dict:
        """The monitor's settings: known before the rootfs is mounted and the bundle
        written, so the monitor can start (and warm up the runtime) meanwhile."""
        from minke import events
        from minke.containers.options import log_limits
        from minke.containers.spec import cgroups_path

        rundir = self.run_dir(c.id)
        size, files = log_limits(c.host_config.get("LogConfig") or {})
        return {
            "id": c.id,
            "runtime_argv": self.runtime_argv(c.runtime),
            # The built-in runtime's state root: the monitor runs its commands in a fork.
            "runtime_builtin": (os.path.join(self.config.run_root, "runtime", "minke")
                                if (c.runtime or self.config.runtime) in ("minke", "minke-runtime") else ""),
            "bundle": rundir,
            "log_path": self.log_path(c.id),
            "log_max_size": size,
            "log_max_files": files,
            "tty": bool(c.config.get("Tty")),
            "open_stdin": bool(c.config.get("OpenStdin")),
            "attach_socket": os.path.join(rundir, "attach.sock"),
            "db_path": self.config.db_path,
            "root": self.config.root,
            "run_root": self.config.run_root,
            "snapshotter": self.config.snapshotter,
            "cgroup_path": cgroups_path(self.config.cgroup_parent, c.id),
            "restart_count": c.restart_count,
            "network_teardown": _needs_network_service(c.host_config),
            "auto_remove": bool(c.host_config.get("AutoRemove")),
            **_health_settings(c.config, self.container_dir(c.id)),
            **events.monitor_settings(c),  # its restarts' start, oom, die, health events
        }

    def _attach_network_and_volumes(self, c: Container, spec: dict, rootfs: str) -> None:
        """Set up the container's networks (rewriting its resolv.conf and hosts) and put
        its volumes in the spec; the networks are undone if the volumes fail."""
        from minke.network import container as nc

        hc = c.host_config
        nc.start_hook(
            self.networks, container_id=c.id, name=c.name, hostname=c.config.get("Hostname") or c.id[:12],
            host_config=hc, spec=spec, container_dir=self.container_dir(c.id),
            networking_config=c.config.get("NetworkingConfig"), exposed_ports=c.config.get("ExposedPorts"),
            netns_of=self._netns_of,
        )
        if not any(m.get("Type") == "volume" for m in hc.get("Mounts") or []):
            return
        try:
            from minke.volumes import container as vc

            vc.start_hook(self._volumes(), hc, rootfs, spec)
        except BaseException:
            nc.stop_hook(self.networks, c.id, hc)
            raise

    def _netns_of(self, ref: str) -> str:
        other = self.get(ref)
        if other.status is not Status.RUNNING or not other.pid:
            raise Conflict(f"cannot join network of a non running container: {other.id}")
        return f"/proc/{other.pid}/ns/net"

    def _network_down(self, cid: str, hc: dict[str, Any] | None = None) -> None:
        """After the last exit (no restart follows), in rm and when a dead monitor is
        noticed: the container's ports, veths, addresses and netns go.  Best effort: a
        failure here must not keep a container from being removed."""
        from minke.network import container as nc

        if hc is None:
            row = self.db.query_one("SELECT host_config FROM containers WHERE id = ?", (cid,))
            if row is None:
                return  # removed already, and rm took the network down
            hc = json.loads(row["host_config"])
        try:
            nc.stop_hook(self.networks, cid, hc)
        except MinkeError:
            pass

    def _init_binary(self, arch: str) -> str:
        """minke's --init program (minke.containers.init_elf), written once per content."""
        from minke.containers.init_elf import build_init
        from minke.sha256 import hexdigest

        data = build_init(arch)
        path = os.path.join(self.config.run_root, "init", "minke-init-" + hexdigest(data)[:12])
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o755)
            os.replace(tmp, path)
        return path

    def _default_seccomp(self, caps: list[str]) -> dict | None:
        """Docker's default profile for these capabilities, cached in the run dir: building
        it costs a start tens of milliseconds (import and rule expansion), reading it back
        a fraction of one.  The key covers the caps and the profile code's own files."""
        import minke.runtime as rt
        from minke.sha256 import hexdigest

        srcs = [os.path.join(os.path.dirname(rt.__file__), n) for n in ("seccomp.py", "seccomp_load.py", "seccomp_default.py")]
        stamp = ";".join(f"{p}:{os.stat(p).st_mtime_ns}" for p in srcs if os.path.exists(p))
        key = hexdigest(("\0".join(sorted(caps)) + "|" + stamp).encode())[:32]
        path = os.path.join(self.config.run_root, "seccomp", f"{key}.json")
        try:
            with open(path, "rb") as f:
                return json.load(f)
        except (OSError, ValueError):
            pass
        try:
            from minke.runtime.seccomp import default_profile
        except ImportError:
            return None
        profile = default_profile(caps)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(profile, f)
        os.replace(tmp, path)
        from minke.runtime.seccomp_load import prune_cache

        prune_cache(os.path.dirname(path))
        return profile

    def start(self, ref: str, *, attach: dict | None = None, early: EarlyMonitor | None = None) -> Any:
        """Start a container.  With ``attach`` ({"stdin": bool, "stdout": bool, "stderr":
        bool}) the caller is attached before the process starts, so it misses no output;
        an ``AttachSession`` is returned.  ``early``: the monitor ``spawn_early`` started
        for this container before it was created (``run``)."""
        try:
            c = self.get(ref)
        except BaseException:
            if early is not None:
                early.abort()
            raise
        with self._lock(c.id):
            c = Container.from_row(self._row(c.id))
            if early is not None and (early.id != c.id or c.status is not Status.CREATED):
                early.abort()
                early = None
            c.status.check_start(c.id)
            if c.status is Status.RUNNING:
                return self.attach(c.id, **attach) if attach else None
            if c.status is Status.EXITED:
                self._wait_previous_monitor(c.id)
            # The monitor starts first and warms the runtime up (its interpreter, the
            # runtime's imports) while we mount the rootfs, set up the network and write
            # the bundle: two cores do both at once.  It creates the container once we say
            # "go" on its go pipe; when we fail first, the pipe closes unsaid and the
            # monitor leaves without touching anything.
            mcfg = self._monitor_settings(c)
            mcfg["wait_attach"] = attach is not None
            from minke.containers.monitor import dump_settings

            os.makedirs(self.run_dir(c.id), mode=0o700, exist_ok=True)
            path = os.path.join(self.run_dir(c.id), "monitor.conf")
            with open(path, "w") as f:
                f.write(dump_settings(mcfg))
            self._update(c.id, stopped_by_user=0)
            if early is not None:
                r, go_w = early.sync_r, early.go_w
                early.reap()  # its first child exited long ago (run created the container since)
            else:
                from minke.containers.spawn import spawn_monitor

                go_r, go_w = os.pipe2(os.O_CLOEXEC)
                try:
                    r = spawn_monitor(self.run_dir(c.id), path, go_r, bool(mcfg["runtime_builtin"]))
                finally:
                    os.close(go_r)
            try:
                self._write_bundle(c)
            except BaseException:
                os.close(go_w)
                # The monitor (and its runtime fork) hold the sync pipe until they exit:
                # its end of file says they are gone, leaving nothing behind.
                from minke.containers.spawn import read_until_eof

                read_until_eof(r, 10)
                os.close(r)
                self._network_down(c.id, c.host_config)
                self._unmount(c.id)
                raise
            try:
                os.write(go_w, b"go\n")
            except BrokenPipeError:
                pass  # the monitor is gone: its report (none) below says so
            finally:
                os.close(go_w)
            session = None
            if attach is not None and early is not None:
                # Its monitor has listened since it was spawned: attach while it creates
                # the container (it accepts once the container is created, before the
                # start), rather than after its "created" (a round trip, ~1 ms).
                try:
                    session = AttachSession.connect(mcfg["attach_socket"], **attach)
                except MinkeError:
                    session = None  # not listening yet: after "created", as for a start
            try:
                reports = SyncLines(r)
                line = reports.next()
                if line.startswith("created") and attach is not None:
                    if session is None:
                        session = AttachSession.connect(mcfg["attach_socket"], **attach)
                    line = reports.next()
            finally:
                os.close(r)
            if line.startswith("ok"):
                self._adopt(c.id)
                self._event("start", c)
                return session
            if session is not None:
                session.close()
            self._network_down(c.id, c.host_config)
            if line.startswith("err"):
                _, code, msg = (line.split(" ", 2) + ["", ""])[:3]
                cls = {127: CommandNotFound, 126: CannotRun}.get(int(code), MinkeError)
                raise cls(msg)
            # The monitor died before it could report: its log says why.
            self._unmount(c.id)
            raise MinkeError(f"container {c.short_id} monitor failed to start: {self._monitor_log_tail(c.id)}")

    def _monitor_log_tail(self, cid: str) -> str:
        try:
            with open(os.path.join(self.run_dir(cid), "monitor.log")) as f:
                lines = [ln for ln in f.read().splitlines() if ln.strip()]
            return lines[-1] if lines else "no output"
        except OSError:
            return "no output"

    def spawn_early(self, runtime: str | None = None) -> EarlyMonitor:
        """``minke.containers.spawn.spawn_early`` for this store."""
        from minke.containers.spawn import spawn_early

        return spawn_early(self.config.run_root, runtime or self.config.runtime)

    # --- called by the monitor ---------------------------------------------------------------------
    def _start_failed(self, cid: str, code: int, message: str) -> None:
        self._unmount(cid)
        self._update(cid, status=Status.CREATED.value if self._status(cid) == Status.CREATED else Status.EXITED.value,
                     exit_code=code, error=message, pid=0, monitor_pid=0)
        row = self.db.query_one("SELECT host_config FROM containers WHERE id = ?", (cid,))
        if row is not None:
            self._network_down(cid, json.loads(row["host_config"]))
        if row is not None and json.loads(row["host_config"]).get("AutoRemove"):
            self._remove_files(cid)

    def _status(self, cid: str) -> Status | None:
        row = self.db.query_one("SELECT status FROM containers WHERE id = ?", (cid,))
        return Status(row["status"]) if row else None

    def auto_remove(self, cid: str, held: Any = None, settle: Any = None) -> None:
        """--rm after the exit, by the monitor or by the CLI of a foreground ``run --rm``
        that heard the exit code (both may try: they take turns under the lock, and
        the second finds nothing).  The monitor tells that CLI the code before it
        records the exit, so the row may still say running: the init is gone by then,
        nothing is left to stop (the monitor deletes the runtime's state and cgroups
        meanwhile; the CLI waits for it through ``settle``).  ``held``: the
        container's lock, already taken (released here); ``settle()``: called before the
        destroy event (a `run` waits there for the monitor, which writes the die event)."""
        lock = held if held is not None else self._lock(cid).acquire()
        try:
            row = self.db.query_one("SELECT host_config FROM containers WHERE id = ?", (cid,))
            if row is not None:
                hc = json.loads(row["host_config"])
                self._network_down(cid, hc)
                self._remove_files(cid, settle)
                # Docker's --rm takes the anonymous volumes along.
                self._remove_volumes(hc)
        finally:
            lock.release()

    def _restart_after_exit(self, cid: str, restart_count: int, ran_for: float, delay_fn) -> int | None:
        """The restart policy said yes: wait the back-off (a stop or rm cancels it), mount
        and write the bundle again; the new restart count, or None when cancelled."""
        self._network_down(cid)  # set up again, fresh, by _write_bundle
        self._update(cid, status=Status.RESTARTING.value)
        delay = 0.1 if ran_for >= 10 else delay_fn(restart_count)
        end = time.monotonic() + delay
        while time.monotonic() < end:
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))
            row = self.db.query_one("SELECT stopped_by_user, status FROM containers WHERE id = ?", (cid,))
            if row is None or row["stopped_by_user"] or row["status"] == Status.REMOVING.value:
                if row is not None and row["status"] != Status.REMOVING.value:
                    self._update(cid, status=Status.EXITED.value)
                return None
        try:
            self._write_bundle(Container.from_row(self.db.query_one("SELECT * FROM containers WHERE id = ?", (cid,))))
        except MinkeError as e:
            self._unmount(cid)
            self._update(cid, status=Status.EXITED.value, error=str(e))
            return None
        return restart_count + 1

    # --- stop / kill / restart -------------------------------------------------------------------------
    def kill(self, ref: str, signal: int | str = "KILL") -> Container:
        from minke.containers.options import parse_signal

        sig = parse_signal(str(signal))
        c = self.get(ref)
        c.status.check_kill(c.id)
        stop_sig = parse_signal(c.config.get("StopSignal") or "SIGTERM")
        if sig in (_signal.SIGKILL, stop_sig):
            self._update(c.id, stopped_by_user=1)
        if c.status is Status.RESTARTING:
            return c
        self._signal(c, sig)
        return c

    def _signal(self, c: Container, sig: int) -> None:
        rt = self._builtin_runtime(c)
        if rt is not None:
            error = ""
            try:
                rt.kill(c.id, sig)
            except (MinkeError, OSError) as e:
                error = str(e) or "runtime kill failed"
        else:
            import subprocess  # here, as in _runtime_quiet

            res = subprocess.run(self.runtime_argv(c.runtime) + ["kill", c.id, str(sig)], stdin=subprocess.DEVNULL,
                                 capture_output=True, text=True)
            error = "" if res.returncode == 0 else (res.stderr.strip().splitlines() or ["runtime kill failed"])[-1]
        if c.status is Status.PAUSED:  # a frozen process gets the signal once thawed (Docker)
            self._runtime_quiet(c, "resume", c.id)
        if not error:
            self._event("kill", c, signal=sig)
        if error:
            # The container may have exited between our read and the kill.
            now = self.get(c.id)
            if now.status is Status.RUNNING:
                raise MinkeError(f"cannot kill container {c.short_id}: {error}")

    def _wait_not_running(self, cid: str, timeout: float | None) -> bool:
        end = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        while True:
            c = self.get(cid)
            if c.status not in (Status.RUNNING, Status.PAUSED):
                return True
            if end is not None and time.monotonic() >= end:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> Container:
        """The stop signal, then SIGKILL after ``timeout`` seconds (the container's
        StopTimeout, else 10).  Stopping a stopped container is not an error (Docker)."""
        return self.stop_finish(self.stop_begin(ref, timeout, signal))

    def stop_begin(self, ref: str, timeout: int | None = None, signal: str | None = None) -> tuple:
        """``stop``'s first half: the stop signal sent; what ``stop_finish`` takes.  ``minke
        stop`` of several containers signals them all first, so that each one's grace
        period runs from then (Docker stops them in parallel), not after the one before."""
        from minke.containers.options import parse_signal

        c = self.get(ref)
        self._update(c.id, stopped_by_user=1)
        if not c.status.can_stop() or c.status is Status.RESTARTING:
            return c, 0, 0.0
        t = timeout if timeout is not None else c.config.get("StopTimeout", 10)
        if t is None:
            t = 10
        sig = parse_signal(signal or c.config.get("StopSignal") or "SIGTERM")
        try:
            self._signal(c, sig)
        except MinkeError:
            pass
        return c, t, time.monotonic() + max(t, 0)

    def stop_finish(self, begun: tuple) -> Container:
        """``stop``'s second half: SIGKILL once the grace period is over, then the exit
        recorded and the monitor done."""
        c, t, deadline = begun
        if not c.status.can_stop():
            return c
        if c.status is Status.RESTARTING:
            self._wait_not_running(c.id, 5)
            return self.get(c.id)
        if t < 0 or not self._wait_not_running(c.id, max(0.0, deadline - time.monotonic())):
            try:
                self._signal(c, _signal.SIGKILL)
            except MinkeError:
                pass
            self._wait_not_running(c.id, 10)
        # The monitor records the exit before it cleans up; wait for it so a following
        # rm or start finds the rootfs unmounted.
        c = self.get(c.id)
        end = time.monotonic() + 10
        while c.monitor_pid and self.monitor_alive(c) and c.status is Status.EXITED and time.monotonic() < end:
            time.sleep(0.01)
        c = self.get(c.id)
        self._event("stop", c)
        return c

    def restart(self, ref: str, timeout: int | None = None, begun: tuple | None = None) -> Container:
        """Stop, then start.  ``begun``: its ``stop_begin`` already done (``minke restart``
        of several containers signals them all first, as ``stop`` does)."""
        c = self.stop_finish(begun if begun is not None else self.stop_begin(ref, timeout))
        self._wait_monitor_gone(c, 10)
        self.start(c.id)
        c = self.get(c.id)
        self._event("restart", c)
        return c

    def _wait_monitor_gone(self, c: Container, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while self.monitor_alive(c):
            if time.monotonic() > end:
                return False
            time.sleep(0.01)
        return True

    # --- wait -------------------------------------------------------------------------------------------
    def wait(self, ref: str, condition: str = "not-running") -> int:
        """Block until the container stops (or is removed: ``condition="removed"``) and
        return its exit code."""
        c = self.get(ref)
        cid = c.id
        seen_running = c.status is not Status.CREATED
        delay = 0.005
        last = c
        while True:
            try:
                c = self.get(cid)
            except NotFound:
                if condition == "removed" or seen_running:
                    return last.exit_code
                raise
            last = c
            if c.status is not Status.CREATED:
                seen_running = True
            if condition != "removed" and c.status in (Status.EXITED, Status.DEAD) and not self.monitor_alive(c):
                return c.exit_code
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    # --- remove ---------------------------------------------------------------------------------------
    def kill_ahead(self, ref: str) -> None:
        """``rm -f`` of several containers: SIGKILL this running one now, so that its
        monitor records the exit while the ones before it are removed (``remove`` then
        finds it exited, or soon to be; Docker removes them in parallel).  It will not be
        restarted.  Best effort: ``remove`` reports what is wrong with it."""
        try:
            c = self.get(ref)
            if c.status is not Status.RUNNING:
                return
            with self._lock(c.id):
                row = self.db.query_one("SELECT * FROM containers WHERE id = ?", (c.id,))
                if row is None or Status(row["status"]) is not Status.RUNNING:
                    return
                self._update(c.id, stopped_by_user=1)
                self._runtime_quiet(c, "kill", c.id, "KILL")
        except MinkeError:
            pass

    def remove(self, ref: str, force: bool = False, volumes: bool = False) -> str:
        """``volumes``: ``rm -v``, the container's anonymous volumes go too."""
        c = self.get(ref)
        c.status.check_remove(c.id, force)
        with self._lock(c.id):
            row = self.db.query_one("SELECT * FROM containers WHERE id = ?", (c.id,))
            if row is None:  # removed by another command while we waited for the lock
                raise NotFound(f"No such container: {ref}")
            c = Container.from_row(row)
            c.status.check_remove(c.id, force)
            if c.status.is_active:
                self._update(c.id, stopped_by_user=1, status=Status.REMOVING.value)
                if c.status is not Status.RESTARTING:
                    self._runtime_quiet(c, "kill", c.id, "KILL")
                if c.status is Status.PAUSED:
                    self._runtime_quiet(c, "resume", c.id)
                if not self._wait_monitor_gone(c, 10):
                    os.kill(c.monitor_pid, _signal.SIGKILL)
                    self._wait_monitor_gone(c, 5)
                self._runtime_quiet(c, "delete", "--force", c.id)
            elif c.status is Status.CREATED and self._stop_starting_monitor(c):
                self._runtime_quiet(c, "delete", "--force", c.id)
            self._network_down(c.id, c.host_config)
            self._remove_files(c.id)
            if volumes:
                self._remove_volumes(c.host_config)
        return c.id

    def _previous_monitor(self, cid: str) -> tuple[int, int] | None:
        """(pid, start time) of a live monitor of this container per ``monitor.pid``."""
        try:
            with open(os.path.join(self.run_dir(cid), "monitor.pid")) as f:
                pid_s, start_s = f.read().split()
            pid, start = int(pid_s), int(start_s)
        except (OSError, ValueError):
            return None
        if pid <= 0 or _proc_start_time(pid) != start:
            return None
        return pid, start

    def _wait_previous_monitor(self, cid: str, timeout: float = 10) -> None:
        """A monitor that reported the exit may still be unmounting: let it finish
        before this start mounts the rootfs again."""
        prev = self._previous_monitor(cid)
        end = time.monotonic() + timeout
        while prev is not None and _proc_start_time(prev[0]) == prev[1]:
            if time.monotonic() > end:
                raise Unavailable(f"container {cid[:12]}: its previous monitor (pid {prev[0]}) is still running")
            time.sleep(0.005)

    def _stop_starting_monitor(self, c: Container) -> bool:
        """A 'created' container can have a monitor still starting it (its CLI was
        killed): SIGKILL the monitor's process group (its own, made by the setsid of the
        double fork; the runtime's create is in it).  True when there was one."""
        try:
            with open(os.path.join(self.run_dir(c.id), "monitor.pid")) as f:
                pid_s, start_s = f.read().split()
            pid, start = int(pid_s), int(start_s)
        except (OSError, ValueError):
            return False
        if pid <= 0 or _proc_start_time(pid) != start:
            return False
        try:
            os.killpg(os.getpgid(pid), _signal.SIGKILL)
        except ProcessLookupError:
            return False
        end = time.monotonic() + 5
        while _proc_start_time(pid) == start and time.monotonic() < end:
            time.sleep(0.01)
        return True

    def _remove_files(self, cid: str, settle: Any = None) -> None:
        """Idempotent: unmount, drop the snapshot, the dirs and the row; ``settle()``
        before the destroy event."""
        self._unmount(cid)
        try:
            self.snapshots.remove(cid)
        except NotFound:
            pass
        except MinkeError as e:
            if "not found" not in str(e).lower():
                raise
        from minke.rmtree import rmtree  # not shutil's: its imports cost a `run --rm` ~8 ms

        rmtree(self.container_dir(cid), ignore_errors=True)
        rmtree(self.run_dir(cid), ignore_errors=True)
        row = self.db.query_one("SELECT * FROM containers WHERE id = ?", (cid,))
        if self.db.execute("DELETE FROM containers WHERE id = ?", (cid,)).rowcount and row is not None:
            if settle is not None:
                settle()
            self._event("destroy", Container.from_row(row))  # once, by whoever removed the row

    def prune(self, until: float | None = None, labels: list[str] | None = None) -> tuple[list[str], int]:
        deleted = []
        space = 0
        for c in self.list(all=True):
            if c.status not in (Status.EXITED, Status.CREATED, Status.DEAD):
                continue
            if until is not None and c.created >= until:
                continue
            if labels and not _match_labels(c, labels):
                continue
            try:
                space += self.usage(c.id)
            except MinkeError:
                pass
            try:
                self.remove(c.id)
                deleted.append(c.id)
            except NotFound:
                pass
            except Conflict:
                pass
        return deleted, space

    def usage(self, cid: str) -> int:
        try:
            return int(self.snapshots.usage(cid))
        except (NotFound, AttributeError):
            return 0

    def rename(self, ref: str, new: str) -> None:
        c = self.get(ref)
        nm = check_name(new)
        if nm == c.name:
            raise InvalidArgument(f"renaming a container with the same name as its current name: {nm}")
        try:
            self.db.execute("UPDATE containers SET name = ? WHERE id = ?", (nm, c.id))
        except Exception as e:
            if "UNIQUE" not in str(e):
                raise
            other = self.db.query_one("SELECT id FROM containers WHERE name = ?", (nm,))
            raise AlreadyExists(
                f'Conflict. The container name "/{nm}" is already in use by container "{other["id"] if other else "?"}". '
                "You have to remove (or rename) that container to be able to reuse that name."
            ) from None
        self._event("rename", self.get(c.id), oldName=f"/{c.name}")

    # --- attach -------------------------------------------------------------------------------------
    def attach(self, ref: str, stdin: bool = False, stdout: bool = True, stderr: bool = True) -> AttachSession:
        c = self.get(ref)
        if c.status is not Status.RUNNING:
            raise Conflict("you cannot attach to a stopped container, start it first")
        return AttachSession.connect(os.path.join(self.run_dir(c.id), "attach.sock"), stdin=stdin, stdout=stdout, stderr=stderr)

    # --- inspect ------------------------------------------------------------------------------------
    def inspect(self, ref: str) -> dict[str, Any]:
        from minke.containers.health import inspect_state as health_state

        c = self.get(ref)
        args = c.command
        st = c.status
        mounts = []
        vols = None
        for m in c.host_config.get("Mounts") or []:
            entry = {
                "Type": m["Type"], "Source": m.get("Source", ""), "Destination": m["Target"],
                "Mode": "ro" if m.get("ReadOnly") else "", "RW": not m.get("ReadOnly"),
                "Propagation": (m.get("BindOptions") or {}).get("Propagation", "rprivate") if m["Type"] == "bind" else "",
            }
            if m["Type"] == "volume":
                # Docker shows the volume's name, driver and where it lives on the host.
                vols = vols or self._volumes()
                entry["Name"] = m.get("Source", "")
                entry["Driver"] = "local"
                try:
                    entry["Source"] = vols.get(entry["Name"]).mountpoint
                except NotFound:
                    entry["Source"] = ""
            mounts.append(entry)
        config = dict(c.config)
        networking_config = config.pop("NetworkingConfig", None)
        graph: dict[str, Any] = {"Name": "overlay2", "Data": None}
        try:
            ms = self.snapshots.mounts(c.snapshot_key)
            if ms and ms[0].type == "overlay":
                opts = dict(o.split("=", 1) for o in ms[0].options if "=" in o)
                graph["Data"] = {"LowerDir": opts.get("lowerdir", ""), "UpperDir": opts.get("upperdir", ""),
                                 "WorkDir": opts.get("workdir", ""), "MergedDir": self.rootfs(c.id)}
            elif ms:
                graph = {"Name": "native", "Data": {"Dir": ms[0].source, "MergedDir": self.rootfs(c.id)}}
        except MinkeError:
            pass
        return {
            "Id": c.id,
            "Created": format_time(c.created),
            "Path": args[0] if args else "",
            "Args": args[1:],
            "State": {
                "Status": st.value,
                "Running": st in (Status.RUNNING, Status.PAUSED, Status.RESTARTING),
                "Paused": st is Status.PAUSED,
                "Restarting": st is Status.RESTARTING,
                "OOMKilled": c.oom_killed,
                "Dead": st is Status.DEAD,
                "Pid": c.pid if st is Status.RUNNING else 0,
                "ExitCode": c.exit_code,
                "Error": c.error,
                "StartedAt": format_time(c.started_at),
                "FinishedAt": format_time(c.finished_at),
                **health_state(c.config, self.container_dir(c.id)),
            },
            "Image": c.image_id,
            "ResolvConfPath": os.path.join(self.container_dir(c.id), "resolv.conf"),
            "HostnamePath": os.path.join(self.container_dir(c.id), "hostname"),
            "HostsPath": os.path.join(self.container_dir(c.id), "hosts"),
            "LogPath": self.log_path(c.id),
            "Name": "/" + c.name,
            "RestartCount": c.restart_count,
            "Driver": graph["Name"],
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": None,
            "HostConfig": c.host_config,
            "GraphDriver": graph,
            "Mounts": mounts,
            "Config": config,
            "NetworkSettings": self._network_settings(c, networking_config),
        }

    def _network_settings(self, c: Container, networking_config: dict[str, Any] | None) -> dict[str, Any]:
        from minke.network import container as nc

        atts, _ = nc.plan(c.host_config, networking_config)
        cn = None
        if nc.needs_service(atts):
            if c.status in (Status.RUNNING, Status.PAUSED, Status.RESTARTING):
                cn = self.networks().current(c.id)
        else:
            cn = nc.static_network(atts)
        return nc.network_settings(cn)

    # --- logs -----------------------------------------------------------------------------------------
    def logs(self, ref: str, *, since: float | None = None, until: float | None = None, tail: int | None = None, follow: bool = False):
        """Yield (stream, text, time) records; with ``follow`` keep reading new records
        until the container stops."""
        from minke.containers.logs import read_records

        c = self.get(ref)
        path = self.log_path(c.id)
        read_to: dict = {}
        recs = read_records(path, since=since, until=until, tail=tail, read_to=read_to)
        yield from recs
        if not follow:
            return
        yield from self._follow(c, path, since, until, read_to)

    def _follow(self, c: Container, path: str, since: float | None, until: float | None, read_to: dict):
        from minke.containers.logs import parse_record, parse_rfc3339

        try:
            f = open(path, "rb")  # noqa: SIM115 - held across yields
        except FileNotFoundError:
            return
        ino = os.fstat(f.fileno()).st_ino
        # On from where the records above were read; a file that is not the one read
        # (rotated since, or made since) from its start.
        f.seek(read_to["offset"] if read_to.get("ino") == ino else 0)
        buf = b""
        try:
            while True:
                chunk = f.read()
                if chunk:
                    buf += chunk
                    *lines, buf = buf.split(b"\n")
                    for line in lines:
                        rec = parse_record(line)
                        if rec is None:
                            continue
                        if until is not None and parse_rfc3339(rec[2]) > until:
                            return
                        yield rec
                    continue
                try:
                    if os.stat(path).st_ino != ino:  # rotated: read the new file from its start
                        f.close()
                        f = open(path, "rb")  # noqa: SIM115
                        ino = os.fstat(f.fileno()).st_ino
                        continue
                except FileNotFoundError:
                    pass
                try:
                    now = self.get(c.id)
                except NotFound:
                    return
                if now.status not in (Status.RUNNING, Status.RESTARTING, Status.PAUSED):
                    rest = f.read()
                    for line in (buf + rest).split(b"\n"):
                        rec = parse_record(line)
                        if rec is not None:
                            yield rec
                    return
                time.sleep(0.1)
        finally:
            f.close()


def _health_settings(config: dict[str, Any], container_dir: str) -> dict[str, Any]:
    """The monitor's healthcheck settings; the module is imported only when there is one."""
    if not config.get("Healthcheck"):
        return {}
    from minke.containers.health import monitor_settings

    return monitor_settings(config, container_dir)


def _needs_network_service(hc: dict[str, Any]) -> bool:
    from minke.network.container import needs_service, plan

    return needs_service(plan(hc)[0])


def _unavailable(what: str):
    def get() -> Any:
        raise MinkeError(f"this engine has no {what} service")
    return get


def _resolve_in_path(spec: dict[str, Any], rootfs: str) -> None:
    """With --init the command is the init's argument and the init does not search PATH:
    find a bare name in the image's PATH here, as the runtime would for args[0]."""
    args = spec["process"]["args"]
    if len(args) < 3 or "/" in args[2]:
        return
    path = next((e[5:] for e in spec["process"]["env"] if e.startswith("PATH=")), "")
    for d in filter(None, path.split(":")):
        if os.path.lexists(os.path.join(rootfs, d.lstrip("/"), args[2])):
            args[2] = d.rstrip("/") + "/" + args[2]
            return


def _volatile(m: Any) -> Any:
    """The overlay mount of a --rm container with "volatile": its upper layer is thrown
    away at the exit, so the unmount need not sync the host filesystem it lives on (that
    sync is what makes a plain overlay unmount take 10-300 ms on a busy host).  The
    kernel leaves work/incompat/volatile behind and refuses a later mount while it is
    there; this rootfs is not mounted now, so a stale marker (from a mount before a
    crash, or an earlier start of the same --rm container) is ours to clear."""
    if m.type != "overlay" or "volatile" in m.options:
        return m
    work = m.option("workdir")
    if work:
        marker = os.path.join(work, "work", "incompat", "volatile")
        for d in (marker, os.path.dirname(marker)):
            try:
                os.rmdir(d)
            except OSError:
                pass
    return replace(m, options=(*m.options, "volatile"))


def _match_labels(c: Container, labels: list[str]) -> bool:
    have = c.config.get("Labels") or {}
    for lab in labels:
        k, eq, v = lab.partition("=")
        if k not in have or (eq and have[k] != v):
            return False
    return True


class SyncLines:
    """The monitor's reports on its sync pipe, a line at a time.  Its ``created`` and
    ``ok`` can come in one read (a client attached at once, a CLI slow to read): what a
    read brings past the first line is the next line, not to be dropped."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""

    def next(self) -> str:
        """The next line, stripped; "" once the monitor closed the pipe (or what it
        wrote without a newline before it did)."""
        while b"\n" not in self.buf:
            b = os.read(self.fd, 4096)
            if not b:
                line, self.buf = self.buf, b""
                return line.decode(errors="replace").strip()
            self.buf += b
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace").strip()


class AttachSession:
    """A client of a monitor's attach socket (protocol in minke.containers.monitor)."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self._buf = b""
        self.exit_code: int | None = None  # the monitor's exit frame, once a reader heard it

    @classmethod
    def connect(cls, path: str, stdin: bool = False, stdout: bool = True, stderr: bool = True) -> AttachSession:
        import _socket  # socket.py adds selectors, enums and more: ~4 ms of a run

        from minke.containers.monitor import short_path

        p, keep = short_path(path)
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        try:
            s.connect(p)
        except OSError as e:
            s.close()
            raise Unavailable(f"cannot attach: {e.strerror.lower() if e.strerror else e}") from None
        finally:
            if keep is not None:
                os.close(keep)
        s.sendall(f"attach stdin={int(stdin)} stdout={int(stdout)} stderr={int(stderr)}\n".encode())
        return cls(s)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send_stdin(self, data: bytes) -> None:
        from minke.containers.monitor import STDIN, frame

        self.sock.sendall(frame(STDIN, data))

    def close_stdin(self) -> None:
        from minke.containers.monitor import CLOSE_STDIN, frame

        try:
            self.sock.sendall(frame(CLOSE_STDIN, b""))
        except OSError:
            pass

    def say_removing(self) -> None:
        """Tell the monitor, after the exit code, that we remove the container (we hold
        its lock): it leaves without recording the exit."""
        from minke.containers.monitor import REMOVING, frame

        try:
            self.sock.sendall(frame(REMOVING, b""))
        except OSError:
            pass

    def resize(self, rows: int, cols: int) -> None:
        from minke.containers.monitor import RESIZE, frame

        try:
            self.sock.sendall(frame(RESIZE, f"{rows} {cols}".encode()))
        except OSError:
            pass

    def read_frames(self) -> list[tuple[int, bytes]] | None:
        """The complete frames available after one recv; None at EOF."""
        from minke.containers.monitor import HEADER

        data = self.sock.recv(65536)
        if not data:
            return None
        self._buf += data
        out = []
        while len(self._buf) >= HEADER.size:
            kind, n = HEADER.unpack_from(self._buf)
            if len(self._buf) < HEADER.size + n:
                break
            out.append((kind, self._buf[HEADER.size : HEADER.size + n]))
            self._buf = self._buf[HEADER.size + n :]
        return out

    def wait_closed(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) for the monitor to close its end, whatever
        it still sends, then close ours."""
        try:
            self.sock.settimeout(timeout)
            while self.sock.recv(65536):
                pass
        except OSError:  # the timeout too
            pass
        self.close()

    def close(self) -> None:
        self.sock.close()
