# (This module and minke.containers.logs are described in comments, not docstrings: a
# docstring stays in the memory of every running monitor, which is what a container
# costs.  Theirs were ~6 KB, ~14 KiB of each monitor's private memory as measured.)
#
# The per-container monitor: one small process per running container.
#
# Started detached (own session, stdio on /dev/null, stderr to ``monitor.log``) by
# ``ContainerService.start`` as ``python -S -c "...monitor.run(...)" MONITOR_CONF SYNC_FD``.  It:
#
# 1. becomes a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so that the container's init,
#    forked by the runtime's ``create`` which then exits, is re-parented to it and it can
#    collect the exit status;
# 2. holds the container's stdio: pipes, or the pty master the runtime hands over on the
#    ``--console-socket``;
# 3. runs ``RUNTIME create`` then ``RUNTIME start`` and reports on the sync pipe:
#    ``created PID`` (only when the caller will attach before start), then ``ok PID`` or
#    ``err CODE MESSAGE`` (CODE 126/127 when the command cannot run / is not found);
# 4. writes the output to the json-file log and to attached clients; serves attach on a unix
#    socket (``attach.sock``, protocol below);
# 5. when the init exits: records the exit code, finish time and OOM kill in the database,
#    runs ``RUNTIME delete``, unmounts the rootfs, applies the restart policy with Docker's
#    back-off or, with ``--rm``, removes the container; then tells attached clients the exit
#    code and exits.
#
# Its memory is what a running container costs, so while the container runs it holds as
# little as it can (Python never gives back the memory of what it loaded):
#
# - only built-in C modules (posix, time, select, _signal), not their Python wrappers:
#   ``os`` alone (with posixpath, stat and _collections_abc) costs ~0.27 MiB, the wrappers
#   of select and socket pull in enum, re and collections;
# - no _socket (~45 KiB) until an attach client comes: the spawner makes the listening
#   socket, the runtime fork gets its job over pipes;
# - the code of the runtime fork (``builtin_child``) and of what follows the exit
#   (``monitor_exit``: the database, the runtime's delete, unmount, restart policy, --rm;
#   the engine, sqlite3) live in modules imported only there and then;
# - settings as ``key=value`` lines, not JSON.
#
# Attach protocol (unix stream socket).  The client sends one line
# ``attach stdin=0|1 stdout=0|1 stderr=0|1\\n``, then frames; the monitor sends frames.  A
# frame is Docker's multiplexed-stream header, ``[type u8][0 0 0][length u32 BE]`` and the
# payload.  Monitor to client: 1 stdout, 2 stderr, 4 exit (payload: the exit code as ASCII).
# Client to monitor: 0 stdin data, 5 resize (payload ``"ROWS COLS"``), 6 close stdin, 7 "I
# remove the container" (after the exit code of an --rm container, from a `run --rm` that
# holds the container's lock: minke.containers.monitor_exit).

# No `from __future__ import annotations` here: the monitor imports this module, and
# that import (with the listing of the stdlib directory it needs) costs every running
# container's monitor memory; these annotations are valid at run time.
import _signal as signal
import posix
import select
import sys
import time

from minke.containers.logs import LogWriter, path_exists

STDIN, STDOUT, STDERR, EXIT, RESIZE, CLOSE_STDIN, REMOVING = 0, 1, 2, 4, 5, 6, 7
HEADER_SIZE = 8  # [type u8][0 0 0][length u32 BE]
DEVNULL = "/dev/null"


def _join(directory: str, name: str) -> str:
    return directory + name if directory.endswith("/") else directory + "/" + name


def frame(kind: int, payload: bytes) -> bytes:
    return bytes((kind, 0, 0, 0)) + len(payload).to_bytes(4, "big") + payload


def __getattr__(name: str):
    # HEADER, a struct.Struct, for the clients (``ContainerService.attach``): the monitor
    # itself packs with int methods, which spares it the _struct module (~12 KiB each).
    if name == "HEADER":
        from _struct import Struct

        header = globals()["HEADER"] = Struct(">B3xI")  # made once per (client) process
        return header
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def short_path(path: str) -> tuple[str, int | None]:
    # A unix socket path must fit 108 bytes; a longer one is reached through an O_PATH
    # fd of its directory (/proc/self/fd/N/name), which the kernel resolves like any path.
    if len(path) < 100:
        return path, None
    parent, _, name = path.rpartition("/")
    fd = posix.open(parent or "/", posix.O_PATH | posix.O_CLOEXEC)
    # By pid, not "self": the path is also handed to other processes (--console-socket).
    return f"/proc/{posix.getpid()}/fd/{fd}/{name}", fd


def classify_error(message: str) -> int:
    # Exit code Docker gives for a runtime error: 127 not found, 126 not executable.
    m = message.lower()
    if "exec" not in m:  # a setup failure of the runtime, not of the command
        return 125
    if "executable file not found" in m or "no such file or directory" in m or "not found in $path" in m:
        return 127
    if "permission denied" in m or "exec format error" in m or "is a directory" in m:
        return 126
    return 125


def proc_start_time(pid: int) -> int:
    # Field 22 of /proc/PID/stat (clock ticks since boot); 0 when the pid is gone or a
    # zombie (its parent, often the host's init, may take a while to reap it).
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return 0
    # The command name (field 2) may hold spaces and parens: split after the last ")".
    rest = data[data.rfind(b")") + 2 :].split()
    if rest[0] in (b"Z", b"X"):
        return 0
    return int(rest[19])


class Completed:
    def __init__(self, returncode: int, stderr: str = "") -> None:
        self.returncode = returncode
        self.stderr = stderr


def spawn(argv: list[str], *, stdin=None, stdout=None, stderr=None, capture: bool = False) -> Completed:
    devnull = posix.open(DEVNULL, posix.O_RDWR | posix.O_CLOEXEC)
    err_r = None
    if capture:
        err_r, err_w = posix.pipe2(posix.O_CLOEXEC)
        stdin, stdout, stderr = devnull, devnull, err_w
    actions = [
        (posix.POSIX_SPAWN_DUP2, devnull if stdin is None else stdin, 0),
        (posix.POSIX_SPAWN_DUP2, devnull if stdout is None else stdout, 1),
        (posix.POSIX_SPAWN_DUP2, devnull if stderr is None else stderr, 2),
    ]
    try:
        pid = posix.posix_spawn(argv[0], argv, posix.environ, file_actions=actions)
    finally:
        posix.close(devnull)
        if capture:
            posix.close(err_w)
    text = read_all(err_r) if err_r is not None else ""
    return Completed(posix.waitstatus_to_exitcode(posix.waitpid(pid, 0)[1]), text)


ABORTED = 99  # BuiltinRun: no job came (the CLI failed before its go)


def wait_go(go_fd: int | None) -> bool:
    # Read the CLI's "go" (settings and bundle written); False when it closed the pipe
    # without (it failed first, and cleans up itself).
    if go_fd is None:
        return True
    data = b""
    try:
        while not data.endswith(b"\n"):
            try:
                b = posix.read(go_fd, 16)
            except InterruptedError:
                continue
            if not b:
                break
            data += b
    finally:
        posix.close(go_fd)
    return data == b"go\n"


class BuiltinRun:
    # The built-in runtime's commands in a forked child rather than a new interpreter
    # each: the same code (``minke-runtime`` flags, messages, exit codes) without an
    # interpreter's start-up per call.
    #
    # Lifecycle: ``BuiltinRun(warm)`` forks the child at once; with ``warm`` it imports the
    # runtime's modules while the caller does other work (the monitor waits for the CLI's
    # go meanwhile).  ``submit(root, steps, pause_before)`` hands it the job: each step is
    # ``(ARGS, (stdin, stdout, stderr))``, run in order as ``minke-runtime --root ROOT ARGS``
    # with those fds as its stdio, stopping at the first that fails.  With
    # ``pause_before=i`` it stops before step i until ``resume()`` (``run`` attaches its
    # client between create and start).  ``finish()`` waits for it: ``(failed step or -1,
    # code)``; ``abort()`` (no job) ends it.  The caller keeps the fds it passed open until
    # ``wait_paused()`` or ``finish()`` returned: the child opens them by name.
    #
    # Two pipes, not a unix socket: the job goes down one (its text, then NUL), ``p``
    # (paused) comes up the other, ``r`` goes down to resume; the stdio fds are opened by
    # the child as ``/proc/MONITOR/fd/N`` (pipes and /dev/null, which reopen as themselves),
    # not passed by SCM_RIGHTS.  So the monitor needs no _socket (~80 KiB of memory each)
    # while its container runs.
    #
    # The child, not the monitor, imports the runtime: the monitor's memory stays what it
    # was.  The container's init is forked by the child and, when the child exits,
    # re-parented to the monitor (a subreaper).

    @classmethod
    def adopt(cls, pid: int, job_w: int, up_r: int) -> "BuiltinRun":
        # The child the spawner forked before it exec'd us (``spawn.spawn_monitor``),
        # with our ends of its two pipes (inherited across the exec: made close-on-exec
        # here, the runtime and the container must not hold them).
        for fd in (job_w, up_r):
            posix.set_inheritable(fd, False)
        run = cls.__new__(cls)
        run.pid, run._job_w, run._up_r = pid, job_w, up_r
        return run

    def __init__(self, warm: bool = False) -> None:
        job_r, self._job_w = posix.pipe2(posix.O_CLOEXEC)
        self._up_r, up_w = posix.pipe2(posix.O_CLOEXEC)
        sys.stderr.flush()
        self.pid = posix.fork()
        if self.pid == 0:  # pragma: no cover - child
            posix.close(self._job_w)
            posix.close(self._up_r)
            from minke.containers.builtin_child import run_child

            run_child(job_r, up_w, warm)
        posix.close(job_r)
        posix.close(up_w)

    def submit(self, root: str, steps: list, pause_before: int | None = None) -> None:
        fds = [-1 if fd is None else fd for _, stdio in steps for fd in stdio]  # -1: /dev/null
        text = "\n".join([root, str(-1 if pause_before is None else pause_before), " ".join(map(str, fds)),
                          *("\x1f".join(args) for args, _ in steps)])
        try:
            _write_all(self._job_w, text.encode() + b"\0")
        except OSError:
            pass  # it is gone: finish() tells how it ended

    def wait_paused(self) -> bool:
        # True once the child stopped at the pause; False when it ended (failed) first.
        try:
            return _read_retry(self._up_r, 16) == b"p"
        except OSError:
            return False

    def resume(self) -> None:
        try:
            posix.write(self._job_w, b"r")
        except OSError:
            pass  # it is gone: finish() tells how it ended

    def finish(self) -> tuple[int, int]:
        # Wait for the child: ``(failed step or -1, code)``; ABORTED when it got no job.
        # A child still at its pause (or waiting for its job) takes the EOF as "stop here".
        for fd in (self._job_w, self._up_r):
            if fd >= 0:
                posix.close(fd)
        self._job_w = self._up_r = -1
        # (waitpid is retried on EINTR by Python itself: our SIGCHLD handler never raises.)
        code = posix.waitstatus_to_exitcode(posix.waitpid(self.pid, 0)[1])
        if code == 0 or code == ABORTED:
            return -1, code
        if code > 100:
            return code - 100, 1
        return 0, code

    abort = finish


def _read_retry(fd: int, n: int) -> bytes:
    while True:
        try:
            return posix.read(fd, n)
        except InterruptedError:
            continue


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[posix.write(fd, view):]
        except InterruptedError:
            continue


def builtin_command(root: str, args, *, stdin=None, stdout=None, stderr=None, capture: bool = False) -> Completed:
    # One runtime command through BuiltinRun, shaped like ``spawn``'s result.
    err_r = None
    if capture:
        err_r, err_w = posix.pipe2(posix.O_CLOEXEC)
        stdin = stdout = None
        stderr = err_w
    try:
        run = BuiltinRun()
        run.submit(root, [(list(args), (stdin, stdout, stderr))])
        _, code = run.finish()
    finally:
        if capture:
            posix.close(err_w)
    return Completed(code, read_all(err_r) if err_r is not None else "")


def read_all(fd: int) -> str:
    chunks = []
    while True:
        b = posix.read(fd, 65536)
        if not b:
            break
        chunks.append(b)
    posix.close(fd)
    return b"".join(chunks).decode(errors="replace")


def _set_subreaper() -> None:
    # The spawner sets PR_SET_CHILD_SUBREAPER before exec (it survives execve), which
    # spares the monitor ctypes; set it here when started some other way.
    if posix.environ.pop(b"MINKE_MONITOR_SUBREAPER", b"") == b"1":
        return
    from minke.runtime import libc

    libc.prctl(libc.PR_SET_CHILD_SUBREAPER, 1)


class Poller:
    # epoll with a tag and an object per fd (selectors would import collections).

    def __init__(self) -> None:
        self._ep = select.epoll()
        self._by_fd: dict[int, tuple[str, object]] = {}

    def register(self, obj, tag: str) -> None:
        fd = obj if isinstance(obj, int) else obj.fileno()
        self._ep.register(fd, select.EPOLLIN)
        self._by_fd[fd] = (tag, obj)

    def unregister(self, obj) -> None:
        fd = obj if isinstance(obj, int) else obj.fileno()
        if self._by_fd.pop(fd, None) is not None:
            self._ep.unregister(fd)

    def has(self, fd: int) -> bool:
        return fd in self._by_fd

    def select(self, timeout: float | None) -> list[tuple[str, object]]:
        try:
            events = self._ep.poll(-1 if timeout is None else timeout)
        except InterruptedError:
            return []
        return [self._by_fd[fd] for fd, _ in events if fd in self._by_fd]


def dump_settings(d: dict) -> str:
    # ``key=value`` lines; a list is its items joined by the unit separator (0x1f).
    # Values never hold newlines (paths, ids, numbers), which the writer checks.
    lines = []
    for k, v in d.items():
        if isinstance(v, (list, tuple)):
            v = "\x1f".join(str(x) for x in v)
        elif isinstance(v, bool):
            v = "1" if v else "0"
        elif v is None:
            v = ""
        v = str(v)
        if "\n" in v or "\n" in k or "=" in k:
            raise ValueError(f"setting {k!r} cannot be written as a line")
        lines.append(f"{k}={v}\n")
    return "".join(lines)


_LISTS = ("runtime_argv",)
_INTS = ("log_max_size", "log_max_files", "restart_count", "init_pid", "monitor_pid", "monitor_start")
_BOOLS = ("tty", "open_stdin", "wait_attach", "network_teardown", "auto_remove")


def load_settings(text: str) -> dict:
    out: dict = {}
    for line in text.splitlines():
        k, _, v = line.partition("=")
        if k in _LISTS:
            out[k] = v.split("\x1f") if v else []
        elif k in _INTS:
            out[k] = int(v or 0)
        elif k in _BOOLS:
            out[k] = v == "1"
        elif k == "started_at":
            out[k] = float(v)
        else:
            out[k] = v
    return out


class Monitor:
    def __init__(self, cfg: dict, sync_fd: int, warm: BuiltinRun | None = None) -> None:
        self.cfg = cfg
        self.warm = warm  # a runtime fork made (and warmed up) before the settings came
        self.pending: BuiltinRun | None = None  # a warm runtime child paused before start
        self.start_err_r: int | None = None  # where that start's complaint comes
        self.id: str = cfg["id"]
        self.sync_fd: int | None = sync_fd
        self.sel = Poller()
        self.clients: dict = {}  # socket -> what it attached to
        self.stdin_w: int | None = None  # write end of the container's stdin pipe
        self.pty: int | None = None
        self.outputs: dict[int, str] = {}  # fd -> "stdout" / "stderr"
        self.log = LogWriter(cfg["log_path"], cfg["log_max_size"], cfg["log_max_files"])
        self.init_pid = 0
        self.exit_status: int | None = None
        self.listen_fd = -1  # the attach socket
        self.listener = None  # its socket object, from the first accept on
        self._wake_r, self._wake_w = posix.pipe2(posix.O_NONBLOCK | posix.O_CLOEXEC)
        self._keep_fds: list[int] = []
        self.health = None  # a health.Prober while a container with a healthcheck runs

    # --- small helpers --------------------------------------------------------------------
    def report(self, line: str) -> None:
        if self.sync_fd is not None:
            try:
                posix.write(self.sync_fd, (line + "\n").encode())
            except OSError:
                pass  # the caller went away (SIGKILLed CLI): the container runs on

    def close_sync(self) -> None:
        if self.sync_fd is not None:
            posix.close(self.sync_fd)
            self.sync_fd = None

    def runtime(self, *args: str, stdin=None, stdout=None, stderr=None, check_output=False):
        # Run the runtime with the given fds as its stdio (posix_spawn: the subprocess
        # module would cost every monitor its imports).
        if self.cfg.get("runtime_builtin"):
            return builtin_command(self.cfg["runtime_builtin"], args, stdin=stdin, stdout=stdout, stderr=stderr,
                                   capture=check_output)
        argv = list(self.cfg["runtime_argv"]) + list(args)
        return spawn(argv, stdin=stdin, stdout=stdout, stderr=stderr, capture=check_output)

    # --- create and start ---------------------------------------------------------------------
    def create(self) -> None:
        # Run the runtime's create with our pipes / console socket as the init's stdio.
        cfg = self.cfg
        pidfile = _join(cfg["bundle"], "init.pid")
        if path_exists(pidfile):
            posix.unlink(pidfile)
        args = ["create", "--bundle", cfg["bundle"], "--pid-file", pidfile]
        err_r, err_w = posix.pipe2(posix.O_CLOEXEC)
        child_fds: list[int] = []
        console = None
        if cfg["tty"]:
            sock_path = _join(cfg["bundle"], "console.sock")
            if path_exists(sock_path):
                posix.unlink(sock_path)
            bind_path, keep = short_path(sock_path)
            import _socket as socket  # a terminal's monitor needs it anyway (the pty comes over it)

            console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            console.bind(bind_path)
            console.listen(1)
            args += ["--console-socket", bind_path]
            stdin = stdout = posix.open(DEVNULL, posix.O_RDWR | posix.O_CLOEXEC)
            child_fds.append(stdin)
            stderr = err_w
        else:
            if cfg["open_stdin"]:
                in_r, in_w = posix.pipe2(posix.O_CLOEXEC)
                self.stdin_w = in_w
                stdin = in_r
            else:
                stdin = posix.open(DEVNULL, posix.O_RDONLY | posix.O_CLOEXEC)
            out_r, out_w = posix.pipe2(posix.O_CLOEXEC)
            e_r, e_w = posix.pipe2(posix.O_CLOEXEC)
            self.outputs = {out_r: "stdout", e_r: "stderr"}
            stdout, stderr = out_w, e_w
            child_fds += [stdin, out_w, e_w]
            # The runtime's own error message goes to the container's stderr pipe in
            # pass-through mode; on failure we read it from there.
            posix.close(err_w)
            posix.close(err_r)
            err_r = e_r
            err_w = -1
        args.append(self.id)
        if cfg.get("runtime_builtin"):
            # create and start in one fork (the warm one made at our start, the first
            # time); it pauses in between for start() (a client may attach after create).
            run, self.warm = self.warm or BuiltinRun(), None
            self.start_err_r, start_err_w = posix.pipe2(posix.O_CLOEXEC)
            steps = [(args, (stdin, stdout, stderr)), (["start", self.id], (None, None, start_err_w))]
            run.submit(cfg["runtime_builtin"], steps, pause_before=1)
            paused = run.wait_paused()  # the child has opened its fds by now (or is gone)
            posix.close(start_err_w)
            if paused:
                code = 0
                self.pending = run
            else:
                _, code = run.finish()
                posix.close(self.start_err_r)
                self.start_err_r = None
        else:
            if self.warm is not None:  # not ours to use after all
                self.warm.abort()
                self.warm = None
            code = self.runtime(*args, stdin=stdin, stdout=stdout, stderr=stderr).returncode
        for fd in child_fds:
            posix.close(fd)
        if err_w >= 0:
            posix.close(err_w)
        if code != 0:
            message = self._drain_error(err_r)
            raise _StartError(classify_error(message), message or f"runtime create exited with {code}")
        if cfg["tty"]:
            posix.close(err_r)
            console.settimeout(10)
            conn = socket.socket(fileno=console._accept()[0])
            _, anc, _, _ = conn.recvmsg(1024, socket.CMSG_SPACE(4))
            conn.close()
            fds = [int.from_bytes(data[:4], sys.byteorder) for level, kind, data in anc
                   if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS]
            if not fds:
                raise _StartError(125, "runtime sent no terminal on the console socket")
            console.close()
            if keep is not None:
                posix.close(keep)
            posix.unlink(_join(cfg["bundle"], "console.sock"))
            self.pty = fds[0]
            posix.set_blocking(self.pty, False)
            self.outputs = {self.pty: "stdout"}
        with open(pidfile) as f:
            self.init_pid = int(f.read().strip())

    def _drain_error(self, fd: int) -> str:
        posix.set_blocking(fd, False)
        chunks = []
        try:
            while True:
                b = posix.read(fd, 65536)
                if not b:
                    break
                chunks.append(b)
        except BlockingIOError:
            pass
        text = b"".join(chunks).decode(errors="replace").strip()
        lines = [ln for ln in text.splitlines() if ln.strip()]
        # runc prints "time=... level=error msg=..." lines; keep the message part.
        msg = lines[-1] if lines else ""
        if 'msg="' in msg:
            msg = msg.split('msg="', 1)[1].rsplit('"', 1)[0].replace('\\"', '"')
        return msg


    def start(self) -> None:
        if self.pending is not None:
            run, self.pending = self.pending, None
            run.resume()
            _, code = run.finish()
            text = read_all(self.start_err_r)  # type: ignore[arg-type]
            self.start_err_r = None
            if code != 0:
                msg = _runtime_message(text) or f"runtime start exited with {code}"
                raise _StartError(classify_error(msg), msg)
            return
        res = self.runtime("start", self.id, check_output=True)
        if res.returncode != 0:
            msg = _runtime_message(res.stderr or "") or f"runtime start exited with {res.returncode}"
            raise _StartError(classify_error(msg), msg)

    def listen(self, fd: int | None = None) -> None:
        # Serve attach on ``fd``, the listening socket the spawner made before its exec
        # (``spawn.listen_unix``), or on one made here.  Only its fd is watched: the
        # socket object, and _socket with it, come with the first client.
        if fd is None:
            from minke.containers.spawn import listen_unix

            fd = listen_unix(self.cfg["attach_socket"])
        posix.set_inheritable(fd, False)
        posix.set_blocking(fd, False)
        self.listen_fd = fd
        self.sel.register(fd, "listen")

    def _listener(self):
        if self.listener is None:
            import _socket

            self.listener = _socket.socket(fileno=self.listen_fd)
            self.listener.setblocking(False)
        return self.listener

    # --- the loop -------------------------------------------------------------------------------
    def _on_sigchld(self, *_a) -> None:
        try:
            posix.write(self._wake_w, b"c")
        except OSError:
            pass

    def reap(self) -> None:
        while True:
            try:
                pid, status = posix.waitpid(-1, posix.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.init_pid:
                self.exit_status = status
            elif self.health is not None:
                self.health.child_exited(pid, status)  # a check (or its runtime) ended

    def accept(self) -> None:
        import _socket as socket

        try:
            conn = socket.socket(fileno=self._listener()._accept()[0])
        except (BlockingIOError, InterruptedError):
            return
        conn.setblocking(True)
        conn.settimeout(5)
        try:
            line = b""
            while not line.endswith(b"\n") and len(line) < 256:
                b = conn.recv(1)
                if not b:
                    break
                line += b
        except OSError:
            conn.close()
            return
        opts = dict(p.split("=", 1) for p in line.decode(errors="replace").split()[1:] if "=" in p)
        conn.setblocking(False)
        self.clients[conn] = {
            "stdin": opts.get("stdin") == "1",
            "stdout": opts.get("stdout", "1") == "1",
            "stderr": opts.get("stderr", "1") == "1",
            "buf": b"",
        }
        self.sel.register(conn, "client")

    def drop_client(self, conn) -> None:
        self.clients.pop(conn, None)
        try:
            self.sel.unregister(conn)
        except (KeyError, ValueError):
            pass
        conn.close()

    def client_input(self, conn) -> None:
        info = self.clients[conn]
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.drop_client(conn)
            return
        buf = info["buf"] + data
        while len(buf) >= HEADER_SIZE:
            kind, n = buf[0], int.from_bytes(buf[4:HEADER_SIZE], "big")
            if len(buf) < HEADER_SIZE + n:
                break
            payload = buf[HEADER_SIZE : HEADER_SIZE + n]
            buf = buf[HEADER_SIZE + n :]
            if kind == STDIN and info["stdin"]:
                self.write_stdin(payload)
            elif kind == RESIZE and self.pty is not None:
                self.resize(payload)
            elif kind == CLOSE_STDIN and info["stdin"]:
                self.close_stdin()
        info["buf"] = buf

    def write_stdin(self, data: bytes) -> None:
        fd = self.pty if self.pty is not None else self.stdin_w
        if fd is None:
            return
        try:
            # Blocking write is acceptable: a container that never reads its stdin while
            # a client keeps typing stalls only its own monitor.
            view = memoryview(data)
            while view:
                try:
                    n = posix.write(fd, view)
                    view = view[n:]
                except BlockingIOError:
                    time.sleep(0.01)
        except OSError:
            self.close_stdin()

    def close_stdin(self) -> None:
        if self.stdin_w is not None:
            posix.close(self.stdin_w)
            self.stdin_w = None
        elif self.pty is not None:
            # EOF on a terminal is ^D at the start of a line.
            try:
                posix.write(self.pty, b"\x04")
            except OSError:
                pass

    def resize(self, payload: bytes) -> None:
        import fcntl
        import struct
        import termios

        try:
            rows, cols = (int(x) for x in payload.split())
            fcntl.ioctl(self.pty, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        except (ValueError, OSError):
            pass

    def output(self, fd: int) -> bool:
        # Read one chunk of container output; False at EOF.
        try:
            data = posix.read(fd, 65536)
        except BlockingIOError:
            return True
        except OSError:  # EIO on a pty whose other side is closed
            data = b""
        if not data:
            self.sel.unregister(fd)
            del self.outputs[fd]
            posix.close(fd)
            if fd == self.pty:
                self.pty = None
            return False
        stream = self.outputs[fd]
        self.log.write(stream, data)
        kind = STDOUT if stream == "stdout" else STDERR
        msg = frame(kind, data)
        for conn, info in list(self.clients.items()):
            if info[stream]:
                try:
                    conn.setblocking(True)
                    conn.sendall(msg)
                    conn.setblocking(False)
                except OSError:
                    self.drop_client(conn)
        return True

    def run_loop(self) -> None:
        for fd in self.outputs:
            posix.set_blocking(fd, False)
            self.sel.register(fd, "output")
        if not self.sel.has(self._wake_r):
            self.sel.register(self._wake_r, "wake")
        self.reap()
        deadline = None
        while True:
            if self.exit_status is not None:
                # The init is gone; in its pid namespace everyone else is too, so the
                # pipes reach EOF at once.  Give stragglers (a pty held open) a second.
                if not self.outputs:
                    break
                if deadline is None:
                    deadline = time.monotonic() + 1.0
                if time.monotonic() > deadline:
                    break
            timeout = 0.2 if self.exit_status is not None else None
            if self.health is not None and self.exit_status is None:
                timeout = self.health.timeout()
            for tag, obj in self.sel.select(timeout):
                if tag == "output":
                    self.output(obj)
                elif tag == "health" and self.health is not None:
                    self.health.output(obj)
                elif tag == "wake":
                    try:
                        posix.read(self._wake_r, 4096)
                    except BlockingIOError:
                        pass
                    self.reap()
                elif tag == "listen":
                    self.accept()
                elif tag == "client" and obj in self.clients:
                    self.client_input(obj)
            if self.health is not None and self.exit_status is None:
                self.health.tick()
        if self.health is not None:
            self.health.stop()
            self.health = None
        for fd in list(self.outputs):
            self.sel.unregister(fd)
            posix.close(fd)
        self.outputs = {}
        self.log.flush()

    # --- after the exit (the rest is in monitor_exit, loaded only then) ---------------------------
    def send_exit(self, code: int, keep: bool = False) -> None:
        # Tell the attached clients the exit code and drop them (``keep``: those it
        # reached stay, for ``monitor_exit.hear_removing``).
        msg = frame(EXIT, str(code).encode())
        for conn in list(self.clients):
            try:
                conn.setblocking(True)
                conn.sendall(msg)
            except OSError:
                self.drop_client(conn)
                continue
            if not keep:
                self.drop_client(conn)


def _runtime_message(text: str) -> str:
    # The last line of a runtime's complaint (runc's ``msg="..."`` part).
    lines = text.strip().splitlines()
    msg = lines[-1] if lines else ""
    if 'msg="' in msg:
        msg = msg.split('msg="', 1)[1].rsplit('"', 1)[0].replace('\\"', '"')
    return msg


class _StartError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def main(argv: list[str]) -> int:
    # ``CONF SYNC_FD [GO_FD builtin[:PID:JOB_FD:UP_FD]|external [LISTEN_FD]]``.  With a go
    # pipe the monitor is started before its settings and the bundle exist (while the CLI
    # still creates the container): the built-in runtime's fork warms up meanwhile (the
    # one the spawner forked, given as PID and our ends of its pipes, or one made here),
    # and CONF is read after the go.  The pipe closed without a go: the CLI failed and cleans up;
    # we leave having written nothing.  LISTEN_FD: the attach socket, already listening.
    cfg_path, sync_fd = argv[0], int(argv[1])
    go_fd = int(argv[2]) if len(argv) > 2 else None
    listen_fd = int(argv[4]) if len(argv) > 4 else None
    # Inherited across the exec that started us; not to be passed on to the runtime and
    # the container (the caller's read of it would never see the end).
    posix.set_inheritable(sync_fd, False)
    if listen_fd is not None:
        posix.set_inheritable(listen_fd, False)
    _set_subreaper()
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    kind = argv[3] if len(argv) > 3 else "external"
    if kind.startswith("builtin:"):  # the spawner forked it (spawn.spawn_monitor)
        warm = BuiltinRun.adopt(*(int(x) for x in kind.split(":")[1:]))
    else:
        warm = BuiltinRun(warm=True) if kind == "builtin" else None
    if not wait_go(go_fd):
        if warm is not None:
            warm.abort()
        return 0
    with open(cfg_path) as f:
        cfg = load_settings(f.read())
    mon = Monitor(cfg, sync_fd, warm)
    # Who is starting this container, for a command that finds it 'created' while the
    # CLI that started it is gone (rm -f must stop us, not race us).
    with open(_join(cfg["bundle"], "monitor.pid"), "w") as f:
        f.write(f"{posix.getpid()} {proc_start_time(posix.getpid())}\n")
    signal.signal(signal.SIGCHLD, mon._on_sigchld)
    # The handler above runs only between bytecodes: a SIGCHLD that comes after the loop's
    # last look and before epoll_wait is entered would wait for the next event (for ever,
    # when the container's pipes are already closed: the init a zombie, the CLI waiting).
    # The wakeup fd is written by the C-level handler itself, so epoll_wait wakes.
    signal.set_wakeup_fd(mon._wake_w)
    restart_count = cfg.get("restart_count", 0)
    first = True
    while True:
        started = time.time()
        try:
            if first:
                mon.listen(listen_fd)
            mon.create()
            if first and cfg.get("wait_attach"):
                mon.report(f"created {mon.init_pid}")
                # The caller attaches before the start so it sees all the output.
                listener = mon._listener()
                listener.settimeout(30)
                try:
                    mon.accept()
                except OSError:
                    pass
                listener.setblocking(False)
            mon.start()
        except _StartError as e:
            from minke.containers.monitor_exit import after_failed_start

            after_failed_start(mon, e)
            return 1
        # The running state goes to a file the engine adopts into the database (the CLI
        # on our "ok", any later command if that CLI died): sqlite stays out of the
        # monitor's memory while the container runs.
        state = {
            "init_pid": mon.init_pid, "started_at": started, "monitor_pid": posix.getpid(),
            "monitor_start": proc_start_time(posix.getpid()), "restart_count": restart_count,
        }
        tmp = _join(cfg["bundle"], "monitor.state.tmp")
        with open(tmp, "w") as f:
            f.write(dump_settings(state))
        posix.replace(tmp, _join(cfg["bundle"], "monitor.state"))
        if cfg.get("health_argv"):  # "starting" is on disk before run/start returns
            from minke.containers.health import Prober

            mon.health = Prober(cfg, mon.sel)
        if first:
            mon.report(f"ok {mon.init_pid}")
            mon.close_sync()
        else:
            from minke.containers.monitor_exit import engine_service

            engine_service(cfg)._adopt(mon.id)
            if cfg.get("events_attributes"):
                from minke.events import record_monitor

                record_monitor(cfg, "start")  # a restart by the policy
        first = False
        mon.run_loop()
        status = mon.exit_status if mon.exit_status is not None else 0
        code = posix.waitstatus_to_exitcode(status)
        if code < 0:
            code = 128 - code
        from minke.containers.monitor_exit import after_exit

        decision = after_exit(mon, code, restart_count, time.time() - started, started)
        if decision is None:
            mon.send_exit(code)
            return 0
        restart_count = decision
        mon.exit_status = None
        mon.init_pid = 0


def run(argv: list[str]) -> None:
    # Entry point (``python -S -c "...run(sys.argv[1:])" CONF SYNC_FD``).
    try:
        code = main(argv)
    except Exception:
        import traceback

        traceback.print_exc()
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    run(sys.argv[1:])
