"""``exec``: start another process in a running container.

The process joins every namespace the container's init was created with (through
/proc/<init>/ns/*), its cgroup, and gets the identity, capabilities, rlimits, no_new_privs
and seccomp filter of the given process object, as ``runc exec`` does.  A pid namespace
applies to children only, so the joining child forks once more; the runtime, as child
subreaper, gets that grandchild back and can wait for it.
"""

from __future__ import annotations

import os

from minke.errors import FailedPrecondition, MinkeError
from minke.runtime import state as st_mod
from minke.runtime.container import (
    Runtime,
    _cgroup_manager,
    _error_from,
    _reap,
    _write_pid_file,
    wait_child,
)
from minke.runtime.spec import Process


def exec_process(
    rt: Runtime,
    container_id: str,
    proc: Process,
    *,
    detach: bool = False,
    pid_file: str | None = None,
    console_socket: str | None = None,
    preserve_fds: int = 0,
) -> int:
    """Run ``proc`` in the container; its exit code, or 0 once started when detached."""
    from minke.runtime import libc
    from minke.runtime.channel import Channel, report_error
    from minke.runtime.init import NS_PROC_NAMES
    from minke.runtime.spec import parse_spec
    from minke.runtime.syscalls import LinuxSyscalls

    st = rt.load(container_id)
    s = rt.status(st)
    if s == st_mod.STOPPED:
        raise FailedPrecondition("cannot exec in a stopped container")
    if s == st_mod.PAUSED:
        raise FailedPrecondition("cannot exec in a paused container")
    spec = parse_spec(st["config"])
    init = st["pid"]
    paths = {}
    for ns in spec.linux.namespaces:
        paths[ns.type] = f"/proc/{init}/ns/{NS_PROC_NAMES[ns.type]}"
    program = None
    if spec.linux.seccomp:
        from minke.runtime.container import SECCOMP_CACHE
        from minke.runtime.seccomp_load import compile_cached

        program = (compile_cached(spec.linux.seccomp, os.path.join(rt.root, SECCOMP_CACHE)),
                   list(spec.linux.seccomp.get("flags") or []))
    if console_socket:
        console_socket = os.path.abspath(console_socket)
    mgr = _cgroup_manager(st)
    sys = LinuxSyscalls()
    sys.prctl(libc.PR_SET_CHILD_SUBREAPER, 1)
    p2c_r, p2c_w = os.pipe()
    c2p_r, c2p_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        ch = Channel(p2c_r, c2p_w)
        try:
            os.close(p2c_w)
            os.close(c2p_r)
            ch.send("setup")
            ch.expect_go()
            _exec_child(ch, sys, spec, paths, proc, program, console_socket, preserve_fds)
        except BaseException as e:  # noqa: B036 - nothing may return into the parent's code
            report_error(ch, e)
        finally:
            os._exit(1)
    os.close(p2c_r)
    os.close(c2p_w)
    ch = Channel(c2p_r, p2c_w)
    target = 0
    try:
        while True:
            msg = ch.recv()
            if msg is None:
                if target:
                    break  # the exec closed the pipe (CLOEXEC): the process is running
                raise MinkeError("exec process exited before it started")
            if msg == "setup":
                if mgr is not None:
                    mgr.apply(pid)
                ch.send("go")
            elif msg.startswith("pid "):
                target = int(msg[4:])
                if target != pid:
                    _reap(pid)
            elif msg.startswith("error "):
                raise _error_from(msg)
    except BaseException:
        if target:
            try:
                os.kill(target, 9)
            except ProcessLookupError:
                pass
        _reap(pid)
        raise
    finally:
        ch.close()
    if pid_file:
        _write_pid_file(pid_file, target)
    if detach:
        return 0
    return wait_child(target)


def _exec_child(ch, sys, spec, paths, proc: Process, program, console_socket, preserve_fds: int = 0) -> None:
    from minke.runtime.init import (
        connect_console,
        do_exec,
        finalize_process,
        join_namespaces,
        preload,
        setup_console,
    )

    # Before joining the mount namespace, which hides Python's library and minke's source.
    preload(spec, proc, program is not None)
    console = connect_console(console_socket) if proc.terminal else None
    join_namespaces(sys, paths)
    if "pid" in paths:
        child = os.fork()
        if child:
            ch.send(f"pid {child}")
            os._exit(0)
    else:
        ch.send(f"pid {os.getpid()}")
    os.setsid()  # after the fork: TIOCSCTTY needs a session leader
    if console is not None:
        setup_console(console, proc, sys)
    if proc.oom_score_adj is not None:
        sys.write_file("/proc/self/oom_score_adj", str(proc.oom_score_adj))
    for r in proc.rlimits:
        sys.setrlimit(r.resource, r.soft, r.hard)
    argv0 = finalize_process(proc, sys, program, setgroups=spec.linux.namespace("user") is None or bool(proc.user.additional_gids))
    # The pipe is close-on-exec: the runtime sees end of file once execve succeeded.
    do_exec(argv0, proc, preserve_fds)
