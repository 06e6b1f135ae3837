"""What runs in the forked children during ``create`` and ``exec``, up to execve.

``create`` forks once (the "setup" child).  That child joins or creates the namespaces;
a new pid namespace only applies to children, so it forks again and the grandchild is
the container's pid 1, which builds the rootfs and becomes the user's process.  Both
talk to the runtime over a pair of pipes (``Channel``), one line per message:

    child -> parent   "setup"            about to make the namespaces: move me into the
                                         cgroup (only when not moved late, below)
                      "userns"           unshared the user ns: write my uid/gid maps
                                         (and move me into the cgroup)
                      "pid <n>"          the container init's host pid
                      "cgroup"           about to mount a cgroup fs or run createContainer
                                         hooks: move me into the cgroup now
                      "hooks"            rootfs mounted: run prestart/createRuntime hooks
                      "ready"            all set up; blocking on the exec fifo now
                      "error <class> <message>"
    parent -> child   "go"               carry on

In the common case (no new user or cgroup namespace) the init is moved into its cgroup
late, at "cgroup" or "ready": its set-up runs meanwhile (see container._moves_late).
The init then blocks opening the exec fifo for writing until ``start`` opens it for
reading (runc's design), writes one byte and execs.  Nothing here returns to the caller:
every path ends in execve or ``os._exit``.
"""

from __future__ import annotations

import os

from minke.errors import InvalidArgument
from minke.runtime import libc
from minke.runtime.channel import Channel
from minke.runtime.spec import Process, Spec
from minke.runtime.syscalls import Syscalls

NS_FLAGS = {
    "pid": libc.CLONE_NEWPID,
    "network": libc.CLONE_NEWNET,
    "mount": libc.CLONE_NEWNS,
    "ipc": libc.CLONE_NEWIPC,
    "uts": libc.CLONE_NEWUTS,
    "user": libc.CLONE_NEWUSER,
    "cgroup": libc.CLONE_NEWCGROUP,
}
# /proc/<pid>/ns/<name> for each spec namespace type.
NS_PROC_NAMES = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts", "user": "user", "cgroup": "cgroup"}
# Join order: the user namespace first so we own the rest; mount last, since joining it
# changes our root and the other /proc paths would then be looked up in the container.
JOIN_ORDER = ("user", "cgroup", "ipc", "uts", "network", "pid", "mount")


class InitConfig:
    """What the container init needs besides the spec, prepared by the parent."""

    def __init__(
        self,
        spec: Spec,
        rootfs: str,
        fifo_fd: int,
        console_socket: str | None,
        seccomp_program: tuple[bytes, list[str]] | None,
        state_for_hooks: dict,
        preserve_fds: int = 0,
        *,
        late_cgroup: bool = False,
    ) -> None:
        self.preserve_fds = preserve_fds
        # Moved into the cgroup by the parent only when asked ("cgroup") or at "ready":
        # see minke.runtime.container._moves_late.
        self.late_cgroup = late_cgroup
        self.spec = spec
        self.rootfs = rootfs
        self.fifo_fd = fifo_fd
        self.console_socket = console_socket
        self.seccomp_program = seccomp_program
        self.state_for_hooks = state_for_hooks


# --- namespaces ------------------------------------------------------------------------------


def join_namespaces(sys: Syscalls, paths: dict[str, str]) -> None:
    """setns() into each ``type -> path``, user first (see JOIN_ORDER)."""
    fds = {}
    try:
        # Open every file before joining any: after joining mount, host paths are gone.
        for typ in JOIN_ORDER:
            if typ in paths:
                try:
                    fds[typ] = os.open(paths[typ], os.O_RDONLY | os.O_CLOEXEC)
                except OSError as e:
                    raise InvalidArgument(f"namespace {typ} path {paths[typ]}: {e.strerror}") from None
        for typ in JOIN_ORDER:
            if typ in fds:
                sys.setns(fds[typ], NS_FLAGS[typ])
    finally:
        for fd in fds.values():
            os.close(fd)


def setup_child(cfg: InitConfig, ch: Channel, sys: Syscalls) -> None:
    """The first child: namespaces, then (for a new pid ns) fork the init."""
    # Load the init's modules now, while the parent makes the cgroup, and before a user
    # namespace or pivot_root can take the Python library out of reach.
    import minke.runtime.rootfs  # noqa: F401

    spec = cfg.spec
    assert spec.process is not None
    preload(spec, spec.process, cfg.seccomp_program is not None)
    lx = spec.linux
    join_namespaces(sys, {ns.type: ns.path for ns in lx.namespaces if ns.path})
    new = [ns.type for ns in lx.namespaces if not ns.path]
    if "user" in new:
        sys.unshare(libc.CLONE_NEWUSER)
        ch.send("userns")
        ch.expect_go()  # parent has put us in the cgroup and written the id maps
    elif not cfg.late_cgroup:
        ch.send("setup")
        ch.expect_go()  # parent has put us in the cgroup
    if "user" in new or lx.namespace("user"):
        # Become the namespace's root so the mounts and files below are ours.
        sys.setresgid(0)
        sys.setresuid(0)
    flags = 0
    for typ in new:
        if typ != "user":
            flags |= NS_FLAGS[typ]
    if flags:
        sys.unshare(flags)
    if flags & libc.CLONE_NEWPID:
        pid = os.fork()
        if pid:
            ch.send(f"pid {pid}")
            os._exit(0)
    else:
        ch.send(f"pid {os.getpid()}")
    container_init(cfg, ch, sys)


def preload(spec: Spec, proc: Process, seccomp: bool) -> None:
    """Import now every module used after the switch into the container's file system.

    After pivot_root (or joining the container's mount namespace in exec) Python's own
    library and minke's source are out of sight, so a late ``import`` fails.
    """
    import _signal  # noqa: F401 - do_exec

    if proc.terminal:
        import fcntl  # noqa: F401
        import socket  # noqa: F401
        import struct  # noqa: F401
        import termios  # noqa: F401
    if proc.capabilities is not None:
        import minke.runtime.capabilities  # noqa: F401
    if seccomp:
        import minke.runtime.seccomp_load  # noqa: F401
    if spec.hooks.get("startContainer"):
        import minke.runtime.hooks  # noqa: F401
    import minke.errors  # noqa: F401


def container_init(cfg: InitConfig, ch: Channel, sys: Syscalls) -> None:
    """pid 1 of the container: rootfs, identity, then wait for start and exec."""
    from minke.runtime.rootfs import RootfsBuilder

    spec = cfg.spec
    # A session of its own (runc does the same): no controlling terminal from the caller,
    # and the right to take the console pty as one (TIOCSCTTY needs a session leader).
    os.setsid()
    lx = spec.linux
    proc = spec.process
    assert proc is not None
    userns = lx.namespace("user") is not None
    console = None
    if proc.terminal:
        console = connect_console(cfg.console_socket)
    if proc.oom_score_adj is not None:
        sys.write_file("/proc/self/oom_score_adj", str(proc.oom_score_adj))
    # An O_PATH handle on our own fd directory in the host's /proc: the exec fifo is reopened
    # through it after pivot_root, when the state dir is out of sight (runc does the same
    # through /proc/self/fd).  It stays valid after the old root is detached.
    fd_dir = os.open("/proc/self/fd", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def in_cgroup() -> None:
        """Have the parent move us into the cgroup now, if it is to do it late."""
        if cfg.late_cgroup:
            ch.send("cgroup")
            ch.expect_go()
            cfg.late_cgroup = False

    rb = RootfsBuilder(spec, cfg.rootfs, sys, userns=userns, before_cgroup_mount=in_cgroup)
    rb.prepare()
    rb.mount_all()
    bind_dev = any(m.destination.rstrip("/") == "/dev" and ("bind" in m.options or "rbind" in m.options or m.type == "bind") for m in spec.mounts)
    rb.create_devices(bind_dev)
    if spec.hooks.get("prestart") or spec.hooks.get("createRuntime"):
        ch.send("hooks")
        ch.expect_go()
    if spec.hooks.get("createContainer"):
        from minke.runtime.hooks import run_hooks

        in_cgroup()
        run_hooks("createContainer", spec.hooks["createContainer"], dict(cfg.state_for_hooks, pid=os.getpid()))
    rb.pivot()
    rb.finish()
    if spec.hostname:
        sys.sethostname(spec.hostname)
    if spec.domainname:
        sys.setdomainname(spec.domainname)
    if console is not None:
        setup_console(console, proc, sys)
    for r in proc.rlimits:
        sys.setrlimit(r.resource, r.soft, r.hard)
    argv0 = finalize_process(proc, sys, cfg.seccomp_program, setgroups=not userns or bool(proc.user.additional_gids))
    ch.send("ready")
    ch.close()
    try:
        _wait_for_start(cfg, fd_dir)
    except BaseException as e:  # nobody listens on the channel any more: say it on stderr
        os.write(2, f"minke-runtime: container init: {e}\n".encode())
        os._exit(1)
    do_exec(argv0, proc, cfg.preserve_fds)


def _wait_for_start(cfg: InitConfig, fd_dir: int) -> None:
    spec = cfg.spec
    # Blocks until `start` opens the fifo for reading.
    fifo = os.open(str(cfg.fifo_fd), os.O_WRONLY | os.O_CLOEXEC, dir_fd=fd_dir)
    os.write(fifo, b"0")
    os.close(fifo)
    os.close(fd_dir)
    os.close(cfg.fifo_fd)
    if spec.hooks.get("startContainer"):
        from minke.runtime.hooks import run_hooks

        run_hooks("startContainer", spec.hooks["startContainer"], dict(cfg.state_for_hooks, pid=os.getpid(), status="created"))


def finalize_process(proc: Process, sys: Syscalls, seccomp_program: tuple[bytes, list[str]] | None, *, setgroups: bool = True) -> str:
    """Identity and privileges, in runc's order; returns the resolved executable.

    Bounding set before the uid change (dropping needs CAP_SETPCAP, which the change
    clears from the effective set); KEEPCAPS across setuid so permitted survives; capset
    and ambient after.  Seccomp is loaded last when no_new_privs is set, otherwise before
    the uid change, while we still hold CAP_SYS_ADMIN (seccomp(2)).
    """
    caps = proc.capabilities
    capmod = None
    if caps is not None:
        from minke.runtime import capabilities as capmod

        capmod.drop_bounding_set(caps)
    if proc.no_new_privileges:
        sys.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
    if seccomp_program and not proc.no_new_privileges:
        load_seccomp(seccomp_program)
    if caps is not None:
        sys.prctl(libc.PR_SET_KEEPCAPS, 1)
    u = proc.user
    if setgroups:
        sys.setgroups(list(u.additional_gids))
    sys.setresgid(u.gid)
    sys.setresuid(u.uid)
    if caps is not None:
        sys.prctl(libc.PR_SET_KEEPCAPS, 0)
        capmod.set_capabilities(caps)
        # The kernel refuses an ambient capability that is not both permitted and
        # inheritable; runc skips those quietly.  Skipping them here keeps the
        # capabilities module's warning off the container's stderr.
        amb = [c for c in caps.get("ambient", ()) if c in caps.get("permitted", ()) and c in caps.get("inheritable", ())]
        capmod.raise_ambient(dict(caps, ambient=amb))
    sys.umask(u.umask if u.umask is not None else 0o022)
    try:
        sys.chdir(proc.cwd)
    except OSError as e:
        raise InvalidArgument(f"process.cwd {proc.cwd}: {e.strerror}") from None
    argv0 = lookup(proc.args[0], proc.env)
    if seccomp_program and proc.no_new_privileges:
        load_seccomp(seccomp_program)
    return argv0


def load_seccomp(program: tuple[bytes, list[str]]) -> None:
    from minke.runtime.seccomp_load import load_seccomp as _load

    _load(program[0], flags=program[1])


def lookup(name: str, env) -> str:
    """The executable for ``name``: itself when it has a slash, else searched on PATH."""
    from minke.errors import CommandNotFound

    if "/" in name:
        if not os.path.exists(name):
            raise CommandNotFound(f'exec: "{name}": stat {name}: no such file or directory')
        return name
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    for e in env:
        if e.startswith("PATH="):
            path = e[5:]
    for d in path.split(":"):
        candidate = os.path.join(d or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise CommandNotFound(f'exec: "{name}": executable file not found in $PATH')


def do_exec(argv0: str, proc: Process, preserve_fds: int = 0) -> None:
    """execve the container's process.  Only stdio and ``preserve_fds`` more (runc's
    --preserve-fds: 3 .. 3+N-1) pass into the container: whatever else the runtime's
    caller left open without close-on-exec (a monitor's, a shell's) must not leak into
    it (runc closes them the same way)."""
    import _signal as signal  # signal's enums import enum: ~10 ms of every create

    os.closerange(3 + max(0, preserve_fds), 1 << 20)

    # An ignored signal stays ignored across execve, a blocked one blocked: Python ignores
    # SIGPIPE and SIGXFSZ, and our caller may ignore more (a container's monitor ignores
    # SIGINT and SIGHUP, and its runtime fork inherited that).  The container's process
    # starts with every disposition at its default and an empty mask, as under runc.
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # the C library's own (32, 33)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    env = {}
    for e in proc.env:
        k, _, v = e.partition("=")
        env[k] = v
    try:
        os.execve(argv0, list(proc.args), env)
    except OSError as e:
        os.write(2, f"minke-runtime: exec {argv0}: {e.strerror}\n".encode())
        os._exit(127 if e.errno == 2 else 126)


# --- console ------------------------------------------------------------------------------


def connect_console(path: str | None):
    import socket

    if not path:
        raise InvalidArgument("process.terminal is set but no --console-socket was given")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise InvalidArgument(f"console socket {path}: {e.strerror}") from None
    return s


def setup_console(sock, proc: Process, sys: Syscalls) -> None:
    """Make a pty in the container's devpts, send its master over the console socket.

    The master goes over SCM_RIGHTS with the pty's path as the message, as runc sends it;
    the slave becomes stdin/stdout/stderr, the controlling terminal and /dev/console.
    """
    import fcntl
    import socket
    import struct
    import termios

    master, slave = os.openpty()
    name = os.ttyname(slave)
    if proc.console_size:
        h, w = proc.console_size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", h, w, 0, 0))
    socket.send_fds(sock, [name.encode()], [master])
    sock.close()
    os.close(master)
    if os.path.exists("/dev"):
        try:
            if not os.path.exists("/dev/console"):
                sys.touch("/dev/console")
            sys.mount(name, "/dev/console", "bind", libc.MS_BIND, None)
        except OSError:
            pass  # /dev read-only or absent: the console is a convenience, stdio is not
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)
    try:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    except OSError as e:
        raise OSError(e.errno, f"ioctl({name}, TIOCSCTTY): {e.strerror}") from None
