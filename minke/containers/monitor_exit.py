"""What a container's monitor does once the container has exited (or failed to start):
record the exit, delete the runtime's state, unmount, apply the restart policy or
``--rm``.

Apart from ``minke.containers.monitor`` so that a monitor loads this code only then:
every byte of code a monitor has loaded stays in its memory while its container runs.
"""

from __future__ import annotations

import posix
import sys
import time

from minke.containers.monitor import HEADER_SIZE, REMOVING, Monitor, _join, _StartError


def engine_service(cfg: dict):
    # Started with -S (no site: less memory while the container runs); the engine needs
    # site-packages, so add them now, on the way out.
    load_site()
    from minke.config import Config
    from minke.engine import Engine

    engine = Engine(Config(root=cfg["root"], run_root=cfg["run_root"], snapshotter=cfg.get("snapshotter", "auto")))
    return engine.containers


def load_site() -> None:
    if sys.flags.no_site and "site" not in sys.modules:
        import site

        site.main()


def remove_cgroups(cgroup_path: str) -> None:
    """Best effort: rmdir the container's cgroup in every hierarchy.  A runtime should do
    this itself when its create fails; not all do, and rmdir of a cgroup with processes
    in it fails harmlessly (EBUSY)."""
    from minke.runtime.state import rmdir_cgroup

    rmdir_cgroup(cgroup_path)


def after_failed_start(mon: Monitor, e: _StartError) -> None:
    mon.runtime("delete", "--force", mon.id, check_output=True)
    remove_cgroups(mon.cfg.get("cgroup_path", ""))
    svc = engine_service(mon.cfg)
    svc._start_failed(mon.id, e.code, e.message)
    mon.report(f"err {e.code} {e.message}")
    mon.close_sync()


def is_mounted(path: str) -> bool:
    """Whether something is mounted on ``path``.  os.path.ismount cannot tell: a bind
    mount from the same filesystem has the same st_dev as its parent."""
    import os.path

    path = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            data = f.read()
    except OSError:
        return os.path.ismount(path)
    # Field 5 is the mount point with space, tab, newline and backslash octal-escaped.
    want = path.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011").replace("\n", "\\012").encode()
    for line in data.splitlines():
        parts = line.split(b" ", 5)
        if len(parts) > 4 and parts[4] == want:
            return True
    return False


def unmount_rootfs(target: str) -> None:
    """umount2 straight through runtime.libc (ctypes alone): minke.snapshots.mount would
    cost the exit path of every container ~80 ms of imports.  A crash may have left it
    mounted more than once: unmount until it is not.

    EBUSY right after the container's exit is the kernel still tearing down the
    container's mount namespace, whose copy of the rootfs (a slave of this mount) it
    holds until then: tried again for a while, as containerd does, then detached
    (lazily unmounted: nothing of the container is left to use it)."""
    busy_until = None
    for _ in range(1000):  # bounded by the second of EBUSY retries
        if not is_mounted(target):
            return
        from minke.runtime import libc

        try:
            libc.umount2(target, 0)
        except OSError as e:
            import errno

            if e.errno == errno.EBUSY:
                now = time.monotonic()
                if busy_until is None:
                    busy_until = now + 1.0
                if now < busy_until:
                    time.sleep(0.005)
                    continue
                libc.umount2(target, libc.MNT_DETACH)
            elif e.errno not in (errno.EINVAL, errno.ENOENT):
                raise


def oom_killed(cfg: dict) -> bool:
    """cgroup v1 memory.oom_control's oom_kill counter (v2: memory.events oom_kill)."""
    rel = cfg.get("cgroup_path", "").strip("/")
    for path, key in (
        (f"/sys/fs/cgroup/memory/{rel}/memory.oom_control", "oom_kill"),
        (f"/sys/fs/cgroup/{rel}/memory.events", "oom_kill"),
    ):
        try:
            with open(path) as f:
                for line in f:
                    k, _, v = line.partition(" ")
                    if k == key and int(v) > 0:
                        return True
        except (OSError, ValueError):
            continue
    return False


def delete_stopped(mon: Monitor) -> None:
    """The runtime's delete after the init exited: the built-in runtime's easy case
    in-process (no fork, no import of the runtime), else its delete command."""
    root = mon.cfg.get("runtime_builtin")
    if root and mon.exit_status is not None:
        from minke.runtime.state import remove_stopped

        # We reaped the init, and the engine writes no hooks into its configs.
        if remove_stopped(root, mon.id, mon.cfg.get("cgroup_path") or ""):
            return
    mon.runtime("delete", "--force", mon.id, check_output=True)


def record_exit(cfg: dict, cid: str, code: int, oom: bool, started: float, restart_count: int) -> dict | None:
    """Write the exit into the row with sqlite3 alone (the engine is not needed on this
    path, and importing it would delay ``run``'s exit); return what the policy needs, or
    None when the row is gone."""
    from minke.store.sqlite import sqlite3

    conn = sqlite3.connect(cfg["db_path"], timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA synchronous = NORMAL")  # as the store's own connections
        conn.execute("BEGIN IMMEDIATE")
        # SQLite reads the JSON: Python's json would cost this path the import of re.
        row = conn.execute(
            "SELECT status, stopped_by_user, json_extract(host_config, '$.RestartPolicy.Name'),"
            " json_extract(host_config, '$.RestartPolicy.MaximumRetryCount'), json_extract(host_config, '$.AutoRemove')"
            " FROM containers WHERE id = ?", (cid,)).fetchone()
        if row is not None and row[0] != "removing":
            conn.execute(
                "UPDATE containers SET status = 'exited', exit_code = ?, finished_at = ?, oom_killed = ?, pid = 0,"
                " started_at = ?, restart_count = ? WHERE id = ?",
                (code, time.time(), int(oom), started, restart_count, cid),
            )
        conn.execute("COMMIT")
    finally:
        conn.close()
    try:
        posix.unlink(_join(cfg["bundle"], "monitor.state"))
    except FileNotFoundError:
        pass
    if row is None:
        return None
    policy = {"Name": row[2] or "", "MaximumRetryCount": row[3] or 0}
    return {"status": row[0], "policy": policy, "auto_remove": bool(row[4]), "stopped": bool(row[1])}


def wants_restart(info: dict, code: int, restart_count: int) -> bool:
    """Docker's restart policies: no | always | unless-stopped | on-failure[:N]."""
    if info["stopped"] or info["status"] == "removing":
        return False
    name = info["policy"].get("Name") or "no"
    if name in ("always", "unless-stopped"):
        return True
    limit = int(info["policy"].get("MaximumRetryCount") or 0)
    return name == "on-failure" and code != 0 and (limit == 0 or restart_count < limit)


def restart_delay(restart_count: int) -> float:
    """Docker's back-off: 100 ms doubling per restart, at most a minute."""
    return min(0.1 * (2 ** restart_count), 60.0)


def hear_removing(mon: Monitor, wait: float) -> bool:
    """Read what the clients told after the exit code until one said REMOVING (a `run
    --rm` that took the container's lock and removes it: True), or each has closed its
    end, or ``wait`` seconds have passed.  All clients at once: an `attach` that neither
    speaks nor leaves must not hold up the `run` beside it.  The clients stay connected
    (the caller drops them: the `run` waits for our end before its destroy event)."""
    import select

    end = time.monotonic() + wait
    # From what each client sent before (a frame its last read brought half of).
    pending = {conn.fileno(): [conn, info["buf"]] for conn, info in mon.clients.items()}
    poller = select.poll()
    for fd in pending:
        poller.register(fd, select.POLLIN)
    while pending and (left := end - time.monotonic()) > 0:
        for fd, _ in poller.poll(left * 1000):
            conn, buf = pending[fd]
            try:
                conn.setblocking(False)
                data = conn.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                poller.unregister(fd)
                del pending[fd]
                continue
            buf += data
            while len(buf) >= HEADER_SIZE:  # whole frames; only REMOVING matters now
                n = HEADER_SIZE + int.from_bytes(buf[4:8], "big")
                if len(buf) < n:
                    break
                if buf[0] == REMOVING:
                    return True
                buf = buf[n:]
            pending[fd][1] = buf
    return False


def _die_event(mon: Monitor, code: int, oom: bool, ran_for: float) -> None:
    """The die (and oom) events, before any client hears the code: a removal's destroy
    follows them."""
    if mon.cfg.get("events_attributes"):
        from minke.events import monitor_exit

        monitor_exit(mon.cfg, code, oom, ran_for)


def after_exit(mon: Monitor, code: int, restart_count: int, ran_for: float, started: float) -> int | None:
    """Record the exit; return the new restart count when the policy restarts it.  The
    attached client hears the exit code before a --rm removal starts; the client removes
    the container itself too (whoever is first, under the container's lock)."""
    oom = oom_killed(mon.cfg)
    told = bool(mon.cfg.get("auto_remove") and mon.clients)
    if told:
        # A foreground `run --rm` (or an attach to an --rm container): the container goes
        # once it has exited, so its CLI removes it as soon as it hears the code (Docker's
        # returns once it is gone), and says so; the monitor then has nothing to record
        # (sqlite's import and a commit, ~10 ms; a second writer beside the CLI's would
        # cost it SQLite's busy sleeps).  --rm excludes restart policies.  The runtime's
        # state and the cgroups go while the CLI removes the rest (it waits for our end).
        mon.send_exit(code, keep=True)
        delete_stopped(mon)
        removing = hear_removing(mon, 2.0)
        # The die event once its client has said REMOVING (or left): a `run` writes its
        # start event before it hears the code, and its destroy event once we are gone.
        _die_event(mon, code, oom, ran_for)
        for conn in list(mon.clients):
            mon.drop_client(conn)
        if removing:
            return None  # its client holds the container's lock and removes it all
        # No client removes it (killed, or an `attach` rather than a `run`; or an `rm -f`
        # holds the lock, and waits for us to leave): record and remove, as below.
    else:
        delete_stopped(mon)
    info = record_exit(mon.cfg, mon.id, code, oom, started, restart_count)
    if not told:
        _die_event(mon, code, oom, ran_for)
    if info is not None and wants_restart(info, code, restart_count):
        # Docker's attach (and a foreground run) ends at the exit, restarted or not.
        mon.send_exit(code)
        unmount_rootfs(_join(mon.cfg["bundle"], "rootfs"))
        return engine_service(mon.cfg)._restart_after_exit(mon.id, restart_count, ran_for, restart_delay)
    # The exit code first: unmounting needs the snapshots package, whose import costs a
    # foreground `run` tens of milliseconds.  A `start` waits for this monitor to be
    # gone before it mounts again; `rm` unmounts too (both idempotent).
    if not told:
        mon.send_exit(code)
    unmount_rootfs(_join(mon.cfg["bundle"], "rootfs"))
    if info is not None and info["status"] == "removing":
        # `rm -f` killed it and holds the container's lock until we are gone: it removes
        # the container, network and all (taking the lock here would wait on it).
        pass
    elif info is not None and info["auto_remove"]:
        engine_service(mon.cfg).auto_remove(mon.id)  # the network too
    elif mon.cfg.get("network_teardown"):
        # After the exit code: the engine's import is paid off the client's path.
        engine_service(mon.cfg)._network_down(mon.id)
    return None
