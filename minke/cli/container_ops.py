"""Commands that look into or act on a running container: exec, pause, unpause, top, port.

Errors are printed as Docker's CLI prints the daemon's (``Error response from daemon: ...``),
one line, exit 1; exec passes the process's exit code through (126/127 when the command
cannot run / is not found).
"""

from __future__ import annotations

import argparse
import os
import sys

from minke.errors import MinkeError


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
    p.add_argument("container")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
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
            return _exec_tty(rt, c.id, proc, interactive=args.interactive)
        stdin = sys.stdin.fileno() if args.interactive else os.open(os.devnull, os.O_RDONLY)
        try:
            return rt.exec(c.id, proc, stdio=(stdin, sys.stdout.fileno(), sys.stderr.fileno()))
        finally:
            if not args.interactive:
                os.close(stdin)
    except MinkeError as e:
        return _daemon_error(ctx, e)


def _exec_tty(rt, cid: str, proc: dict, *, detach: bool = False, interactive: bool = False) -> int:
    """Run with a terminal: the runtime hands the pty master over a console socket (both
    runc and minke-runtime do); we copy between it and our stdio until the process ends."""
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
                    else:
                        os.write(fd, data)
        finally:
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
    from minke.containers.exec import pause

    def one(ref):
        pause(ctx.engine.containers, ref)
        ctx.out.write(ref + "\n")

    return _each(ctx, args.containers, one)


def setup_unpause(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+")
    p.set_defaults(func=run_unpause)


def run_unpause(ctx, args) -> int:
    from minke.containers.exec import unpause

    def one(ref):
        unpause(ctx.engine.containers, ref)
        ctx.out.write(ref + "\n")

    return _each(ctx, args.containers, one)


# --- top ---------------------------------------------------------------------------------------------


def setup_top(p: argparse.ArgumentParser) -> None:
    p.add_argument("container")
    p.add_argument("ps_args", nargs=argparse.REMAINDER)
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
