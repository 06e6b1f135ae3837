"""``minke-runtime``: the built-in runtime behind runc's command line.

    minke-runtime [--root DIR] [--log FILE] [--log-format text|json] [--systemd-cgroup]
                  COMMAND [OPTIONS] ID [ARGS]

Commands and flags are runc's (create, start, state, kill, delete, run, exec, list,
pause, resume, ps, features), so anything that drives runc can drive this.  Errors are
one line on stderr (and in --log) with exit status 1, as runc.

This module is imported on every call: arguments are parsed by hand (argparse costs more
than the rest of ``state``), and each command imports only what it uses.  It uses
``posix``, not ``os`` (~2 ms of a start or delete here), and the common start and delete
run on ``minke.runtime.state`` alone, without the lifecycle module.
"""

import posix
import sys

USAGE = """usage: minke-runtime [--root DIR] [--log FILE] [--log-format text|json] COMMAND [OPTIONS] ID

commands:
  create    create a container (--bundle, --pid-file, --console-socket)
  start     start the user process of a created container
  run       create and start a container (--bundle, --detach, --pid-file, --console-socket)
  state     print the state of a container as json
  kill      send a signal to the container's init (or --all processes)
  delete    delete a container (--force)
  exec      run a process in a running container
  list      list containers (--format table|json, --quiet)
  pause     freeze every process of a container
  resume    thaw a paused container
  ps        show the processes of a container (--format table|json)
  features  show what this runtime supports, as json
  update    change the cgroup limits of a container (runc's flags, or -r FILE|-)
"""

# flag -> (canonical name, takes a value, may repeat)
_GLOBAL = {
    "--root": ("root", True, False),
    "--log": ("log", True, False),
    "--log-format": ("log_format", True, False),
    "--systemd-cgroup": ("systemd_cgroup", False, False),
    "--debug": ("debug", False, False),
    "--rootless": ("rootless", True, False),
    "--criu": ("criu", True, False),
}
_BUNDLE = {"--bundle": ("bundle", True, False), "-b": ("bundle", True, False)}
_PIDFILE = {"--pid-file": ("pid_file", True, False)}
_CONSOLE = {"--console-socket": ("console_socket", True, False)}
_IGNORED = {
    "--no-pivot": ("no_pivot", False, False),
    "--no-new-keyring": ("no_new_keyring", False, False),
    "--preserve-fds": ("preserve_fds", True, False),
    "--keep": ("keep", False, False),
    "--no-subreaper": ("no_subreaper", False, False),
}
COMMAND_FLAGS: dict[str, dict[str, tuple[str, bool, bool]]] = {
    "create": {**_BUNDLE, **_PIDFILE, **_CONSOLE, **_IGNORED},
    "run": {**_BUNDLE, **_PIDFILE, **_CONSOLE, **_IGNORED, "--detach": ("detach", False, False), "-d": ("detach", False, False)},
    "start": {},
    "state": {},
    "kill": {"--all": ("all", False, False), "-a": ("all", False, False)},
    "delete": {"--force": ("force", False, False), "-f": ("force", False, False)},
    "exec": {
        **_PIDFILE,
        **_CONSOLE,
        "--process": ("process", True, False),
        "-p": ("process", True, False),
        "--tty": ("tty", False, False),
        "-t": ("tty", False, False),
        "--env": ("env", True, True),
        "-e": ("env", True, True),
        "--cwd": ("cwd", True, False),
        "--user": ("user", True, False),
        "-u": ("user", True, False),
        "--additional-gids": ("additional_gids", True, True),
        "-g": ("additional_gids", True, True),
        "--detach": ("detach", False, False),
        "-d": ("detach", False, False),
        "--no-new-privs": ("no_new_privs", False, False),
        "--cap": ("cap", True, True),
        "-c": ("cap", True, True),
        "--preserve-fds": ("preserve_fds", True, False),
        "--cgroup": ("cgroup", True, True),
        "--process-label": ("process_label", True, False),
        "--apparmor": ("apparmor", True, False),
    },
    "list": {"--format": ("format", True, False), "-f": ("format", True, False), "--quiet": ("quiet", False, False), "-q": ("quiet", False, False)},
    "ps": {"--format": ("format", True, False), "-f": ("format", True, False)},
    "pause": {},
    "resume": {},
    "features": {},
    "update": {
        **{f"--{k}": (k.replace("-", "_"), True, False) for k in (
            "memory", "memory-reservation", "memory-swap", "cpu-share", "cpu-period", "cpu-quota",
            "cpu-rt-period", "cpu-rt-runtime", "cpuset-cpus", "cpuset-mems", "pids-limit", "blkio-weight",
            "kernel-memory", "kernel-memory-tcp", "l3-cache-schema", "mem-bw-schema")},
        "--cpu-shares": ("cpu_share", True, False),
        "--resources": ("resources", True, False),
        "-r": ("resources", True, False),
    },
}


class Usage(Exception):
    pass


def parse_flags(args: list[str], table: dict, *, stop_at_positional: bool) -> tuple[dict, list[str]]:
    """``--flag value``, ``--flag=value``, ``-f value``; booleans take no value.

    Like runc's flag parser, global flags stop at the command name; command flags may come
    before or after the id; ``--`` ends flags.
    """
    opts: dict = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            rest.extend(args[i + 1 :])
            break
        if a.startswith("-") and len(a) > 1:
            name, eq, value = a.partition("=")
            if name not in table:
                raise Usage(f"flag provided but not defined: {name}")
            key, takes, multi = table[name]
            if takes:
                if not eq:
                    i += 1
                    if i >= len(args):
                        raise Usage(f"flag needs an argument: {name}")
                    value = args[i]
                if multi:
                    opts.setdefault(key, []).append(value)
                else:
                    opts[key] = value
            else:
                opts[key] = value.lower() not in ("false", "0") if eq else True
            i += 1
            continue
        if stop_at_positional:
            rest.extend(args[i:])
            break
        rest.append(a)
        i += 1
    return opts, rest


class Log:
    """Errors and warnings to stderr and, with --log, to a file (text or runc's json)."""

    def __init__(self, path: str | None, fmt: str) -> None:
        self.path = path
        self.fmt = fmt

    def write(self, level: str, msg: str) -> None:
        prefix = "minke-runtime: " if level == "error" else f"minke-runtime: {level}: "
        posix.write(2, f"{prefix}{msg}\n".encode())
        if not self.path:
            return
        import time

        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.fmt == "json":
            from minke import fastjson

            line = fastjson.dumps({"level": level, "msg": msg, "time": now})
        else:
            line = f'time="{now}" level={level} msg="{msg}"'
        try:
            with open(self.path, "a") as f:
                f.write(line + "\n")
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    """Run a command.  As the program (no ``argv``), exit right away: the interpreter's
    tear-down of every loaded module costs more than ``state`` itself."""
    if argv is not None:
        return _main(argv)
    code = _main(sys.argv[1:])
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        posix._exit(code)


def _main(argv: list[str]) -> int:
    log = Log(None, "text")
    try:
        g, rest = parse_flags(argv, {**_GLOBAL, "--help": ("help", False, False), "-h": ("help", False, False),
                                     "--version": ("version", False, False), "-v": ("version", False, False)},
                              stop_at_positional=True)  # fmt: skip
        log = Log(g.get("log"), g.get("log_format", "text"))
        if g.get("version"):
            from minke import __version__

            posix.write(1, f"minke-runtime version {__version__}\nspec: 1.0.2\n".encode())
            return 0
        if g.get("help") or not rest:
            posix.write(1 if g.get("help") else 2, USAGE.encode())
            return 0 if g.get("help") else 1
        cmd, args = rest[0], rest[1:]
        if cmd not in COMMAND_FLAGS:
            raise Usage(f"no such command {cmd!r}")
        if args[:1] in (["-h"], ["--help"]):
            posix.write(1, USAGE.encode())
            return 0
        opts, pos = parse_flags(args, COMMAND_FLAGS[cmd], stop_at_positional=cmd == "exec")
        root = g.get("root") or posix.environ.get(b"MINKE_RUNTIME_ROOT", b"").decode(errors="surrogateescape") \
            or "/run/minke-runtime"
        return _dispatch(cmd, opts, pos, root, log)
    except Usage as e:
        log.write("error", str(e))
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        from minke.errors import MinkeError

        if isinstance(e, MinkeError):
            log.write("error", e.message)
        elif isinstance(e, OSError):
            log.write("error", str(e) if e.filename is None else f"{e.filename}: {e.strerror}")
        else:
            raise
        return 1


def _need_id(cmd: str, pos: list[str], extra: int = 0) -> str:
    if not pos:
        raise Usage(f'"{cmd}" requires a container id')
    if len(pos) > 1 + extra:
        raise Usage(f'"{cmd}" takes {1 + extra} argument(s), got {len(pos)}')
    return pos[0]


def _dispatch(cmd: str, opts: dict, pos: list[str], root: str, log: Log) -> int:
    if cmd in ("start", "delete") and _quick(cmd, opts, pos, root):
        return 0
    if cmd in ("create", "run"):
        from minke.runtime import grace

        grace.start()  # before the imports below: see minke.runtime.grace
    from minke.runtime.container import Runtime

    rt = Runtime(root, warn=lambda m: log.write("warning", m))
    if cmd == "state":
        import json

        posix.write(1, json.dumps(rt.state(_need_id(cmd, pos)), indent=2).encode())
        return 0
    if cmd == "create":
        cid = _need_id(cmd, pos)
        rt.create(cid, opts.get("bundle") or ".", pid_file=opts.get("pid_file"), console_socket=opts.get("console_socket"),
                  preserve_fds=_preserve_fds(opts))
        return 0
    if cmd == "start":
        rt.start(_need_id(cmd, pos))
        return 0
    if cmd == "run":
        cid = _need_id(cmd, pos)
        return rt.run(cid, opts.get("bundle") or ".", pid_file=opts.get("pid_file"),
                      console_socket=opts.get("console_socket"), detach=bool(opts.get("detach")),
                      preserve_fds=_preserve_fds(opts))  # fmt: skip
    if cmd == "kill":
        from minke.runtime.container import parse_signal

        cid = _need_id(cmd, pos, extra=1)
        sig = parse_signal(pos[1]) if len(pos) > 1 else 15
        rt.kill(cid, sig, all_=bool(opts.get("all")))
        return 0
    if cmd == "delete":
        rt.delete(_need_id(cmd, pos), force=bool(opts.get("force")))
        return 0
    if cmd == "pause":
        rt.pause(_need_id(cmd, pos))
        return 0
    if cmd == "resume":
        rt.resume(_need_id(cmd, pos))
        return 0
    if cmd == "list":
        return _list(rt, opts)
    if cmd == "ps":
        return _ps(rt, opts, pos)
    if cmd == "features":
        import json

        from minke.runtime.features import features

        posix.write(1, (json.dumps(features(), indent=4) + "\n").encode())
        return 0
    if cmd == "exec":
        return _exec(rt, opts, pos)
    if cmd == "update":
        return _update(rt, opts, pos)
    raise Usage(f"no such command {cmd!r}")


def _quick(cmd: str, opts: dict, pos: list[str], root: str) -> bool:
    """The common start (no poststart hooks) and delete (a stopped container without
    poststop hooks) on the state module alone; False: not done, go the full way (which
    also gives every error its message)."""
    from minke.runtime import state as st_mod

    cid = _need_id(cmd, pos)
    try:
        st = st_mod.load(root, cid, missing=None)
    except Exception:  # a bad id, a damaged state: the full path says what
        return False
    if st is None:
        return False
    if cmd == "delete":
        return st_mod.delete_stopped(root, st)
    if (st.get("config", {}).get("hooks") or {}).get("poststart"):
        return False
    st_mod.start(root, st)
    return True


def _list(rt, opts: dict) -> int:
    import json

    states = rt.list()
    fmt = opts.get("format", "table")
    if opts.get("quiet"):
        posix.write(1, "".join(s["id"] + "\n" for s in states).encode())
        return 0
    if fmt == "json":
        posix.write(1, (json.dumps(states) + "\n").encode())
        return 0
    if fmt != "table":
        raise Usage(f"invalid format option {fmt!r}")
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    for s in states:
        rows.append((s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], "root"))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    out = "".join("   ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() + "\n" for r in rows)
    posix.write(1, out.encode())
    return 0


def _ps(rt, opts: dict, pos: list[str]) -> int:
    import json
    import subprocess

    if not pos:
        raise Usage('"ps" requires a container id')
    cid, ps_args = pos[0], pos[1:] or ["-ef"]
    pids = rt.pids(cid)
    if opts.get("format", "table") == "json":
        posix.write(1, (json.dumps(pids) + "\n").encode())
        return 0
    out = subprocess.run(["ps", *ps_args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise OSError(out.returncode, f"ps {' '.join(ps_args)}: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    if "PID" not in header:
        raise Usage("couldn't find PID field in ps output")
    col = header.index("PID")
    wanted = set(pids)
    keep = [lines[0]] + [ln for ln in lines[1:] if len(ln.split()) > col and ln.split()[col].isdigit() and int(ln.split()[col]) in wanted]
    posix.write(1, ("\n".join(keep) + "\n").encode())
    return 0


def _exec(rt, opts: dict, pos: list[str]) -> int:
    from minke import fastjson  # json's own errors, without its import (re: ~10 ms)
    from minke.errors import InvalidArgument
    from minke.runtime.exec import exec_process
    from minke.runtime.spec import parse_process

    if not pos:
        raise Usage('"exec" requires a container id')
    cid, args = pos[0], pos[1:]
    if opts.get("process"):
        try:
            with open(opts["process"], "rb") as f:
                raw = fastjson.load(f)
        except FileNotFoundError:
            raise InvalidArgument(f"process file {opts['process']}: no such file") from None
        except ValueError as e:
            raise InvalidArgument(f"process file {opts['process']}: invalid json: {e}") from None
    else:
        if not args:
            raise Usage("exec: either --process or a command is required")
        # runc starts from the container's own process and overrides what was given.
        base = rt.load(cid).get("config", {}).get("process") or {}
        raw = fastjson.loads(fastjson.dumps(base))
        raw["args"] = args
        raw["terminal"] = bool(opts.get("tty"))
        if opts.get("cwd"):
            raw["cwd"] = opts["cwd"]
        if opts.get("env"):
            env = list(raw.get("env") or [])
            for e in opts["env"]:
                key = e.split("=", 1)[0]
                env = [x for x in env if x.split("=", 1)[0] != key] + [e]
            raw["env"] = env
        if opts.get("user"):
            uid, _, gid = opts["user"].partition(":")
            if not uid.isdigit() or (gid and not gid.isdigit()):
                raise InvalidArgument(f"--user {opts['user']}: must be uid[:gid] in numbers")
            raw.setdefault("user", {})
            raw["user"] = dict(raw["user"], uid=int(uid), gid=int(gid) if gid else 0)
        if opts.get("additional_gids"):
            raw.setdefault("user", {})["additionalGids"] = [int(g) for g in opts["additional_gids"]]
        if opts.get("no_new_privs"):
            raw["noNewPrivileges"] = True
        if opts.get("cap"):
            caps = raw.setdefault("capabilities", {})
            for c in opts["cap"]:
                for setname in ("bounding", "effective", "permitted", "ambient"):
                    caps.setdefault(setname, [])
                    if c not in caps[setname]:
                        caps[setname].append(c)
    proc = parse_process(raw)
    return exec_process(rt, cid, proc, detach=bool(opts.get("detach")), pid_file=opts.get("pid_file"),
                        console_socket=opts.get("console_socket"), preserve_fds=_preserve_fds(opts))  # fmt: skip


def _update(rt, opts: dict, pos: list[str]) -> int:
    from minke.runtime.update import resources_from_flags, update

    update(rt, _need_id("update", pos), resources_from_flags(opts))
    return 0


def _preserve_fds(opts: dict) -> int:
    value = opts.get("preserve_fds") or "0"
    if not str(value).isdigit():
        raise Usage(f"--preserve-fds {value}: must be a number")
    return int(value)


if __name__ == "__main__":
    sys.exit(main())
