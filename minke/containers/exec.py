"""Running another process in a running container (``minke exec``) and pausing it.

The process joins the container through its runtime's ``exec`` (runc's contract, served by
runc and by minke-runtime alike).  Its ``process.json`` starts from the container's own
``process`` in the bundle's config.json, so it keeps the container's capabilities,
no-new-privileges, rlimits and (the runtime applies it from the container's config)
seccomp; ``--privileged`` widens only the capabilities, as Docker's does.

The command is looked up in the container's PATH inside its root before the runtime is
asked: a runtime's own failure and the process's stderr share one stream, and this is how
Docker's 126/127 exit codes can be told from the process's own.
"""

from __future__ import annotations

import os
import stat

from minke import fastjson
from minke.errors import CannotRun, CommandNotFound, Conflict, InvalidArgument
from minke.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing for annotations only: its import costs a short command ~5 ms
    from typing import Any


@record
class ExecOptions:
    cmd: tuple[str, ...]
    env: tuple[str, ...] = ()
    workdir: str | None = None
    user: str | None = None
    tty: bool = False
    privileged: bool = False
    extra_caps: tuple[str, ...] = ()


def parse_env_file(text: str, path: str = "env file") -> list[str]:
    """Docker's --env-file: KEY=VALUE lines, '#' comments, a bare KEY takes the caller's
    value (and is dropped when the caller has none)."""
    out: list[str] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key = line.split("=", 1)[0]
        if not key or any(c.isspace() for c in key):
            raise InvalidArgument(f"invalid environment variable at {path} line {n}: {key!r}")
        out.extend(expand_env([line]))
    return out


def expand_env(items: list[str]) -> list[str]:
    """``-e KEY`` without a value takes the caller's value, as Docker's CLI does."""
    out = []
    for item in items:
        if "=" in item:
            out.append(item)
        elif item in os.environ:
            out.append(f"{item}={os.environ[item]}")
    return out


def merge_env(base: list[str], extra: list[str]) -> list[str]:
    """``extra`` overrides ``base`` by key, keeping the first position of a key."""
    order: list[str] = []
    values: dict[str, str] = {}
    for item in list(base) + list(extra):
        k, _, v = item.partition("=")
        if k not in values:
            order.append(k)
        values[k] = v
    return [f"{k}={values[k]}" for k in order]


def _in_root(rootfs: str, path: str, follow_last: bool = True) -> str | None:
    """``path`` (absolute in the container) as a host path under ``rootfs``, symlinks
    resolved inside the root: an absolute link restarts at the root, '..' stops at it."""
    parts = [p for p in path.split("/") if p]
    resolved: list[str] = []
    hops = 0
    while parts:
        name = parts.pop(0)
        if name == ".":
            continue
        if name == "..":
            if resolved:
                resolved.pop()
            continue
        host = os.path.join(rootfs, *resolved, name)
        if os.path.islink(host) and (parts or follow_last):
            hops += 1
            if hops > 40:
                return None
            target = os.readlink(host)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        resolved.append(name)
    return os.path.join(rootfs, *resolved)


def find_command(rootfs: str, name: str, env: list[str], cwd: str) -> str:
    """Check ``name`` can be run in the container; raise Docker's 127/126 errors."""
    prefix = "OCI runtime exec failed: exec failed: unable to start container process: "
    if "/" in name:
        cands = [name if name.startswith("/") else os.path.join(cwd, name)]
    else:
        path = next((e[5:] for e in env if e.startswith("PATH=")), "")
        cands = [os.path.join(d or ".", name) for d in path.split(":") if d]
    for cand in cands:
        host = _in_root(rootfs, cand)
        try:
            st = os.stat(host) if host else None
        except OSError:
            st = None
        if st is None:
            continue
        if stat.S_ISDIR(st.st_mode) or not st.st_mode & 0o111:
            if "/" in name:
                raise CannotRun(f"{prefix}exec: {name!r}: permission denied: unknown".replace("'", '"'))
            continue
        return cand
    if "/" in name:
        raise CommandNotFound(f'{prefix}exec: "{name}": stat {name}: no such file or directory: unknown')
    raise CommandNotFound(f'{prefix}exec: "{name}": executable file not found in $PATH: unknown')


def check_running(c: Any) -> None:
    """Docker's refusals for exec into a container that is not running."""
    from minke.containers.state import Status

    if c.status is Status.PAUSED:
        raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
    if c.status is not Status.RUNNING:
        raise Conflict(f"Container {c.id} is not running")


def build_process(bundle_process: dict[str, Any], opts: ExecOptions, passwd: str | None, group: str | None,
                  all_caps: tuple[str, ...] = ()) -> dict[str, Any]:
    """The exec's OCI process from the container's: its caps, rlimits, nnp, env, cwd."""
    from minke.containers.spec import resolve_user

    if not opts.cmd:
        raise InvalidArgument("no command specified")
    proc = fastjson.loads(fastjson.dumps(bundle_process))
    proc["args"] = list(opts.cmd)
    proc["terminal"] = bool(opts.tty)
    proc.pop("consoleSize", None)
    env = list(proc.get("env") or [])
    if opts.user is not None and opts.user != "":
        u = resolve_user(opts.user, passwd, group)
        proc["user"] = {"uid": u.uid, "gid": u.gid, **({"additionalGids": list(u.additional_gids)} if u.additional_gids else {})}
        env = merge_env(env, [f"HOME={u.home}"])
    if opts.tty and not any(e.startswith("TERM=") for e in env + list(opts.env)):
        env.append("TERM=xterm")
    proc["env"] = merge_env(env, list(opts.env))
    if opts.workdir:
        if not opts.workdir.startswith("/"):
            raise InvalidArgument(f"the working directory '{opts.workdir}' is invalid, it needs to be an absolute path")
        proc["cwd"] = opts.workdir
    if opts.privileged and all_caps:
        caps = sorted(all_caps)
        proc["capabilities"] = {k: list(caps) for k in ("bounding", "effective", "permitted", "inheritable")}
        proc["capabilities"]["ambient"] = []
        if proc.get("user", {}).get("uid", 0) == 0:
            proc["capabilities"]["ambient"] = list(caps)
    return proc


def prepare(svc: Any, ref: str, opts: ExecOptions) -> tuple[Any, dict[str, Any]]:
    """The container (checked running) and the exec's OCI process."""
    c = svc.get(ref)
    check_running(c)
    bundle = svc.run_dir(c.id)
    with open(os.path.join(bundle, "config.json")) as f:
        spec = fastjson.load(f)
    rootfs = svc.rootfs(c.id)
    passwd = svc._read_image_file(rootfs, "/etc/passwd")
    group = svc._read_image_file(rootfs, "/etc/group")
    all_caps: tuple[str, ...] = ()
    if opts.privileged:
        from minke.containers.spec import bounding_caps

        with open("/proc/self/status") as f:
            all_caps = bounding_caps(f.read())
    proc = build_process(spec["process"], opts, passwd, group, all_caps)
    find_command(rootfs, proc["args"][0], proc["env"], proc.get("cwd") or "/")
    return c, proc


def runtime_for(svc: Any, c: Any):
    """The container's runtime as an ``OCIRuntime``, with the service's command line (which
    for the built-in runtime is an interpreter invocation, not a single binary).  The
    built-in runtime's foreground exec without a terminal runs in a fork of this process
    (``exec_forked``)."""
    from minke.runtime.oci import CommandRuntime

    builtin = svc._builtin_runtime(c)

    class _Runtime(CommandRuntime):
        def __init__(self, argv: list[str]) -> None:
            super().__init__(argv[0], "")
            self.prefix = argv

        def _argv(self, *args: str) -> list[str]:
            return [*self.prefix, *args]

        def exec(self, id, process, *, detach=False, pid_file=None, console_socket=None, stdio=(None, None, None)) -> int:
            if builtin is None or detach or pid_file or console_socket or process.get("terminal"):
                return super().exec(id, process, detach=detach, pid_file=pid_file, console_socket=console_socket,
                                    stdio=stdio)
            return exec_forked(builtin.root, id, process, stdio)

    return _Runtime(svc.runtime_argv(c.runtime))


def exec_forked(root: str, cid: str, process: dict, stdio: tuple) -> int:
    """``minke-runtime --root ROOT exec --process FILE CID`` in a fork of this process
    rather than a new interpreter (~15 ms): the same function of the runtime's command
    line, with ``stdio`` (fds; None: ours) as its 0-2.  Its exit code, as subprocess gives
    it (-N for a signal)."""
    import sys

    from minke.runtime.oci import json_file

    with json_file(process) as path:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                # No cyclic garbage collection here: finalizers of our caller's garbage
                # must not close fds (the runtime's exec closes what the process must not
                # inherit itself, before its execve).
                import gc

                gc.disable()
                for target, fd in enumerate(stdio):
                    if fd is not None and fd != target:
                        os.dup2(fd, target)
                from minke.runtime.cli import main

                sys.argv[0] = "minke-runtime"
                code = main(["--root", root, "exec", "--process", path, cid])
            except BaseException:  # noqa: B036 - nothing may return into the caller's code
                import traceback

                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)


def pause(svc: Any, ref: str) -> Any:
    """Freeze the container's processes (the runtime's ``pause``); state Paused."""
    from minke.containers.state import Status

    c = svc.get(ref)
    with svc._lock(c.id):
        c = svc.get(c.id)
        if c.status is Status.PAUSED:
            raise Conflict(f"Container {c.id} is already paused")
        if c.status is not Status.RUNNING:
            raise Conflict(f"Container {c.id} is not running")
        runtime_for(svc, c).pause(c.id)
        svc._update(c.id, status=Status.PAUSED.value)
    svc._event("pause", c)
    return svc.get(c.id)


def unpause(svc: Any, ref: str) -> Any:
    from minke.containers.state import Status

    c = svc.get(ref)
    with svc._lock(c.id):
        c = svc.get(c.id)
        if c.status is not Status.PAUSED:
            raise Conflict(f"Container {c.id} is not paused")
        runtime_for(svc, c).resume(c.id)
        svc._update(c.id, status=Status.RUNNING.value)
    svc._event("unpause", c)
    return svc.get(c.id)
