"""The runtime's operations on one container: the runc command contract as functions.

``Runtime(root)`` holds the state root; its methods are the commands: ``create``,
``start``, ``state``, ``kill``, ``delete``, ``pause``, ``resume``, ``pids``, ``list``,
``run`` and ``exec`` (the last in ``minke.runtime.exec``).  Lifecycle, with the guard each
transition checks (an illegal one raises FailedPrecondition naming the status)::

    create ──> created ──start──> running ──(exit)──> stopped ──delete──> (gone)
                  │                 │  ^
                  │               pause resume
                  │                 v  │
                  └──delete──>    paused
"""

from __future__ import annotations

import os
import time

from minke.errors import FailedPrecondition, InvalidArgument, MinkeError, NotFound
from minke.runtime import state as st_mod
from minke.runtime.state import CREATED, PAUSED, RUNNING, STOPPED

SIGNALS = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8,
    "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
    "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22,
    "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29,
    "POLL": 29, "PWR": 30, "SYS": 31,
}  # fmt: skip


def parse_signal(value: str) -> int:
    """``KILL``, ``SIGKILL``, ``kill`` or ``9`` -> 9; ``RTMIN+3`` too."""
    v = value.strip()
    if v.isdigit():
        n = int(v)
        if 0 < n <= 64:
            return n
        raise InvalidArgument(f"invalid signal {value!r}")
    name = v.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name in SIGNALS:
        return SIGNALS[name]
    if name.startswith("RTMIN") or name.startswith("RTMAX"):
        base, off = (34, 1) if name.startswith("RTMIN") else (64, -1)
        rest = name[5:]
        if not rest:
            return base
        if rest[0] in "+-" and rest[1:].isdigit():
            n = base + int(rest)
            if 34 <= n <= 64:
                return n
    raise InvalidArgument(f"invalid signal {value!r}")


def _error_from(line: str) -> MinkeError:
    import minke.errors as errors

    _, name, msg = (line.split(" ", 2) + ["", ""])[:3]
    cls = getattr(errors, name, MinkeError)
    if not (isinstance(cls, type) and issubclass(cls, MinkeError)):
        cls = MinkeError
    return cls(msg)


def _now_rfc3339() -> str:
    t = time.time_ns()
    secs, nanos = divmod(t, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{nanos:09d}Z"


def _write_pid_file(path: str, pid: int) -> None:
    # Atomic, as runc: a reader polling for the file never sees it empty.
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path))
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.replace(tmp, path)


def _cgroup_manager(st: dict):
    """The cgroup manager for a container, or None where the cgroups package is absent."""
    try:
        from minke.runtime.cgroups import new_manager
    except ImportError:
        return None
    return new_manager(st["cgroups_path"])


def _cgroups_path(spec, container_id: str) -> str:
    return _cgroups_path_of(spec.linux.cgroups_path, container_id)


def _cgroups_path_of(p: str | None, container_id: str) -> str:
    if not p:
        return f"minke/{container_id}"
    if ":" in p and not p.startswith("/"):
        # systemd style "slice:prefix:name": we drive cgroupfs, so make a path of it.
        slice_, prefix, name = (p.split(":") + ["", ""])[:3]
        return "/".join(x for x in (slice_, f"{prefix}-{name}" if prefix else name) if x)
    return p.lstrip("/")


# What every container may use whatever its device rules say (runc's AllowedDevices): the
# default nodes, the console, ptys, and mknod of anything (using it is still checked).
_DEFAULT_DEVICE_RULES = [
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},  # null
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},  # random
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},  # full
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},  # tty
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},  # zero
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},  # urandom
    {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},  # console
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},  # /dev/pts/*
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},  # ptmx
]


def with_default_device_rules(resources: dict, devices) -> dict:
    """The spec's device rules, then the defaults and the spec's own devices allowed.

    Appended after the spec's rules, as runc does, so the common ``deny all`` rule does
    not take /dev/null away from the container.
    """
    if not resources.get("devices"):
        return resources
    rules = list(resources["devices"]) + _DEFAULT_DEVICE_RULES
    for d in devices:
        if d.type in ("c", "b", "u"):
            rules.append({"allow": True, "type": "b" if d.type == "b" else "c", "major": d.major, "minor": d.minor, "access": "rwm"})
    return dict(resources, devices=rules)


def wait_gone(pid: int, start_time: int | None, timeout: float = 10.0) -> bool:
    """Poll until ``pid`` (with that start time) is gone or a zombie."""
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while True:
        if st_mod.proc_start_time(pid) != start_time or start_time is None:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


class Runtime:
    def __init__(self, root: str = st_mod.DEFAULT_ROOT, warn=None) -> None:
        self.root = root
        self._warn = warn or (lambda msg: os.write(2, f"warning: {msg}\n".encode()))

    # -- queries -------------------------------------------------------------------------

    def load(self, container_id: str) -> dict:
        return st_mod.load(self.root, container_id)

    def state(self, container_id: str) -> dict:
        """The OCI state object."""
        return st_mod.oci_state(self.root, self.load(container_id))

    def status(self, st: dict) -> str:
        return st_mod.status(self.root, st)

    def list(self) -> list[dict]:
        out = []
        for cid in st_mod.list_ids(self.root):
            try:
                out.append(self.state(cid))
            except NotFound:
                continue
        return out

    def pids(self, container_id: str) -> list[int]:
        st = self.load(container_id)
        mgr = _cgroup_manager(st)
        if mgr is not None:
            try:
                return sorted(mgr.pids())
            except (OSError, MinkeError):
                pass
        return [st["pid"]] if st_mod.alive(st) else []

    # -- create --------------------------------------------------------------------------

    def create(
        self,
        container_id: str,
        bundle: str,
        *,
        pid_file: str | None = None,
        console_socket: str | None = None,
        preserve_fds: int = 0,
    ) -> dict:
        """Set the container up and leave its init blocked until ``start``.

        Returns the saved state.  On any failure everything made so far is undone: the
        init killed, the cgroup removed, the state directory deleted.
        """
        st_mod.validate_id(container_id)
        bundle = os.path.abspath(bundle)
        cdir = st_mod.reserve(self.root, container_id)
        console_socket = console_socket and os.path.abspath(console_socket)
        cg: list = []  # the cgroup manager, once made
        spawned: list[int] = []  # the container's init, once forked
        child = early = None
        try:
            # First the set-up child, which loads the init's code and reads the spec on
            # the other core while we check the spec, then the cgroup, made from the raw
            # config in a thread (see _SetupChild and _early_cgroup).
            child = _SetupChild(bundle, container_id, cdir, console_socket, preserve_fds)
            early = _early_cgroup(bundle, container_id)
            return self._create(container_id, bundle, cdir, pid_file, child, early, cg, spawned)
        except BaseException:
            if child is not None:
                child.kill()
            if early is not None:
                mgr = early.result()  # the thread is done before anything is removed
                if mgr is not None and mgr not in cg:
                    cg.append(mgr)
            for init_pid in spawned:
                try:
                    os.kill(init_pid, 9)
                except ProcessLookupError:
                    pass
                _reap(init_pid)
            for mgr in cg:
                try:
                    mgr.destroy(kill=True)
                except (OSError, MinkeError):
                    pass
            _rmtree(cdir)
            raise

    def _create(self, container_id, bundle, cdir, pid_file, child, early, cg, spawned) -> dict:
        from minke.runtime.spec import load_spec

        spec = load_spec(bundle)
        if spec.process is None:
            raise InvalidArgument("process: missing required field")
        lx = spec.linux
        if lx.namespace("mount") is None:
            raise InvalidArgument("linux.namespaces: a mount namespace is required")
        if (spec.hostname or spec.domainname) and (lx.namespace("uts") is None or lx.namespace("uts").path):
            raise InvalidArgument("hostname: setting it needs a new uts namespace")
        if lx.sysctl:
            for key in lx.sysctl:
                if key.startswith("net.") and lx.namespace("network") is None:
                    raise InvalidArgument(f"linux.sysctl.{key}: needs a network namespace")
        if spec.process.apparmor_profile and not os.path.exists("/sys/kernel/security/apparmor"):
            self._warn("apparmor is not enabled on this host: process.apparmorProfile ignored")
        if (spec.process.selinux_label or lx.mount_label) and not os.path.exists("/sys/fs/selinux/enforce"):
            self._warn("selinux is not enabled on this host: selinux labels ignored")
        rootfs = _rootfs_of(spec, bundle)
        if not os.path.isdir(rootfs):
            raise NotFound(f"root.path {rootfs}: no such directory")

        st = {
            "id": container_id,
            "pid": 0,
            "start_time": None,
            "bundle": bundle,
            "rootfs": rootfs,
            "created": _now_rfc3339(),
            "annotations": spec.annotations,
            "cgroups_path": _cgroups_path(spec, container_id),
            "config": spec.raw,
        }
        fifo = os.path.join(cdir, "exec.fifo")
        os.mkfifo(fifo, 0o622)
        os.chmod(fifo, 0o622)  # past the umask: the init may no longer be root when it opens it
        init_pid = self._spawn(spec, st, child, cg, early)
        spawned.append(init_pid)
        st["pid"] = init_pid
        st["start_time"] = st_mod.proc_start_time(init_pid)
        st_mod.save(self.root, st)
        if pid_file:
            _write_pid_file(pid_file, init_pid)
        return st

    def _spawn(self, spec, st, child: _SetupChild, cg: list, early=None) -> int:
        """Let the set-up child make the container; returns the init's pid once it is
        ready (blocked on the exec fifo) and in its cgroup."""
        from minke.runtime import libc
        from minke.runtime.syscalls import LinuxSyscalls

        # With a new pid ns the init is a grandchild; as subreaper we get it back when the
        # middle child exits, so `run` can wait for it and a failed create can reap it.
        # Set before "create": the child does not wait for us again before it forks it.
        LinuxSyscalls().prctl(libc.PR_SET_CHILD_SUBREAPER, 1)
        ch, pid = child.ch, child.pid
        hook_state = _hook_state(spec, st["id"], st["bundle"])
        ch.send("create")
        lx = spec.linux
        mgr = None
        moved = False

        def move(target: int) -> None:
            """Make the cgroup ready (the early thread's, with the limits set) and move
            ``target`` into it, once."""
            nonlocal mgr, moved
            if moved:
                return
            mgr = early.result() if early is not None else None
            if mgr is None:
                mgr = _cgroup_manager(st)
                if mgr is not None:
                    mgr.create()
            if mgr is not None:
                cg.append(mgr)
                if lx.resources:
                    mgr.set_resources(with_default_device_rules(lx.resources, lx.devices))
                mgr.apply(target)
            moved = True

        deferred: list[str] = []
        while True:
            msg = deferred.pop(0) if deferred and child.init_pid else ch.recv()
            if msg is None:
                raise MinkeError("container init exited before it was ready")
            if msg in ("cgroup", "hooks", "ready") and not child.init_pid:
                # The init (a grandchild) spoke before its parent told us its pid.
                deferred.append(msg)
                continue
            if msg in ("setup", "userns"):
                # The child waits for "go" before it unshares anything, so it is in the
                # cgroup before its user or cgroup namespace is made.
                move(pid)
                if msg == "userns":
                    _write_id_maps(pid, spec.linux)
                ch.send("go")
            elif msg == "cgroup":
                move(child.init_pid)  # the init is about to mount its cgroup or run hooks
                ch.send("go")
            elif msg.startswith("pid "):
                child.init_pid = int(msg[4:])
                if child.init_pid != pid:
                    _reap(pid)
            elif msg == "hooks":
                from minke.runtime.hooks import run_hooks

                move(child.init_pid)
                hs = dict(hook_state, pid=child.init_pid)
                run_hooks("prestart", spec.hooks.get("prestart", ()), hs)
                run_hooks("createRuntime", spec.hooks.get("createRuntime", ()), hs)
                ch.send("go")
            elif msg == "ready":
                # Usually the move happens here, while the init waits on the exec fifo:
                # it built its rootfs during the cgroup's grace period.
                move(child.init_pid)
                child.done()
                return child.init_pid
            elif msg.startswith("error "):
                raise _error_from(msg)
            else:
                raise MinkeError(f"container init sent {msg!r}")

    # -- start / kill / delete / pause ---------------------------------------------------

    def start(self, container_id: str) -> dict:
        st = self.load(container_id)
        st_mod.start(self.root, st)
        hooks = (st.get("config", {}).get("hooks") or {}).get("poststart")
        if hooks:
            from minke.runtime.hooks import HookFailed, run_hooks

            try:
                run_hooks("poststart", hooks, st_mod.oci_state(self.root, st))
            except HookFailed as e:
                self._warn(str(e))
        return st

    def kill(self, container_id: str, sig: int = 15, *, all_: bool = False) -> None:
        st = self.load(container_id)
        s = self.status(st)
        if s == STOPPED:
            raise FailedPrecondition("container not running")
        if all_:
            for pid in self.pids(container_id):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            return
        os.kill(st["pid"], sig)

    def delete(self, container_id: str, *, force: bool = False) -> None:
        try:
            st = self.load(container_id)
        except NotFound:
            if force:
                # runc: a forced delete of a missing container is not an error...
                if os.path.isdir(os.path.join(self.root, container_id)):
                    _rmtree(os.path.join(self.root, container_id))
                return
            raise
        # The common case: rmdir of the cgroup and the state, without importing the
        # cgroups package and reading mountinfo (a tenth of a delete).  When a process is
        # left in the cgroup the rmdir fails, and the full path below kills it.
        if st_mod.delete_stopped(self.root, st):
            return
        s = self.status(st)
        if s in (RUNNING, PAUSED) and not force:
            raise FailedPrecondition(f"cannot delete container {container_id} that is not stopped: {s}")
        if s != STOPPED:
            self._kill_all(st)
        self.destroy(st)

    def _kill_all(self, st: dict) -> None:
        mgr = _cgroup_manager(st)
        if st.get("paused") and mgr is not None:
            try:
                mgr.thaw()
            except (OSError, MinkeError):
                pass
        pid = st["pid"]
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        # Without a pid namespace the init's death does not take its children with it.
        if mgr is not None:
            try:
                for p in mgr.pids():
                    try:
                        os.kill(p, 9)
                    except ProcessLookupError:
                        pass
            except (OSError, MinkeError):
                pass
        wait_gone(pid, st.get("start_time"))

    def destroy(self, st: dict) -> None:
        """Remove a stopped container: cgroup, poststop hooks, state directory."""
        mgr = _cgroup_manager(st)
        if mgr is not None:
            try:
                mgr.destroy(kill=True)
            except (OSError, MinkeError) as e:
                self._warn(f"container {st['id']}: removing cgroup: {e}")
        hooks = (st.get("config", {}).get("hooks") or {}).get("poststop")
        if hooks:
            from minke.runtime.hooks import HookFailed, run_hooks

            try:
                run_hooks("poststop", hooks, dict(st_mod.oci_state(self.root, st), status=STOPPED))
            except HookFailed as e:
                self._warn(str(e))
        _rmtree(os.path.join(self.root, st["id"]))

    def pause(self, container_id: str) -> None:
        st = self.load(container_id)
        s = self.status(st)
        if s != RUNNING:
            # runc refuses a created container too: its init is not the user's process yet.
            raise FailedPrecondition("container not running" if s in (STOPPED, CREATED) else f"container is {s}")
        mgr = self._need_cgroups(st)
        mgr.freeze()
        st["paused"] = True
        st_mod.save(self.root, st)

    def resume(self, container_id: str) -> None:
        st = self.load(container_id)
        s = self.status(st)
        if s != PAUSED:
            raise FailedPrecondition("container not paused" if s != STOPPED else "container not running")
        mgr = self._need_cgroups(st)
        mgr.thaw()
        st["paused"] = False
        st_mod.save(self.root, st)

    def _need_cgroups(self, st: dict):
        mgr = _cgroup_manager(st)
        if mgr is None:
            from minke.errors import Unsupported

            raise Unsupported("pause needs the cgroup manager (minke.runtime.cgroups)")
        return mgr

    # -- run -----------------------------------------------------------------------------

    def run(self, container_id: str, bundle: str, *, pid_file=None, console_socket=None, detach=False,
            preserve_fds: int = 0) -> int:
        """create + start, then (unless detached) wait, delete and return the exit code.

        In the foreground a terminal container with no --console-socket gets its pty from
        us, and we copy between it and our own stdio, as ``runc run`` does.
        """
        console = None
        if not detach and not console_socket and _wants_terminal(bundle):
            console = _ConsoleServer()
            console_socket = console.path
        try:
            st = self.create(container_id, bundle, pid_file=pid_file, console_socket=console_socket,
                             preserve_fds=preserve_fds)
            master = console.receive() if console is not None else None
        finally:
            if console is not None:
                console.close()
        if master is not None:
            _copy_window_size(master)  # before start: the container may ask for it at once
        try:
            self.start(container_id)
        except BaseException:
            self.delete(container_id, force=True)
            raise
        if detach:
            return 0
        try:
            if master is not None:
                _proxy_terminal(master)
            code = wait_child(st["pid"])
        finally:
            self.delete(container_id, force=True)
        return code


def _wants_terminal(bundle: str) -> bool:
    from minke import fastjson

    try:
        with open(os.path.join(bundle, "config.json"), "rb") as f:
            proc = fastjson.load(f).get("process") or {}
    except (OSError, ValueError, AttributeError):
        return False  # create reports it properly
    return proc.get("terminal") is True


class _ConsoleServer:
    """A private console socket: the init connects and sends its pty master here.

    The init connects during ``create``; the listen backlog holds the connection and the
    socket buffer the fd, so we accept only after create has returned.
    """

    def __init__(self) -> None:
        import socket
        import tempfile

        self._dir = tempfile.mkdtemp(prefix="minke-console-")
        self.path = os.path.join(self._dir, "console.sock")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        self._sock.listen(1)

    def receive(self) -> int:
        import socket

        conn, _ = self._sock.accept()
        with conn:
            _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
        if not fds:
            raise MinkeError("container init sent no terminal")
        return fds[0]

    def close(self) -> None:
        self._sock.close()
        try:
            os.unlink(self.path)
            os.rmdir(self._dir)
        except OSError:
            pass


def _copy_window_size(master: int) -> None:
    """The container's pty starts with our terminal's size (none when stdin is not one)."""
    if not os.isatty(0):
        return
    import fcntl
    import struct
    import termios

    try:
        size = fcntl.ioctl(0, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
        fcntl.ioctl(master, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def _proxy_terminal(master: int) -> None:
    """Copy our stdin to the pty and the pty to our stdout until the container closes it.

    Our terminal (if stdin is one) goes raw meanwhile, so keys reach the container as
    typed (run has given the pty our window size before the container started).
    """
    import select
    import termios
    import tty

    saved = None
    if os.isatty(0):
        try:
            saved = termios.tcgetattr(0)
            tty.setraw(0)
        except OSError:
            saved = None
    readers = [master, 0]
    try:
        while master in readers:
            ready, _, _ = select.select(readers, [], [])
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every slave fd is closed, the container is gone
                    data = b""
                if not data:
                    break
                os.write(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if not data:
                    readers.remove(0)  # our stdin ended; the container keeps running
                else:
                    os.write(master, data)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        os.close(master)


def wait_child(pid: int) -> int:
    """Wait for ``pid`` (our child, or reparented to us as subreaper), forwarding signals.

    Other orphans reparented to us meanwhile are reaped too.  Returns the exit code in
    the shell's convention (128 + signal for a killed process), as ``runc run`` does.
    """
    import _signal as signal  # without signal's enums (enum is ~10 ms to import)

    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH):
        signal.signal(s, forward)
    while True:
        try:
            got, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 255
        if got == pid:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _early_cgroup(bundle: str, container_id: str) -> _EarlyCgroup | None:
    """Make the container's cgroup in a thread once the own move of ``minke.runtime.grace``
    is done (it is started here, unless the command line started it already), while the
    main thread parses the spec, forks the init and the init loads its code; the init's
    move into the cgroup then finds the grace period over.  Returns an _EarlyCgroup whose
    result() is the manager, or None when the config cannot be read (create then reports
    why, and makes the cgroup itself).  The thread does almost no Python work (it would
    wait for the GIL the main thread holds)."""
    from minke import fastjson
    from minke.runtime import grace

    kick = grace.take()
    try:
        with open(os.path.join(bundle, "config.json"), "rb") as f:
            raw = fastjson.load(f)
        p = (raw.get("linux") or {}).get("cgroupsPath") or ""
        if not isinstance(p, str):
            raise ValueError(p)
        mgr = _cgroup_manager({"cgroups_path": _cgroups_path_of(p, container_id)})
    except (OSError, ValueError, AttributeError, MinkeError):
        mgr = None  # create reports it
    if mgr is None:
        kick.restore()
        return None
    return _EarlyCgroup(mgr, kick)


class _EarlyCgroup:
    """The thread of _early_cgroup: the cgroup's mkdir after our own move."""

    def __init__(self, mgr, kick) -> None:
        from minke.runtime.grace import in_thread

        self.mgr = mgr
        self._kick = kick
        self._made = False
        self._wait = in_thread(self._run)

    def _run(self) -> None:
        self._kick.wait()
        self.mgr.create()  # after the move: the cgroup mutex is free again
        self._made = True

    def result(self):
        """The manager once its cgroup is made; None if the thread could not make it."""
        try:
            self._wait()
        except (OSError, MinkeError):
            return None
        finally:
            self._kick.restore()
        return self.mgr if self._made else None


def _rootfs_of(spec, bundle: str) -> str:
    return spec.root_path if spec.root_path.startswith("/") else os.path.join(bundle, spec.root_path)


def _hook_state(spec, container_id: str, bundle: str) -> dict:
    """The state hooks of create read on stdin (the init's pid added when known)."""
    return {"ociVersion": st_mod.OCI_VERSION, "id": container_id, "status": "creating", "pid": 0,
            "bundle": bundle, "annotations": spec.annotations}  # fmt: skip


class _SetupChild:
    """The first child of ``create``, forked before anything else is done.

    It loads the init's code and reads the spec for itself (compiling its seccomp filter)
    on the other core while the parent reads and checks the same spec, makes the exec fifo
    and waits for the cgroup; then on "create" it makes the container
    (``minke.runtime.init.setup_child``).  If the parent finds the spec wrong it kills the
    child, which has changed nothing yet.  An error of the child's own reading is reported
    only after "create" (the parent's checks come first)."""

    def __init__(self, bundle: str, container_id: str, cdir: str, console_socket: str | None,
                 preserve_fds: int) -> None:
        from minke.runtime.channel import Channel

        self.init_pid = 0
        p2c_r, p2c_w = os.pipe()
        c2p_r, c2p_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(p2c_w)
            os.close(c2p_r)
            _setup_child_main(Channel(p2c_r, c2p_w), bundle, container_id, cdir, console_socket, preserve_fds)
        os.close(p2c_r)
        os.close(c2p_w)
        self.ch = Channel(c2p_r, p2c_w)

    def kill(self) -> None:
        """Kill whichever process is the container so far and reap it: as subreaper the
        init is our child even with a pid namespace, so it is surely gone (and out of
        the cgroup) before the caller removes the cgroup."""
        victim = self.init_pid or self.pid
        try:
            os.kill(victim, 9)
        except ProcessLookupError:
            pass
        _reap(victim)
        if victim != self.pid:
            _reap(self.pid)
        self.done()

    def done(self) -> None:
        if self.ch is not None:
            self.ch.close()
            self.ch = None


# The compiled seccomp programs' cache in the state root: not a valid container id (so
# never a container's directory), and list_ids skips it (no state.json).
SECCOMP_CACHE = "~seccomp"


def _setup_child_main(ch, bundle: str, container_id: str, cdir: str, console_socket: str | None,
                      preserve_fds: int) -> None:
    """The set-up child, from its fork to the container's execve; never returns."""
    from minke.runtime.channel import report_error

    try:
        from minke.runtime.init import InitConfig, preload, setup_child
        from minke.runtime.syscalls import LinuxSyscalls

        spec = program = None
        failed = None
        try:
            from minke.runtime.spec import load_spec

            spec = load_spec(bundle)
            if spec.linux.seccomp:
                from minke.runtime.seccomp_load import compile_cached

                cache = os.path.join(os.path.dirname(cdir), SECCOMP_CACHE)
                program = (compile_cached(spec.linux.seccomp, cache), list(spec.linux.seccomp.get("flags") or []))
            if spec.process is not None:
                preload(spec, spec.process, program is not None)
        except BaseException as e:  # noqa: B036 - reported after "create", if it comes
            failed = e
        if ch.recv() != "create":
            os._exit(1)  # the parent found the spec wrong, or is gone
        if failed is not None:
            raise failed
        fifo_fd = os.open(os.path.join(cdir, "exec.fifo"), os.O_PATH | os.O_CLOEXEC)
        cfg = InitConfig(spec, _rootfs_of(spec, bundle), fifo_fd, console_socket, program,
                         _hook_state(spec, container_id, bundle), preserve_fds, late_cgroup=_moves_late(spec))
        setup_child(cfg, ch, LinuxSyscalls())
    except BaseException as e:  # noqa: B036 - nothing may return into the parent's code
        report_error(ch, e)
    finally:
        os._exit(1)


def _moves_late(spec) -> bool:
    """Whether the init is moved into its cgroup once it has built its rootfs (when it
    is "ready", or asks with "cgroup" before mounting a cgroup file system or running
    createContainer hooks) rather than before its namespaces are made.  Late is the
    common case: the init's set-up then runs while the kernel's grace period for the
    first cgroup move goes by (minke.runtime.grace).  Early is needed for a new user
    namespace (its id maps are written at that point too) and a new cgroup namespace
    (its root is the cgroup the process is in when it is made)."""
    new = {ns.type for ns in spec.linux.namespaces if not ns.path}
    return "user" not in new and "cgroup" not in new


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _write_id_maps(pid: int, lx) -> None:
    for name, maps in (("uid_map", lx.uid_mappings), ("gid_map", lx.gid_mappings)):
        if maps:
            data = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
            fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, data.encode())
            finally:
                os.close(fd)


def _rmtree(path: str) -> None:
    try:
        for name in os.listdir(path):
            os.unlink(os.path.join(path, name))
        os.rmdir(path)
    except FileNotFoundError:
        pass
