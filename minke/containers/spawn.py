"""Starting a container's monitor: the double fork, its pipes, and starting it early.

Light on purpose (``os`` only): ``run`` calls ``spawn_early`` right after parsing its
flags, before the engine and the containers service are even imported, so the monitor's
interpreter boots and its runtime fork warms up while the CLI resolves the image and
creates the container (two cores do both at once).

Protocol with the monitor (``minke.containers.monitor.main``): argv ``CONF SYNC_FD GO_FD
builtin:PID:JOB_FD:UP_FD|external LISTEN_FD``, LISTEN_FD being the attach socket, made
here (the monitor imports _socket only once a client comes).  For the built-in runtime
the spawner also forks, before it execs the monitor, the child that will run the
runtime's create and start (``monitor.BuiltinRun``): a fork of this already running
interpreter starts importing the runtime at once, rather than after the monitor's own
interpreter has started (~13 ms); it is the monitor's child all the same.  The CLI writes CONF and the bundle, then
``go`` on the go pipe; the monitor reports on the sync pipe (``created PID``, ``ok PID``,
``err CODE MESSAGE``).  A go pipe closed without ``go`` means the CLI failed: the monitor
leaves having written nothing, and the end of file on the sync pipe tells the CLI it is
gone.
"""

from __future__ import annotations

import os


def run_dir(run_root: str, cid: str) -> str:
    return os.path.join(run_root, "containers", cid)


def is_builtin(runtime: str) -> bool:
    return runtime in ("minke", "minke-runtime")


def spawn_monitor(rundir: str, cfg_path: str, go_fd: int, builtin: bool) -> int:
    """Double fork + setsid: the monitor belongs to no terminal and is nobody's zombie.
    Returns the read end of its sync pipe; ``go_fd`` is the read end of the go pipe."""
    r, pid = _spawn(rundir, cfg_path, go_fd, builtin)
    reap(pid)
    return r


def reap(pid: int) -> None:
    """Wait for the spawner's first child (it exits as soon as it has forked the
    monitor-to-be)."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _spawn(rundir: str, cfg_path: str, go_fd: int, builtin: bool) -> tuple[int, int]:
    # spawn_monitor without the wait for the first child: (sync pipe's read end, its pid
    # for reap()).
    import sys

    r, w = os.pipe2(os.O_CLOEXEC)
    log = os.path.join(rundir, "monitor.log")
    # The forks below must not write out what our buffers hold (the runtime's fork
    # flushes its stdio, which by then is the container's).
    sys.stdout.flush()
    sys.stderr.flush()
    # -S: no site module and no .pth processing (the editable install's finder alone
    # costs each monitor a megabyte); the package is found through PYTHONPATH.
    # -c rather than -m: runpy and its imports would cost each monitor ~1 MB more.  -P:
    # no current directory ("/") on sys.path, whose listing the import system would keep.
    argv = [sys.executable, "-S", "-P", "-c", "import sys; from minke.containers.monitor import run; run(sys.argv[1:])",
            cfg_path, str(w), str(go_fd), "builtin" if builtin else "external"]
    pkg_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = pkg_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["MINKE_MONITOR_SUBREAPER"] = "1"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            # No cyclic garbage collection in this fork and the forks it makes (the
            # runtime child, the container's set-up child): garbage our caller left (a
            # test harness, a library caller) may hold file objects, whose finalizers
            # would close fds of those numbers once closerange below has made them our
            # own pipes.  Each fork either execs or exits soon.
            import gc

            gc.disable()
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            # Survives execve: the container's init, orphaned when the runtime's create
            # exits, is re-parented to the monitor, which can then wait for it.  (ctypes
            # is imported here, in the grandchild, off the CLI's path.)
            from minke.runtime import libc

            libc.prctl(libc.PR_SET_CHILD_SUBREAPER, 1)
            devnull = os.open(os.devnull, os.O_RDWR)
            logfd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.dup2(devnull, 0)
            os.dup2(devnull, 1)
            os.dup2(logfd, 2)
            # The attach socket is made here, so that the monitor itself never needs
            # _socket while no client comes (~80 KiB less in every running monitor).
            listen_fd = listen_unix(os.path.join(rundir, "attach.sock"))
            argv.append(str(listen_fd))
            for fd in (w, go_fd, listen_fd):
                os.set_inheritable(fd, True)
            # The monitor outlives us: it keeps none of our caller's inherited fds (a
            # shell's, a test harness's pipe would otherwise never see its end).
            low = 3
            for keep in sorted((w, go_fd, listen_fd)):
                os.closerange(low, keep)
                low = keep + 1
            os.closerange(low, 1 << 20)
            os.chdir("/")
            if builtin:
                # The built-in runtime's child (warmed up: it imports the runtime while
                # the CLI still creates the container), forked from the monitor-to-be, a
                # subreaper already; its pipes' ends cross the exec by number.
                from minke.containers.monitor import BuiltinRun

                run = BuiltinRun(warm=True)
                for fd in (run._job_w, run._up_r):
                    os.set_inheritable(fd, True)
                argv[argv.index("builtin")] = f"builtin:{run.pid}:{run._job_w}:{run._up_r}"
            os.execve(argv[0], argv, env)
        except BaseException:
            import traceback

            traceback.print_exc()  # into monitor.log once it is our stderr
        finally:
            os._exit(127)
    os.close(w)
    return r, pid


def listen_unix(path: str) -> int:
    """A listening unix stream socket at ``path`` (mode 0600, non-blocking, close-on-exec;
    what was there is replaced); its fd.  A path past the 108 bytes a socket address
    holds is bound through an O_PATH fd of its directory."""
    import _socket

    if os.path.lexists(path):
        os.unlink(path)
    directory, name = os.path.split(path)
    keep = None
    bind_path = path
    if len(path) >= 100:
        keep = os.open(directory, os.O_PATH | os.O_CLOEXEC)
        bind_path = f"/proc/self/fd/{keep}/{name}"
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC | _socket.SOCK_NONBLOCK)
    try:
        s.bind(bind_path)
        os.chmod(path, 0o600)
        s.listen(16)
    except BaseException:
        s.close()
        raise
    finally:
        if keep is not None:
            os.close(keep)
    return s.detach()


class EarlyMonitor:
    """A monitor started before its container was created (``spawn_early``)."""

    def __init__(self, cid: str, sync_r: int, go_w: int, rundir: str, spawner: int = 0) -> None:
        self.id, self.sync_r, self.go_w, self._run_dir = cid, sync_r, go_w, rundir
        self._spawner = spawner  # the first child, reaped by reap() (off run's way)

    def reap(self) -> None:
        if self._spawner:
            reap(self._spawner)
            self._spawner = 0

    def abort(self) -> None:
        """No container after all: the monitor leaves (the go pipe closes unsaid); once
        it is gone, its directory goes too."""
        from minke.rmtree import rmtree

        self.reap()
        os.close(self.go_w)
        read_until_eof(self.sync_r, 10)
        os.close(self.sync_r)
        rmtree(self._run_dir, ignore_errors=True)


def spawn_early(run_root: str, runtime: str) -> EarlyMonitor:
    """Start the monitor of a container yet to be created, under a fresh container id:
    the caller creates the container with that id (``create(..., cid=early.id)``), then
    ``start(..., early=early)``; a caller that fails in between calls ``early.abort()``."""
    cid = os.urandom(32).hex()
    rundir = run_dir(run_root, cid)
    os.makedirs(rundir, mode=0o700, exist_ok=True)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    try:
        # The first child is reaped later (EarlyMonitor.reap): the wait for its exit was
        # ~1-4 ms of the CLI's way to the container.
        r, spawner = _spawn(rundir, os.path.join(rundir, "monitor.conf"), go_r, is_builtin(runtime))
    except BaseException:
        from minke.rmtree import rmtree

        os.close(go_w)
        rmtree(rundir, ignore_errors=True)
        raise
    finally:
        os.close(go_r)
    return EarlyMonitor(cid, r, go_w, rundir, spawner)


def read_until_eof(fd: int, timeout: float) -> None:
    import select
    import time

    end = time.monotonic() + timeout
    while (left := end - time.monotonic()) > 0:
        if select.select([fd], [], [], left)[0] and not os.read(fd, 4096):
            return
