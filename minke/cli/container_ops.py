"""Commands that look into or act on a running container: exec, pause, unpause, top, port.

Errors are printed as Docker's CLI prints the daemon's (``Error response from daemon: ...``),
one line, exit 1; exec passes the process's exit code through (126/127 when the command
cannot run / is not found).
"""

from __future__ import annotations

import os
import sys

from minke.errors import MinkeError

TYPE_CHECKING = False
if TYPE_CHECKING:  # for annotations only: argparse and typing cost a short command ~10 ms
    import argparse


def _daemon_error(ctx, e: MinkeError) -> int:
    ctx.err.write(f"Error response from daemon: {e}\n")
    return e.exit_code if e.exit_code in (126, 127) else 1


def _each(ctx, refs: list[str], fn) -> int:
    rc = 0
    for ref in refs:
        try:
            fn(ref)
        except MinkeError as e:
            rc = _daemon_error(ctx, e) or 1
    return rc


# --- exec ------------------------------------------------------------------------------------------


def setup_exec(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--detach", action="store_true", help="detached mode: run command in the background")
    p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open even if not attached")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
    p.add_argument("--env-file", action="append", default=[], help="read in a file of environment variables")
    p.add_argument("-w", "--workdir", default=None, help="working directory inside the container")
    p.add_argument("-u", "--user", default=None, help="username or UID (format: <name|uid>[:<group|gid>])")
    p.add_argument("--privileged", action="store_true", help="give extended privileges to the command")
    p.add_argument("--detach-keys", default="", help="override the key sequence for detaching a container")
    p.add_argument("container")
    p.add_argument("cmd", nargs="...")
    p.set_defaults(func=run_exec)


def run_exec(ctx, args) -> int:
    from minke.containers.exec import ExecOptions, expand_env, parse_env_file, prepare, runtime_for

    if not args.cmd:
        ctx.err.write("\"minke exec\" requires at least 2 arguments.\nSee 'minke exec --help'.\n")
        return 1
    try:
        env: list[str] = []
        for path in args.env_file:
            try:
                with open(path) as f:
                    env += parse_env_file(f.read(), path)
            except OSError as e:
                ctx.err.write(f"open {path}: {e.strerror.lower()}\n")
                return 1
        env += expand_env(args.env)
        opts = ExecOptions(cmd=tuple(args.cmd), env=tuple(env), workdir=args.workdir, user=args.user,
                           tty=args.tty, privileged=args.privileged)
        svc = ctx.engine.containers
        c, proc = prepare(svc, args.container, opts)
        rt = runtime_for(svc, c)
        exec_id = _exec_event(svc, c, "", opts.cmd)  # exec_create and exec_start, as dockerd
        if args.tty:
            size = _terminal_size()
            if size:
                # The pty is made with our size: a process may ask before we could set it.
                proc["consoleSize"] = {"height": size[0], "width": size[1]}
        for s in (ctx.out, ctx.err):
            s.flush()
        if args.detach:
            null = os.open(os.devnull, os.O_RDWR)
            try:
                if args.tty:
                    return _exec_tty(rt, c.id, proc, detach=True)
                rt.exec(c.id, proc, detach=True, stdio=(null, null, null))
            finally:
                os.close(null)
            return 0
        if args.tty:
            from minke.cli.containers import _detach_keys

            keys = _detach_keys(args.detach_keys or "ctrl-p,ctrl-q")
            code = _exec_tty(rt, c.id, proc, interactive=args.interactive, detach_keys=keys)
            if code is None:  # detached: the process runs on (Docker's words and code)
                ctx.err.write("read escape sequence\n")
                return 1
            _exec_event(svc, c, exec_id, opts.cmd, code)
            return code
        stdin = sys.stdin.fileno() if args.interactive else os.open(os.devnull, os.O_RDONLY)
        try:
            code = rt.exec(c.id, proc, stdio=(stdin, sys.stdout.fileno(), sys.stderr.fileno()))
            _exec_event(svc, c, exec_id, opts.cmd, code)
            return code
        finally:
            if not args.interactive:
                os.close(stdin)
    except MinkeError as e:
        return _daemon_error(ctx, e)


def _exec_event(svc, c, exec_id: str, cmd: tuple[str, ...], code: int | None = None) -> str:
    """Docker's exec events: ``exec_create: CMD`` and ``exec_start: CMD`` (no ``exec_id``
    yet: one is made), or ``exec_die`` with the exit code.  A detached exec's end is seen by
    nobody, so it has no exec_die."""
    exec_id = exec_id or os.urandom(32).hex()  # secrets.token_hex(32), without its imports
    if code is None:
        for action in ("exec_create", "exec_start"):
            svc._event(f"{action}: {' '.join(cmd)}", c, execID=exec_id)
    else:
        svc._event("exec_die", c, execID=exec_id, exitCode=code)
    return exec_id


def _exec_tty(rt, cid: str, proc: dict, *, detach: bool = False, interactive: bool = False,
              detach_keys: bytes = b"") -> int | None:
    """Run with a terminal: the runtime hands the pty master over a console socket (both
    runc and minke-runtime do); we copy between it and our stdio until the process ends.
    The pty takes our terminal's size, and follows it (SIGWINCH).  With ``interactive``,
    ``detach_keys`` typed leave the process running and return None."""
    import select
    import socket
    import tempfile
    import threading

    d = tempfile.mkdtemp(prefix="minke-exec-")
    path = os.path.join(d, "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    master: list[int] = []

    def receive() -> None:
        try:
            conn, _ = srv.accept()
            with conn:
                _, fds, _, _ = socket.recv_fds(conn, 4096, 4)
                master.extend(fds)
        except OSError:
            pass

    if not detach:
        # The runtime's --detach hands the process to the nearest subreaper: be it, so
        # that we can collect its exit code.
        from minke.runtime import libc

        libc.prctl(libc.PR_SET_CHILD_SUBREAPER, 1)
    t = threading.Thread(target=receive, daemon=True)
    t.start()
    result: dict[str, int] = {}
    null = os.open(os.devnull, os.O_RDWR)

    def run() -> None:
        try:
            result["rc"] = rt.exec(cid, proc, detach=True, console_socket=path, pid_file=os.path.join(d, "pid"), stdio=(null, null, null))
        except MinkeError as e:
            result["err"] = 1
            result["msg"] = str(e)  # type: ignore[assignment]

    try:
        run()
        t.join(5)
        if "err" in result:
            raise MinkeError(result["msg"])  # type: ignore[arg-type]
        if not master:
            raise MinkeError("runtime did not send the console")
        fd = master[0]
        if detach:
            os.close(fd)
            return 0
        with open(os.path.join(d, "pid")) as f:
            pid = int(f.read().strip())
        old = None
        if interactive and os.isatty(0):
            import termios
            import tty

            old = termios.tcgetattr(0)
            tty.setraw(0)
        old_winch = _follow_size(fd)
        matched = 0
        try:
            fds = [fd] + ([0] if interactive else [])
            while True:
                r, _, _ = select.select(fds, [], [], 0.2)
                if fd in r:
                    try:
                        data = os.read(fd, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        break
                    os.write(1, data)
                if 0 in r:
                    data = os.read(0, 65536)
                    if not data:
                        fds.remove(0)
                        continue
                    for i, b in enumerate(data if detach_keys else b""):
                        matched = matched + 1 if b == detach_keys[matched] else (1 if b == detach_keys[0] else 0)
                        if matched == len(detach_keys):
                            if i + 1 > len(detach_keys):
                                os.write(fd, data[: i + 1 - len(detach_keys)])
                            _hold_pty(fd)
                            return None
                    os.write(fd, data)
        finally:
            if old_winch is not None:
                import signal

                signal.signal(signal.SIGWINCH, old_winch)
            if old is not None:
                import termios

                termios.tcsetattr(0, termios.TCSADRAIN, old)
            os.close(fd)
        return _wait_exit(pid)
    finally:
        os.close(null)
        srv.close()
        import shutil

        shutil.rmtree(d, ignore_errors=True)


def _terminal_size() -> tuple[int, int] | None:
    """(rows, columns) of the first of our stdio that is a terminal with a size."""
    for f in (1, 0, 2):
        try:
            size = os.get_terminal_size(f)
        except OSError:
            continue
        if size.lines and size.columns:
            return size.lines, size.columns
    return None


def _follow_size(master: int):
    """Give the pty our terminal's size now and on every SIGWINCH; the previous handler
    (to put back), or None when we have no terminal."""
    import fcntl
    import signal
    import struct
    import termios

    if _terminal_size() is None:
        return None

    def apply(*_a) -> None:
        size = _terminal_size()
        if size:
            try:
                fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
            except OSError:
                pass

    apply()
    return signal.signal(signal.SIGWINCH, apply)


def _hold_pty(master: int) -> None:
    """After a detach: keep the process's terminal open in a child of ours, in its own
    session with no stdio, reading (and dropping) its output until it exits.  Closing the
    master would hang the terminal up and kill the process (there is no daemon to hold
    it, as Docker's has)."""
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)  # the middle child, which exits at once
        return
    try:  # pragma: no cover - child
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(null, target)
        os.closerange(3, master)
        os.closerange(master + 1, 1 << 16)
        if os.fork():  # not a child of the CLI's caller's: re-parented to init
            os._exit(0)
        while True:
            try:
                if not os.read(master, 65536):
                    break
            except InterruptedError:
                continue
            except OSError:  # EIO: the last process on the terminal is gone
                break
    finally:
        os._exit(0)


def _wait_exit(pid: int) -> int:
    """The exit code of the exec'd process, re-parented to us (subreaper)."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return 0
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


# --- pause / unpause --------------------------------------------------------------------------------


def setup_pause(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+")
    p.set_defaults(func=run_pause)


def run_pause(ctx, args) -> int:
    return _freeze(ctx, args.containers, "pause")


def setup_unpause(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+")
    p.set_defaults(func=run_unpause)


def run_unpause(ctx, args) -> int:
    return _freeze(ctx, args.containers, "unpause")


def _freeze(ctx, refs: list[str], op: str) -> int:
    """``pause`` or ``unpause`` (minke.containers.exec) each container, echoing its name."""
    from minke.containers import exec as ops

    fn = getattr(ops, op)

    def one(ref):
        fn(ctx.engine.containers, ref)
        ctx.out.write(ref + "\n")

    return _each(ctx, refs, one)


# --- top ---------------------------------------------------------------------------------------------


def setup_top(p: argparse.ArgumentParser) -> None:
    p.add_argument("container")
    p.add_argument("ps_args", nargs="...")
    p.set_defaults(func=run_top)


def run_top(ctx, args) -> int:
    from minke.containers.inspect_ops import top

    try:
        titles, rows = top(ctx.engine.containers, args.container, args.ps_args or ["-ef"])
    except MinkeError as e:
        return _daemon_error(ctx, e)
    table = [titles] + rows
    widths = [max(len(r[i]) for r in table) for i in range(len(titles))]
    for r in table:
        ctx.out.write("   ".join(v.ljust(widths[i]) for i, v in enumerate(r)).rstrip() + "\n")
    return 0


# --- port ---------------------------------------------------------------------------------------------


def setup_port(p: argparse.ArgumentParser) -> None:
    p.add_argument("container")
    p.add_argument("private_port", nargs="?")
    p.set_defaults(func=run_port)


def run_port(ctx, args) -> int:
    try:
        d = ctx.engine.containers.inspect(args.container)
    except MinkeError as e:
        return _daemon_error(ctx, e)
    ports = (d.get("NetworkSettings") or {}).get("Ports") or {}
    want = args.private_port
    if want and "/" not in want:
        want += "/tcp"
    found = False
    for key in sorted(ports):
        if want and key != want:
            continue
        for b in ports[key] or []:
            found = True
            host = b.get("HostIp") or "0.0.0.0"
            line = f"{host}:{b.get('HostPort', '')}"
            ctx.out.write(line + "\n" if want else f"{key} -> {line}\n")
    if want and not found:
        ctx.err.write(f"Error: No public port '{want}' published for {args.container}\n")
        return 1
    return 0


# --- stats -------------------------------------------------------------------------------------------

_STATS_COLUMNS = [("CONTAINER ID", "ID"), ("NAME", "Name"), ("CPU %", "CPUPerc"), ("MEM USAGE / LIMIT", "MemUsage"),
                  ("MEM %", "MemPerc"), ("NET I/O", "NetIO"), ("BLOCK I/O", "BlockIO"), ("PIDS", "PIDs")]
_STATS_HEADERS = {"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
                  "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}


def setup_stats(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="show all containers (default shows just running)")
    p.add_argument("--no-stream", action="store_true", help="disable streaming stats and only pull the first result")
    p.add_argument("--no-trunc", action="store_true", help="do not truncate output")
    p.add_argument("--format", default=None, help="format output using a custom template")
    p.add_argument("containers", nargs="*")
    p.set_defaults(func=run_stats)


def stats_row(s, cpu: float, ref: str, no_trunc: bool = False) -> dict[str, str]:
    from minke.cli.units import bytes_size, human_size

    if not s.running:
        zero = "0B / 0B"
        return {"Container": ref, "ID": s.id if no_trunc else s.id[:12], "Name": s.name, "CPUPerc": "0.00%",
                "MemUsage": zero, "MemPerc": "0.00%", "NetIO": zero, "BlockIO": zero, "PIDs": "0"}
    mem_pct = s.mem_usage / s.mem_limit * 100 if s.mem_limit else 0.0
    return {
        "Container": ref, "ID": s.id if no_trunc else s.id[:12], "Name": s.name,
        "CPUPerc": f"{cpu:.2f}%",
        "MemUsage": f"{bytes_size(s.mem_usage)} / {bytes_size(s.mem_limit)}",
        "MemPerc": f"{mem_pct:.2f}%",
        "NetIO": f"{human_size(s.net_rx)} / {human_size(s.net_tx)}",
        "BlockIO": f"{human_size(s.blk_read)} / {human_size(s.blk_write)}",
        "PIDs": str(s.pids),
    }


def run_stats(ctx, args) -> int:
    import time

    from minke.cli.format import format_rows
    from minke.containers.inspect_ops import cpu_percent, sample
    from minke.containers.state import Status

    svc = ctx.engine.containers
    try:
        if args.containers:
            targets = [(ref, svc.get(ref)) for ref in args.containers]
        else:
            targets = [(c.short_id, c) for c in svc.list(all=args.all)]
    except MinkeError as e:
        return _daemon_error(ctx, e)
    prev: dict[str, object] = {}
    while True:
        rows = []
        for ref, c in targets:
            try:
                c = svc.get(c.id)
            except MinkeError:
                continue
            s = sample(svc, c)
            cpu = cpu_percent(s, prev.get(c.id), c.started_at if c.status in (Status.RUNNING, Status.PAUSED) else None)  # type: ignore[arg-type]
            prev[c.id] = s
            rows.append(stats_row(s, cpu, ref if args.containers else c.short_id, args.no_trunc))
        text = format_rows(args.format, rows, _STATS_COLUMNS, _STATS_HEADERS)
        if args.no_stream:
            ctx.out.write(text)
            return 0
        # Docker redraws the screen once a second.
        ctx.out.write("\033[2J\033[H" + text)
        ctx.out.flush()
        time.sleep(1)


# --- cp ------------------------------------------------------------------------------------------------


def setup_cp(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--archive", action="store_true", help="archive mode (copy all uid/gid information)")
    p.add_argument("-L", "--follow-link", action="store_true", help="always follow symbol link in SRC_PATH")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress progress output")
    p.add_argument("src")
    p.add_argument("dest")
    p.set_defaults(func=run_cp)


def _split_ref(arg: str) -> tuple[str | None, str]:
    # Docker: CONTAINER:PATH unless the part before ':' has a '/' (a local path).
    if ":" in arg and not arg.startswith((".", "/")):
        name, _, path = arg.partition(":")
        if "/" not in name:
            return name, path
    return None, arg


def run_cp(ctx, args) -> int:
    from minke.containers.copy import copy_from, copy_to

    sc, sp = _split_ref(args.src)
    dc, dp = _split_ref(args.dest)
    if (sc is None) == (dc is None):
        ctx.err.write("must specify at least one container source\n" if sc is None else "copying between containers is not supported\n")
        return 1
    svc = ctx.engine.containers
    try:
        if sc is not None:
            ctx.out.flush()
            copy_from(svc, sc, sp or "/", dp, follow=args.follow_link, archive=args.archive, out=sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            copy_to(svc, dc, sp, dp or "/", follow=args.follow_link, archive=args.archive, stdin=sys.stdin.buffer)  # type: ignore[arg-type]
    except MinkeError as e:
        return _daemon_error(ctx, e)
    except OSError as e:
        ctx.err.write(f"Error: {e.strerror or e}\n")
        return 1
    return 0


# --- diff / commit / export -----------------------------------------------------------------------------


def setup_diff(p: argparse.ArgumentParser) -> None:
    p.add_argument("container")
    p.set_defaults(func=run_diff)


def run_diff(ctx, args) -> int:
    from minke.containers.commit import changes

    svc = ctx.engine.containers
    try:
        for kind, path in changes(svc, svc.get(args.container)):
            ctx.out.write(f"{kind} {path}\n")
    except MinkeError as e:
        return _daemon_error(ctx, e)
    return 0


def setup_commit(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--author", default="", help="author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")")
    p.add_argument("-c", "--change", action="append", default=[], help="apply Dockerfile instruction to the created image")
    p.add_argument("-m", "--message", default="", help="commit message")
    p.add_argument("-p", "--pause", default="true", help="pause container during commit (default true)")
    p.add_argument("container")
    p.add_argument("repository", nargs="?")
    p.set_defaults(func=run_commit)


def run_commit(ctx, args) -> int:
    from minke.containers.commit import commit

    pause = str(args.pause).lower() not in ("false", "0", "no")
    try:
        image_id = commit(ctx.engine.containers, args.container, args.repository, changes_=args.change,
                          message=args.message, author=args.author, pause=pause)
    except MinkeError as e:
        return _daemon_error(ctx, e)
    ctx.out.write(image_id + "\n")
    return 0


def setup_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default=None, help="write to a file, instead of STDOUT")
    p.add_argument("container")
    p.set_defaults(func=run_export)


def run_export(ctx, args) -> int:
    from minke.containers.commit import export

    if not args.output and sys.stdout.isatty():
        ctx.err.write("cowardly refusing to save to a terminal. Use the -o flag or redirect\n")
        return 1
    svc = ctx.engine.containers
    try:
        svc.get(args.container)
        if args.output:
            tmp = args.output + ".tmp"
            with open(tmp, "wb") as f:
                export(svc, args.container, f)
            os.replace(tmp, args.output)
        else:
            export(svc, args.container, sys.stdout.buffer)
            sys.stdout.buffer.flush()
    except MinkeError as e:
        if args.output and os.path.exists(args.output + ".tmp"):
            os.unlink(args.output + ".tmp")
        return _daemon_error(ctx, e)
    return 0


# --- update ------------------------------------------------------------------------------------------


def setup_update(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+")
    p.add_argument("-m", "--memory", default=None, help="memory limit")
    p.add_argument("--memory-reservation", default=None, help="memory soft limit")
    p.add_argument("--memory-swap", default=None, help="swap limit equal to memory plus swap: -1 to enable unlimited swap")
    p.add_argument("--cpus", default=None, help="number of CPUs")
    p.add_argument("-c", "--cpu-shares", type=int, default=None, help="CPU shares (relative weight)")
    p.add_argument("--cpu-period", type=int, default=None, help="limit CPU CFS (Completely Fair Scheduler) period")
    p.add_argument("--cpu-quota", type=int, default=None, help="limit CPU CFS (Completely Fair Scheduler) quota")
    p.add_argument("--cpuset-cpus", default=None, help="CPUs in which to allow execution (0-3, 0,1)")
    p.add_argument("--cpuset-mems", default=None, help="MEMs in which to allow execution (0-3, 0,1)")
    p.add_argument("--pids-limit", type=int, default=None, help="tune container pids limit (set -1 for unlimited)")
    p.add_argument("--blkio-weight", type=int, default=None, help="block IO (relative weight), between 10 and 1000, or 0 to disable")
    p.add_argument("--restart", default=None, help="restart policy to apply when a container exits")
    p.set_defaults(func=run_update)


def update_changes(args) -> dict:
    """Docker's update body from the flags (only those given); InvalidArgument on a bad value."""
    from minke.containers import options as o

    ch: dict = {}
    if args.memory is not None:
        ch["Memory"] = o.flag_size("-m, --memory", args.memory)
    if args.memory_reservation is not None:
        ch["MemoryReservation"] = o.flag_size("--memory-reservation", args.memory_reservation)
    if args.memory_swap is not None:
        ch["MemorySwap"] = o.flag_size("--memory-swap", args.memory_swap, allow_minus_one=True)
    if args.cpus is not None:
        ch["NanoCpus"] = o.parse_cpus(args.cpus)
    for key, value in (("CpuShares", args.cpu_shares), ("CpuPeriod", args.cpu_period), ("CpuQuota", args.cpu_quota),
                       ("BlkioWeight", args.blkio_weight), ("CpusetCpus", args.cpuset_cpus),
                       ("CpusetMems", args.cpuset_mems)):  # fmt: skip
        if value is not None:
            ch[key] = value
    # Docker's CLI: --pids-limit 0 is "not given".
    if args.pids_limit:
        ch["PidsLimit"] = args.pids_limit
    if args.restart:
        ch["RestartPolicy"] = o.parse_restart(args.restart)
    return ch


def run_update(ctx, args) -> int:
    from minke.containers.update import update

    given = [v for k, v in vars(args).items() if k not in ("containers", "func") and v is not None]
    if not given:
        ctx.err.write("you must provide one or more flags when using this command\n")
        return 1
    try:
        changes = update_changes(args)
    except MinkeError as e:
        # A bad flag value is a usage error (Docker's CLI: 125).
        ctx.err.write(f"{e}\nSee 'minke update --help'.\n")
        return 125

    def one(ref):
        update(ctx.engine.containers, ref, changes)
        ctx.out.write(ref + "\n")

    return _each(ctx, args.containers, one)


# --- attach ------------------------------------------------------------------------------------------


def setup_attach(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-stdin", action="store_true", help="do not attach STDIN")
    p.add_argument("--sig-proxy", default="true", choices=["true", "false"], help="proxy all received signals to the process")
    p.add_argument("--detach-keys", default="", help="override the key sequence for detaching a container")
    p.add_argument("container")
    p.set_defaults(func=run_attach)


def _attach_refusal(c) -> str | None:
    """Docker's refusal to attach to a container that is not running, or None."""
    from minke.containers.state import Status

    if c.status is Status.PAUSED:
        return "You cannot attach to a paused container, unpause it first"
    if c.status is Status.RESTARTING:
        return "You cannot attach to a restarting container, wait until it is running"
    if c.status is not Status.RUNNING:
        return "You cannot attach to a stopped container, start it first"
    return None


def run_attach(ctx, args) -> int:
    """Attach our stdio to a running container's monitor, as many clients at once as like;
    the detach keys (tty with stdin only, as Docker) leave it running: 'read escape
    sequence', exit 1; otherwise the container's exit code once it exits."""
    from minke.cli.containers import _detach_keys, _pump

    svc = ctx.engine.containers
    try:
        c = svc.get(args.container)
    except MinkeError as e:
        return _daemon_error(ctx, e)
    refusal = _attach_refusal(c)
    if refusal:
        ctx.err.write(refusal + "\n")
        return 1
    tty = bool(c.config.get("Tty"))
    stdin = not args.no_stdin and bool(c.config.get("OpenStdin"))
    if stdin and tty and not os.isatty(0):
        ctx.err.write("the input device is not a TTY\n")
        return 1
    keys = _detach_keys(args.detach_keys or "ctrl-p,ctrl-q")
    try:
        session = svc.attach(c.id, stdin=stdin, stdout=True, stderr=True)
    except MinkeError as e:
        return _daemon_error(ctx, e)
    # Docker checks again once connected: a container that stopped meanwhile would leave
    # the client waiting for output that never comes.
    now = svc.find(c.id)
    refusal = _attach_refusal(now) if now is not None else "You cannot attach to a stopped container, start it first"
    if refusal:
        session.close()
        ctx.err.write(refusal + "\n")
        return 1
    if tty:
        # One size off first, then the real one (in _pump): a full-screen program redraws
        # for the newcomer, as Docker's attach makes it.
        try:
            size = os.get_terminal_size(sys.stdout.fileno())
            session.resize(size.lines + 1, size.columns + 1)
        except (OSError, ValueError, AttributeError):
            pass

    def detached() -> int:
        ctx.err.write("read escape sequence\n")
        return 1

    return _pump(ctx, svc, c, session, stdin=stdin, tty=tty, sig_proxy=args.sig_proxy == "true" and not tty,
                 detach_keys=keys, on_detach=detached,
                 eof_closes_stdin=bool(c.config.get("StdinOnce")) and not tty)
