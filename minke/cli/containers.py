"""Container commands: run, create, start, stop, kill, restart, rm, wait, rename, ps, logs,
container prune, container inspect — Docker's flags, output and exit codes.

``run``/``create``/``start`` exit 125 on an engine error, 126/127 when the command cannot
run / is not found, else the container's own exit code; the others exit 1 on an error,
after trying every container named (as Docker's CLI does).
"""

from __future__ import annotations

import os
import sys
import time

from minke import fastjson
from minke.errors import InvalidArgument, MinkeError, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and argparse: for mypy only (run's plain forms go without them)
    import argparse
    from typing import Any


# --- shared helpers ---------------------------------------------------------------------------


def _human_duration(seconds: float) -> str:
    from minke.cli.units import human_duration

    return human_duration(seconds)


def _human_size(n: float) -> str:
    from minke.cli.units import human_size

    return human_size(n)


def _render(fmt: str, obj: Any) -> str:
    from minke.cli.format import render_template

    return render_template(fmt.replace("\\t", "\t").replace("\\n", "\n"), obj)


def _each(ctx, refs: list[str], fn) -> int:
    rc = 0
    for ref in refs:
        try:
            fn(ref)
        except MinkeError as e:
            ctx.err.write(f"Error response from daemon: {e}\n")
            rc = 1
    return rc


def _parse_time_arg(value: str | None, now: float | None = None) -> float | None:
    """``--since`` / ``--until``: RFC 3339, a unix timestamp, or a duration before now
    (``10m``, ``1h30m``, ``42s``)."""
    if not value:
        return None
    import re

    now = time.time() if now is None else now
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    if re.fullmatch(r"(\d+(\.\d+)?(ns|us|ms|s|m|h))+", value):
        total = 0.0
        for num, unit in re.findall(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", value):
            total += float(num) * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
        return now - total
    try:
        from minke.containers.logs import parse_rfc3339

        if "T" not in value:
            value = value + "T00:00:00Z"
        elif not (value.endswith("Z") or re.search(r"[+-]\d\d:?\d\d$", value)):
            value += "Z"
        return parse_rfc3339(value)
    except ValueError:
        raise InvalidArgument(f"invalid value for time: {value!r}") from None


# --- run / create -------------------------------------------------------------------------------


def _add_create_flags(p: argparse.ArgumentParser) -> None:
    # Docker's -h is --hostname; help stays on --help.
    p.conflict_handler = "resolve"
    p._optionals.conflict_handler = "resolve"  # argparse copies it into the group at init
    p.add_argument("image")
    p.add_argument("command", nargs="...")  # argparse.REMAINDER
    p.add_argument("--pull", default="missing", choices=["missing", "always", "never"],
                   help="pull image before running (default missing)")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress the pull output")
    p.add_argument("--platform", default=None, help="set platform if server is multi-platform capable")
    p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open even if not attached")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("--name", help="assign a name to the container")
    p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
    p.add_argument("--env-file", action="append", default=[], help="read in a file of environment variables")
    p.add_argument("-w", "--workdir", help="working directory inside the container")
    p.add_argument("-u", "--user", help="username or UID (format: <name|uid>[:<group|gid>])")
    p.add_argument("--entrypoint", help="overwrite the default ENTRYPOINT of the image")
    p.add_argument("-h", "--hostname", help="container host name")
    p.add_argument("-l", "--label", action="append", default=[], help="set meta data on a container")
    p.add_argument("--read-only", action="store_true", help="mount the container's root filesystem as read only")
    p.add_argument("--tmpfs", action="append", default=[], help="mount a tmpfs directory")
    p.add_argument("-v", "--volume", action="append", default=[], help="bind mount a volume")
    p.add_argument("--volumes-from", action="append", default=[], metavar="CONTAINER[:ro|rw]",
                   help="mount volumes from the specified container(s)")
    p.add_argument("--mount", action="append", default=[], help="attach a filesystem mount to the container")
    p.add_argument("--cap-add", action="append", default=[], help="add Linux capabilities")
    p.add_argument("--cap-drop", action="append", default=[], help="drop Linux capabilities")
    p.add_argument("--privileged", action="store_true", help="give extended privileges to this container")
    p.add_argument("--security-opt", action="append", default=[], help="security options")
    p.add_argument("-m", "--memory", help="memory limit")
    p.add_argument("--memory-swap", help="swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    p.add_argument("--memory-reservation", help="memory soft limit")
    p.add_argument("--cpus", help="number of CPUs")
    p.add_argument("-c", "--cpu-shares", type=int, default=0, help="CPU shares (relative weight)")
    p.add_argument("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)")
    p.add_argument("--pids-limit", type=int, default=None, help="tune container pids limit (set -1 for unlimited)")
    p.add_argument("--shm-size", help="size of /dev/shm")
    p.add_argument("--ulimit", action="append", default=[], help="ulimit options")
    p.add_argument("--init", action="store_true", help="run an init inside the container that forwards signals and reaps processes")
    p.add_argument("--restart", default="no", help="restart policy to apply when a container exits")
    p.add_argument("--rm", action="store_true", help="automatically remove the container when it exits")
    p.add_argument("--stop-signal", help="signal to stop the container")
    p.add_argument("--stop-timeout", type=int, default=None, help="timeout (in seconds) to stop a container")
    p.add_argument("--log-driver", default="json-file", help="logging driver for the container")
    p.add_argument("--log-opt", action="append", default=[], help="log driver options")
    p.add_argument("--runtime", default=None, help="runtime to use for this container")
    p.add_argument("--cidfile", help="write the container ID to the file")
    p.add_argument("--network", "--net", action="append", default=[],
                   help="connect a container to a network (bridge, none, host, container:NAME or a user network; "
                        "repeat for several, or name=NET,alias=A,ip=IP,mac-address=MAC)")
    p.add_argument("--network-alias", "--net-alias", action="append", default=[], help="add network-scoped alias for the container")
    p.add_argument("--ip", default=None, help="IPv4 address (e.g., 172.30.100.104)")
    p.add_argument("--mac-address", default=None, help="container MAC address (e.g., 92:d0:c6:0a:29:33)")
    p.add_argument("--dns", action="append", default=[], help="set custom DNS servers")
    p.add_argument("--dns-search", action="append", default=[], help="set custom DNS search domains")
    p.add_argument("--dns-option", "--dns-opt", action="append", default=[], help="set DNS options")
    p.add_argument("--add-host", action="append", default=[], help="add a custom host-to-IP mapping (host:ip)")
    p.add_argument("-p", "--publish", action="append", default=[], help="publish a container's port(s) to the host")
    p.add_argument("-P", "--publish-all", action="store_true", help="publish all exposed ports to random ports")
    p.add_argument("--expose", action="append", default=[], help="expose a port or a range of ports")
    p.add_argument("--oom-score-adj", type=int, default=0)
    p.add_argument("--health-cmd", default=None, help="command to run to check health")
    p.add_argument("--health-interval", default=None, help="time between running the check (ms|s|m|h) (default 0s)")
    p.add_argument("--health-timeout", default=None, help="maximum time to allow one check to run (ms|s|m|h) (default 0s)")
    p.add_argument("--health-retries", type=int, default=0, help="consecutive failures needed to report unhealthy")
    p.add_argument("--health-start-period", default=None,
                   help="start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)")
    p.add_argument("--health-start-interval", default=None,
                   help="time between running the check during the start period (ms|s|m|h) (default 0s)")
    p.add_argument("--no-healthcheck", action="store_true", help="disable any container-specified HEALTHCHECK")


def _build_request(args, ctx) -> tuple[dict, dict]:
    from minke.containers import options as o

    env: list[str] = []
    for f in args.env_file:
        env += o.read_env_file(f)
    env += o.parse_env_list(args.env)
    entrypoint = None
    if args.entrypoint is not None:
        import shlex

        entrypoint = shlex.split(args.entrypoint) if args.entrypoint else [""]
    if args.stop_signal:
        o.parse_signal(args.stop_signal)
    if args.log_driver not in ("json-file",):
        raise InvalidArgument(f"logging driver {args.log_driver!r} is not supported (json-file only)")
    from minke.network.ports import parse_expose, parse_publish_all, to_port_bindings

    bindings = to_port_bindings(parse_publish_all(args.publish))
    exposed = {k: {} for e in args.expose for k in parse_expose(e)}
    exposed.update({k: {} for k in bindings})
    config = {
        "Image": args.image,
        "Cmd": list(args.command) or None,
        "Entrypoint": entrypoint,
        "Env": env,
        "User": args.user,
        "WorkingDir": args.workdir,
        "Hostname": args.hostname,
        "Labels": o.parse_labels(args.label),
        "Tty": args.tty,
        "OpenStdin": args.interactive,
        "StdinOnce": args.interactive and not getattr(args, "detach", False),
        "AttachStdin": args.interactive,
        "AttachStdout": not getattr(args, "detach", False),
        "AttachStderr": not getattr(args, "detach", False),
        "StopSignal": args.stop_signal,
        "StopTimeout": args.stop_timeout,
        "ExposedPorts": exposed or None,
    }
    binds = [o.parse_volume(v) for v in args.volume]
    mounts = [o.parse_mount(m) for m in args.mount]
    tmpfs = dict(o.parse_tmpfs(t) for t in args.tmpfs)
    hc: dict[str, Any] = {
        "Binds": binds or None,
        "VolumesFrom": list(args.volumes_from) or None,
        "Mounts": mounts,
        "Tmpfs": tmpfs or None,
        "ReadonlyRootfs": args.read_only,
        "CapAdd": list(args.cap_add) or None,
        "CapDrop": list(args.cap_drop) or None,
        "Privileged": args.privileged,
        "SecurityOpt": list(args.security_opt) or None,
        "Memory": o.flag_size("-m, --memory", args.memory) if args.memory else 0,
        "MemorySwap": o.flag_size("--memory-swap", args.memory_swap, allow_minus_one=True) if args.memory_swap else 0,
        "MemoryReservation": o.flag_size("--memory-reservation", args.memory_reservation) if args.memory_reservation else 0,
        "NanoCpus": o.parse_cpus(args.cpus) if args.cpus else 0,
        "CpuShares": args.cpu_shares,
        "CpusetCpus": args.cpuset_cpus or "",
        "PidsLimit": args.pids_limit,
        "ShmSize": o.flag_size("--shm-size", args.shm_size) if args.shm_size else 64 * 1024 * 1024,
        "Ulimits": [o.parse_ulimit(u) for u in args.ulimit] or None,
        "Init": args.init or None,
        "RestartPolicy": o.parse_restart(args.restart),
        "AutoRemove": args.rm,
        "LogConfig": {"Type": args.log_driver, "Config": o.parse_log_opts(args.log_opt)},
        "Runtime": args.runtime or ctx.config.runtime,
        "NetworkMode": _networks(args)[0][0] if args.network else "default",
        "PortBindings": bindings or None,
        "PublishAllPorts": args.publish_all,
        "Dns": list(args.dns) or None,
        "DnsSearch": list(args.dns_search) or None,
        "DnsOptions": list(args.dns_option) or None,
        "ExtraHosts": list(args.add_host) or None,
        "OomScoreAdj": args.oom_score_adj,
    }
    if args.health_cmd or args.health_interval or args.health_timeout or args.health_retries \
            or args.health_start_period or args.health_start_interval or args.no_healthcheck:
        from minke.containers.health import from_flags

        health = from_flags(args.health_cmd, args.health_interval, args.health_timeout, args.health_retries,
                            args.health_start_period, args.health_start_interval, args.no_healthcheck)
        if health is not None:
            config["Healthcheck"] = health
    if args.cpus and hc["NanoCpus"] <= 0:
        ncpu = os.cpu_count() or 1
        raise InvalidArgument(f"range of cpus is from 0.01 to {ncpu}.00, as there are only {ncpu} cpus available")
    return config, hc


def _networks(args) -> list[tuple[str, dict[str, Any]]]:
    """Each --network as (network, endpoint settings): a name, or Docker's advanced
    syntax ``name=NET[,alias=A...][,ip=IP][,mac-address=MAC]``."""
    out: list[tuple[str, dict[str, Any]]] = []
    for value in args.network:
        if "=" not in value:
            out.append((value, {}))
            continue
        name, ep = "", {}
        for part in value.split(","):
            k, sep, v = part.partition("=")
            if not sep or not v:
                raise InvalidArgument(f"invalid argument {value!r} for \"--network\" flag: invalid field {part!r}")
            if k == "name":
                name = v
            elif k == "alias":
                ep.setdefault("Aliases", []).append(v)
            elif k == "ip":
                ep["IPAMConfig"] = {"IPv4Address": v}
            elif k == "mac-address":
                ep["MacAddress"] = v
            else:
                raise InvalidArgument(f"invalid argument {value!r} for \"--network\" flag: unknown field {k!r}")
        if not name:
            raise InvalidArgument(f"invalid argument {value!r} for \"--network\" flag: name is required")
        out.append((name, ep))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise InvalidArgument("network names must be unique: " + ", ".join(names))
    return out


def _networking_config(args) -> dict | None:
    """Every --network's endpoint (several networks: Docker 25's ``--network a
    --network b``); --network-alias, --ip and --mac-address go to the first one."""
    nets = _networks(args) or [("default", {})]
    first = dict(nets[0][1])
    if args.network_alias:
        first["Aliases"] = list(first.get("Aliases") or []) + list(args.network_alias)
    if args.ip:
        first["IPAMConfig"] = {"IPv4Address": args.ip}
    if args.mac_address:
        first["MacAddress"] = args.mac_address
    eps = {nets[0][0]: first, **dict(nets[1:])}
    if len(eps) == 1 and not first:
        return None
    return {"EndpointsConfig": eps}


def _image_missing_line(ref: str) -> str:
    last = ref.rsplit("/", 1)[-1]
    shown = ref if (":" in last or "@" in ref) else ref + ":latest"
    return f"Unable to find image '{shown}' locally\n"


def _ensure_image(ctx, args) -> None:
    """Docker's --pull: missing (pull when absent), always, never."""
    from minke.errors import NotFound as _NotFound

    if args.pull == "always":
        ctx.engine.registry.pull(args.image, out=ctx.err, quiet=args.quiet, platform=args.platform)
        return
    try:
        ctx.engine.images.get(args.image)
        return
    except _NotFound:
        if args.pull == "never":
            raise
    ctx.err.write(_image_missing_line(args.image))
    ctx.engine.registry.pull(args.image, out=ctx.err, quiet=args.quiet, platform=args.platform)


def _create(ctx, args, cid: str | None = None) -> Any:
    _ensure_image(ctx, args)
    config, hc = _build_request(args, ctx)
    if args.cidfile and os.path.exists(args.cidfile):
        raise InvalidArgument(f"container ID file found, make sure the other container isn't running or delete {args.cidfile}")
    c = ctx.engine.containers.create(config, hc, name=args.name, networking_config=_networking_config(args), cid=cid)
    if args.cidfile:
        with open(args.cidfile, "w") as f:
            f.write(c.id)
    return c


def setup_create(p: argparse.ArgumentParser) -> None:
    _add_create_flags(p)
    p.set_defaults(func=run_create, error_exit=125, exit_at_once=True)


def run_create(ctx, args) -> int:
    c = _create(ctx, args)
    ctx.out.write(c.id + "\n")
    return 0


def setup_run(p: argparse.ArgumentParser) -> None:
    _add_create_flags(p)
    p.add_argument("-d", "--detach", action="store_true", help="run container in background and print container ID")
    p.add_argument("--sig-proxy", default="true", choices=["true", "false"], help="proxy received signals to the process")
    p.add_argument("--detach-keys", default="ctrl-p,ctrl-q", help="override the key sequence for detaching a container")
    p.add_argument("-a", "--attach", action="append", default=[], help="attach to STDIN, STDOUT or STDERR")
    p.set_defaults(func=run_run, error_exit=125, exit_at_once=True)


def run_run(ctx, args) -> int:
    from minke.containers.spawn import spawn_early

    # The monitor boots (and warms the runtime up) while the engine is loaded, the image
    # resolved and the container created: two cores do both at once.
    early = spawn_early(ctx.config.run_root, args.runtime or ctx.config.runtime)
    try:
        svc = ctx.engine.containers
        c = _create(ctx, args, cid=early.id)
    except BaseException:
        early.abort()
        raise
    streams = {s.lower() for s in args.attach} or {"stdout", "stderr"}
    if args.interactive:
        streams.add("stdin")
    attach = None if args.detach else {"stdin": "stdin" in streams, "stdout": "stdout" in streams,
                                       "stderr": "stderr" in streams}
    sig_proxy = attach is not None and args.sig_proxy == "true" and not args.tty
    if sig_proxy:
        # From the start on, the signals go to the container: held until _pump forwards
        # them (a SIGTERM right after the container started ended this CLI instead).
        import _signal

        _signal.pthread_sigmask(_signal.SIG_BLOCK, _proxied_signals())
    try:
        session = svc.start(c.id, attach=attach, early=early)
    except BaseException:
        if sig_proxy:
            _signal.pthread_sigmask(_signal.SIG_UNBLOCK, _proxied_signals())
        if args.rm:  # --rm takes a container whose start failed along, whatever failed
            try:
                svc.remove(c.id, force=True, volumes=True)
            except MinkeError:
                pass
        raise
    if args.detach:
        ctx.out.write(c.id + "\n")
        return 0
    held = []

    def _lock_for_removal() -> bool:
        # With the lock, tell the monitor we remove the container: it leaves without
        # recording the exit (minke.containers.monitor_exit).  The connection stays open:
        # its end tells us the monitor is gone.
        try:
            held.append(svc._lock(c.id, timeout=0).acquire())
        except MinkeError:
            return False  # held by another (an `rm -f`): the monitor records, then we take turns
        session.say_removing()
        return True

    code = _pump(ctx, svc, c, session, stdin="stdin" in streams, tty=args.tty,
                 sig_proxy=sig_proxy, detach_keys=_detach_keys(args.detach_keys),
                 on_exit=_lock_for_removal if args.rm else None)
    if args.rm:
        # Docker's CLI returns once the container is gone; remove it here rather than
        # wait for the monitor to (both may try: the container's lock orders them).  The
        # monitor of an --rm container tells the exit code before it records the exit:
        # having heard it, the container has exited whatever its row says.
        if session.exit_code is not None:
            # Told REMOVING, the monitor deletes the runtime's state and the cgroups
            # meanwhile, writes the die event and leaves: the destroy event follows it.
            settle = (lambda: session.wait_closed(5.0)) if held else None
            try:
                svc.auto_remove(c.id, held=held[0] if held else None, settle=settle)
            finally:
                if held:
                    session.wait_closed(5.0)  # gone too when we return (a no-op if settled)
            return code
        now = svc.find(c.id)
        if now is not None and not now.status.is_active:
            try:
                svc.remove(c.id, force=True, volumes=True)
            except NotFound:
                pass
    return code


def _detach_keys(spec: str) -> bytes:
    out = bytearray()
    for k in spec.split(","):
        k = k.strip()
        if k.startswith("ctrl-") and len(k) == 6:
            ch = k[5]
            if ch.isalpha():
                out.append(ord(ch.lower()) - ord("a") + 1)
            else:
                out.append({"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}.get(ch, 0))
        elif len(k) == 1:
            out.append(ord(k))
        else:
            raise InvalidArgument(f"invalid detach keys ({spec}) provided")
    return bytes(out)


def _write(stream, data: bytes) -> None:
    buf = getattr(stream, "buffer", None)
    if buf is not None:
        buf.write(data)
        buf.flush()
    else:
        stream.write(data.decode(errors="replace"))
        stream.flush()


def _proxied_signals() -> tuple[int, ...]:
    import _signal

    return (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT, _signal.SIGUSR1, _signal.SIGUSR2)


def _pump(ctx, svc, c, session, *, stdin: bool, tty: bool, sig_proxy: bool, detach_keys: bytes,
          on_detach=None, eof_closes_stdin: bool = True, on_exit=None) -> int:
    """Copy the attach stream to our stdout/stderr (and our stdin to it) until the exit.

    ``on_detach()`` gives the exit code after the detach keys (default: a new line, 0, as
    ``run``); ``eof_closes_stdin``: the end of our stdin closes the container's (Docker's
    StdinOnce; ``attach`` to a ``run -di`` container leaves it open).  ``on_exit()`` is
    called when the exit code comes, before the connection closes; when it returns True
    the connection stays open, for the caller to close."""
    import _signal as signal  # without the enums of the signal module
    import select

    from minke.containers.monitor import EXIT, STDERR

    # poll, not selectors (which imports collections and more): the socket and our stdin.
    poller = select.poll()
    poller.register(session.fileno(), select.POLLIN)
    in_fd = None
    old_term = None
    if stdin:
        try:
            in_fd = sys.stdin.fileno()
            poller.register(in_fd, select.POLLIN)
        except (ValueError, OSError, AttributeError):
            in_fd = None
    if tty and in_fd is not None and os.isatty(in_fd):
        import termios
        import tty as tty_mod

        old_term = termios.tcgetattr(in_fd)
        tty_mod.setraw(in_fd)
        try:
            size = os.get_terminal_size(in_fd)
            session.resize(size.lines, size.columns)
        except OSError:
            pass

        def _winch(*_a):
            try:
                s = os.get_terminal_size(in_fd)
                session.resize(s.lines, s.columns)
            except OSError:
                pass

        signal.signal(signal.SIGWINCH, _winch)
    elif tty:
        try:
            size = os.get_terminal_size(sys.stdout.fileno())
            session.resize(size.lines, size.columns)
        except (OSError, ValueError, AttributeError):
            pass
    proxied = []
    wake_r = -1
    if sig_proxy:
        def _forward(signum, _frame):
            try:
                svc.kill(c.id, signum)
            except MinkeError:
                pass

        for s in _proxied_signals():
            proxied.append((s, signal.signal(s, _forward)))
        # A handler runs between bytecodes: a signal that comes just before poll() is
        # entered would wait for the container's next output.  The C-level handler writes
        # to the wakeup fd, which wakes the poll (and the handler then runs).
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        poller.register(wake_r, select.POLLIN)
        # What came while `run` started the container (it blocked them) is forwarded now.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _proxied_signals())
    matched = 0
    code = None
    kept = False
    try:
        sock_fd = session.fileno()
        while code is None:
            for fd, _ in poller.poll():
                if fd == wake_r:
                    os.read(wake_r, 512)  # the handlers have run (they forwarded the signals)
                    continue
                if fd == sock_fd:
                    frames = session.read_frames()
                    if frames is None:
                        code = code if code is not None else _exit_code_after(svc, c)
                        break
                    for kind, payload in frames:
                        if kind == EXIT:
                            code = session.exit_code = int(payload or b"0")
                            if on_exit is not None:
                                kept = bool(on_exit())
                        elif kind == STDERR:
                            _write(ctx.err, payload)
                        else:
                            _write(ctx.out, payload)
                else:
                    data = os.read(in_fd, 65536)  # type: ignore[arg-type]
                    if not data:
                        poller.unregister(in_fd)
                        if eof_closes_stdin:
                            session.close_stdin()
                        continue
                    if tty and detach_keys:
                        for i, b in enumerate(data):
                            matched = matched + 1 if b == detach_keys[matched] else (1 if b == detach_keys[0] else 0)
                            if matched == len(detach_keys):
                                if i + 1 > len(detach_keys):  # what was typed before the keys
                                    session.send_stdin(data[: i + 1 - len(detach_keys)])
                                session.close()
                                if old_term is not None:
                                    import termios

                                    termios.tcsetattr(in_fd, termios.TCSADRAIN, old_term)
                                    old_term = None
                                if on_detach is not None:
                                    return on_detach()
                                ctx.err.write("\r\n")
                                return 0
                    session.send_stdin(data)
    finally:
        for s, h in proxied:
            signal.signal(s, h)
        if wake_r >= 0:
            os.close(signal.set_wakeup_fd(-1))
            os.close(wake_r)
        if old_term is not None:
            import termios

            termios.tcsetattr(in_fd, termios.TCSADRAIN, old_term)
        if not kept:
            session.close()
    return code


def _exit_code_after(svc, c) -> int:
    try:
        return svc.wait(c.id)
    except NotFound:
        return 0


# --- start / stop / kill / restart / rm / wait / rename ---------------------------------------------


def setup_start(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+")
    p.add_argument("-a", "--attach", action="store_true", help="attach STDOUT/STDERR and forward signals")
    p.add_argument("-i", "--interactive", action="store_true", help="attach container's STDIN")
    p.add_argument("--detach-keys", default="ctrl-p,ctrl-q")
    p.set_defaults(func=run_start, error_exit=125)


def run_start(ctx, args) -> int:
    svc = ctx.engine.containers
    if args.attach or args.interactive:
        if len(args.containers) > 1:
            raise InvalidArgument("you cannot start and attach multiple containers at once")
        c = svc.get(args.containers[0])
        session = svc.start(c.id, attach={"stdin": args.interactive, "stdout": True, "stderr": True})
        if session is None:
            return 0
        return _pump(ctx, svc, c, session, stdin=args.interactive, tty=bool(c.config.get("Tty")),
                     sig_proxy=not c.config.get("Tty"), detach_keys=_detach_keys(args.detach_keys))
    rc = 0
    for ref in args.containers:
        try:
            svc.start(ref)
            ctx.out.write(ref + "\n")
        except MinkeError as e:
            ctx.err.write(f"Error response from daemon: {e}\n")
            rc = e.exit_code if e.exit_code != 125 else 1
    if rc:
        ctx.err.write("Error: failed to start containers: " + ", ".join(args.containers) + "\n")
    return rc


def setup_stop(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+")
    p.add_argument("-t", "--time", "--timeout", dest="time", type=int, default=None, help="seconds to wait before killing it")
    p.add_argument("-s", "--signal", default=None, help="signal to send to the container")
    p.set_defaults(func=run_stop)


def _stop_signals_first(svc, refs: list[str], timeout: int | None, signal: str | None = None) -> dict:
    """Every stop signal first (``stop_begin``): the containers' grace periods run side by
    side (Docker stops them in parallel), rather than each after the previous one has
    stopped.  ref -> what stop_finish takes, or the error to report for it."""
    begun: dict[str, object] = {}
    for ref in refs:
        try:
            begun[ref] = svc.stop_begin(ref, timeout, signal)
        except MinkeError as e:
            begun[ref] = e
    return begun


def _begun(begun: dict, ref: str):
    state = begun[ref]
    if isinstance(state, MinkeError):
        raise state
    return state


def run_stop(ctx, args) -> int:
    svc = ctx.engine.containers
    begun = _stop_signals_first(svc, args.containers, args.time, args.signal)

    def one(ref):
        svc.stop_finish(_begun(begun, ref))
        ctx.out.write(ref + "\n")

    return _each(ctx, args.containers, one)


def setup_kill(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+")
    p.add_argument("-s", "--signal", default="KILL", help="signal to send to the container")
    p.set_defaults(func=run_kill)


def run_kill(ctx, args) -> int:
    from minke.containers.options import parse_signal

    parse_signal(args.signal)
    svc = ctx.engine.containers

    def one(ref):
        svc.kill(ref, args.signal)
        ctx.out.write(ref + "\n")

    return _each(ctx, args.containers, one)


def setup_restart(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+")
    p.add_argument("-t", "--time", "--timeout", dest="time", type=int, default=None)
    p.set_defaults(func=run_restart)


def run_restart(ctx, args) -> int:
    svc = ctx.engine.containers
    begun = _stop_signals_first(svc, args.containers, args.time)

    def one(ref):
        svc.restart(ref, args.time, begun=_begun(begun, ref))
        ctx.out.write(ref + "\n")

    return _each(ctx, args.containers, one)


def setup_rm(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+")
    p.add_argument("-f", "--force", action="store_true", help="force the removal of a running container (uses SIGKILL)")
    p.add_argument("-v", "--volumes", action="store_true", help="remove anonymous volumes associated with the container")
    p.set_defaults(func=run_rm)


def run_rm(ctx, args) -> int:
    svc = ctx.engine.containers
    if args.force and len(args.containers) > 1:
        for ref in args.containers:
            svc.kill_ahead(ref)  # their monitors record the exits side by side

    def one(ref):
        svc.remove(ref, force=args.force, volumes=args.volumes)
        ctx.out.write(ref + "\n")

    return _each(ctx, args.containers, one)


def setup_wait(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+")
    p.set_defaults(func=run_wait)


def run_wait(ctx, args) -> int:
    svc = ctx.engine.containers

    def one(ref):
        ctx.out.write(f"{svc.wait(ref)}\n")
        ctx.out.flush()

    return _each(ctx, args.containers, one)


def setup_rename(p: argparse.ArgumentParser) -> None:
    p.add_argument("container")
    p.add_argument("new_name")
    p.set_defaults(func=run_rename)


def run_rename(ctx, args) -> int:
    ctx.engine.containers.rename(args.container, args.new_name)
    return 0


def setup_prune(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="provide filter values (e.g. 'until=<timestamp>')")
    p.set_defaults(func=run_prune)


def run_prune(ctx, args) -> int:
    until = None
    labels = []
    for f in args.filter:
        k, _, v = f.partition("=")
        if k == "until":
            until = _parse_time_arg(v)
        elif k == "label":
            labels.append(v)
        else:
            raise InvalidArgument(f"invalid filter '{k}'")
    if not args.force:
        ctx.out.write("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ")
        ctx.out.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            return 0
    deleted, space = ctx.engine.containers.prune(until=until, labels=labels)
    if deleted:
        ctx.out.write("Deleted Containers:\n" + "".join(d + "\n" for d in deleted) + "\n")
    ctx.out.write(f"Total reclaimed space: {_human_size(space)}\n")
    return 0


# --- ps ------------------------------------------------------------------------------------------------


def setup_ps(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="show all containers (default shows just running)")
    p.add_argument("-q", "--quiet", action="store_true", help="only display container IDs")
    p.add_argument("-n", "--last", type=int, default=-1, help="show n last created containers (includes all states)")
    p.add_argument("-l", "--latest", action="store_true", help="show the latest created container (includes all states)")
    p.add_argument("-s", "--size", action="store_true", help="display total file sizes")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("-f", "--filter", action="append", default=[], help="filter output based on conditions provided")
    p.add_argument("--format", default=None, help="format output using a Go template")
    p.set_defaults(func=run_ps)


def _status_text(c, now: float, health: str = "none") -> str:
    from minke.containers.state import Status

    st = c.status
    if st is Status.RUNNING:
        up = "Up " + _human_duration(now - (c.started_at or now))
        if health != "none":
            from minke.containers.health import status_suffix

            up += status_suffix(health)
        return up
    if st is Status.PAUSED:
        return "Up " + _human_duration(now - (c.started_at or now)) + " (Paused)"
    if st is Status.RESTARTING:
        return f"Restarting ({c.exit_code}) " + _human_duration(now - (c.finished_at or now)) + " ago"
    if st is Status.EXITED:
        if not c.finished_at:
            return "Created"
        return f"Exited ({c.exit_code}) " + _human_duration(now - c.finished_at) + " ago"
    if st is Status.REMOVING:
        return "Removing"
    if st is Status.DEAD:
        return "Dead"
    return "Created"


def _match(c, filters: dict[str, list[str]], images: Any, health=None) -> bool:
    """``health``: a function giving a container's health status (the health filter)."""
    import re

    for key, values in filters.items():
        ok = False
        for v in values:
            if key == "status":
                ok = c.status.value == v
            elif key == "name":
                try:
                    ok = re.search(v, c.name) is not None
                except re.error:
                    ok = v in c.name
            elif key == "id":
                ok = c.id.startswith(v)
            elif key == "label":
                k, eq, val = v.partition("=")
                labels = c.config.get("Labels") or {}
                ok = k in labels and (not eq or labels[k] == val)
            elif key == "exited":
                ok = c.status.value == "exited" and str(c.exit_code) == v
            elif key == "health":
                ok = health is not None and health(c) == v
            elif key == "ancestor":
                ok = c.image_ref == v or c.image_id == v or c.image_id.split(":")[-1].startswith(v)
                if not ok and images is not None:
                    try:
                        ok = images.get(v).id == c.image_id
                    except (MinkeError, AttributeError):
                        ok = False
            if ok:
                break
        if not ok:
            return False
    return True


def _ps_filters(items: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in items:
        k, eq, v = f.partition("=")
        if not eq:
            raise InvalidArgument(f"bad format of filter (expected name=value): {f}")
        if k not in ("status", "name", "label", "ancestor", "exited", "id", "health"):
            raise InvalidArgument(f"invalid filter '{k}'")
        if k == "status" and v not in ("created", "restarting", "running", "removing", "paused", "exited", "dead"):
            raise InvalidArgument(f"invalid filter 'status={v}'")
        if k == "health" and v not in ("starting", "healthy", "unhealthy", "none"):
            raise InvalidArgument(f"Unrecognised filter value for health: {v}")
        if k == "exited":
            try:
                int(v)
            except ValueError:
                raise InvalidArgument(f"invalid filter 'exited={v}'") from None
        out.setdefault(k, []).append(v)
    return out


def run_ps(ctx, args) -> int:
    svc = ctx.engine.containers
    filters = _ps_filters(args.filter)
    last = 1 if args.latest else args.last
    show_all = args.all or last > 0 or "status" in filters or "exited" in filters
    containers = svc.list(all=show_all)
    health_cache: dict[str, str] = {}

    def health(c) -> str:
        # Only a container with a Healthcheck has a state file to read.
        if c.id not in health_cache:
            if c.config.get("Healthcheck"):
                from minke.containers.health import status_of

                health_cache[c.id] = status_of(c.config, svc.container_dir(c.id))
            else:
                health_cache[c.id] = "none"
        return health_cache[c.id]

    if filters:
        images = ctx.engine.images if "ancestor" in filters else None
        containers = [c for c in containers if _match(c, filters, images, health)]
    if last > 0:
        containers = containers[:last]
    if args.quiet and not args.format:
        for c in containers:
            ctx.out.write((c.id if args.no_trunc else c.short_id) + "\n")
        return 0
    now = time.time()
    rows = []
    for c in containers:
        row = container_row(c, now, health(c), no_trunc=args.no_trunc)
        if args.size:
            row["Size"] = f"{_human_size(svc.usage(c.id))} (virtual {_human_size(_image_size(ctx, c))})"
        rows.append(row)
    from minke.cli.format import format_rows

    headers = {
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "RunningFor": "CREATED",
        "CreatedAt": "CREATED AT", "Status": "STATUS", "State": "STATE", "Ports": "PORTS",
        "Names": "NAMES", "Size": "SIZE", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS",
    }
    columns = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"] + (["Size"] if args.size else [])
    fmt = args.format
    if fmt:
        # Docker's CLI reads \t and \n in a format as tab and newline.
        fmt = fmt.replace("\\t", "\t").replace("\\n", "\n")
    ctx.out.write(format_rows(fmt, rows, columns, headers))
    return 0


def container_row(c, now: float, health: str = "none", *, no_trunc: bool = False) -> dict[str, str]:
    """A container's row as ``ps`` shows it (and ``system df -v``): Docker's field names,
    its command quoted and cut to 20 characters unless ``no_trunc``."""
    cmd = " ".join(c.command)
    if not no_trunc and len(cmd) > 20:
        cmd = cmd[:19] + "…"
    return {
        "ID": c.id if no_trunc else c.short_id,
        "Image": c.image_ref,
        "Command": fastjson.dumps(cmd, ensure_ascii=False),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(c.created)),
        "RunningFor": _human_duration(now - c.created) + " ago",
        "Status": _status_text(c, now, health),
        "State": c.status.value,
        "Ports": "",
        "Names": c.name,
        "Labels": ",".join(f"{k}={v}" for k, v in (c.config.get("Labels") or {}).items()),
        "Size": "",
        "Mounts": ",".join(m.get("Source", "") for m in c.host_config.get("Mounts") or []),
        "Networks": "",
    }


def _image_size(ctx, c) -> int:
    try:
        row = ctx.engine.db.query_one("SELECT size FROM images WHERE id = ?", (c.image_id,))
        return int(row["size"]) if row else 0
    except Exception:
        return 0


# --- logs ---------------------------------------------------------------------------------------------


def setup_logs(p: argparse.ArgumentParser) -> None:
    p.add_argument("container")
    p.add_argument("-f", "--follow", action="store_true", help="follow log output")
    p.add_argument("-n", "--tail", default="all", help="number of lines to show from the end of the logs")
    p.add_argument("--since", default=None, help="show logs since timestamp or relative (e.g. 42m)")
    p.add_argument("--until", default=None, help="show logs before a timestamp or relative (e.g. 42m)")
    p.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
    p.add_argument("--details", action="store_true", help="show extra details provided to logs")
    p.set_defaults(func=run_logs)


def run_logs(ctx, args) -> int:
    tail = None
    if args.tail != "all":
        try:
            tail = int(args.tail)
        except ValueError:
            raise InvalidArgument(f'invalid value for "tail": {args.tail!r}') from None
        if tail < 0:
            tail = None
    since = _parse_time_arg(args.since)
    until = _parse_time_arg(args.until)
    for stream, text, ts in ctx.engine.containers.logs(args.container, since=since, until=until, tail=tail, follow=args.follow):
        line = f"{ts} {text}" if args.timestamps else text
        target = ctx.err if stream == "stderr" else ctx.out
        _write(target, line.encode()) if args.follow else target.write(line)
    return 0


# --- inspect -------------------------------------------------------------------------------------------


def setup_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+")
    p.add_argument("-f", "--format", default=None, help="format output using a Go template")
    p.add_argument("-s", "--size", action="store_true", help="display total file sizes")
    p.set_defaults(func=run_inspect)


def run_inspect(ctx, args) -> int:
    svc = ctx.engine.containers
    results = []
    rc = 0
    for ref in args.containers:
        try:
            d = svc.inspect(ref)
            if args.size:
                d["SizeRw"] = svc.usage(d["Id"])
            results.append(d)
        except MinkeError as e:
            ctx.err.write(f"Error: {e}\n")
            rc = 1
    if args.format:
        for d in results:
            ctx.out.write(_render(args.format, d) + "\n")
    else:
        ctx.out.write(fastjson.dumps(results, indent=4) + "\n")
    return rc
