"""Docker's healthchecks: the config, the probe the container's monitor runs, the state.

**Config.**  ``Config.Healthcheck`` is Docker's ``{"Test", "Interval", "Timeout",
"StartPeriod", "StartInterval", "Retries"}`` (durations in nanoseconds, zero fields left
out).  The image's HEALTHCHECK is merged under the one given to create field by field,
as dockerd's ``merge`` does; the ``--health-*`` flags make the given one as Docker's CLI
does (``--health-cmd X`` is ``["CMD-SHELL", X]``; ``--no-healthcheck`` is ``["NONE"]``).
Test ``["NONE"]`` (or none at all) means no probe; ``["CMD", argv...]`` runs argv,
``["CMD-SHELL", script]`` runs ``/bin/sh -c script``.

**Probe.**  The container's monitor runs it (``Prober``), on a timer in its event loop:
the first check one interval after the start (the start interval while in the start
period and still ``starting``), the next one interval after the end of the last.  Each
check is the runtime's ``exec --detach --pid-file`` with the check's argv, which takes
the container's own process (user, working dir, env, capabilities, seccomp) and joins its
namespaces and cgroup, as ``minke exec`` does.  ``--detach`` returns once the process
runs, so the timeout counts from there (Docker leaves the exec's start-up out of it too),
and the process, re-parented to the monitor (a subreaper), reports its exit status to the
monitor's own ``waitpid``.  A check over its timeout is SIGKILLed and recorded as exit -1
"Health check exceeded timeout (D)"; a check the runtime could not start is exit -1 with
the runtime's message.  No check runs while the container is paused (its freezer cgroup
is frozen), as dockerd stops probing a paused container.

**State.**  ``starting`` at every start (the failing streak back to 0, the log kept);
exit 0 makes it ``healthy`` and resets the streak; any other result adds to the streak,
unless the container is still ``starting`` within its start period, and ``unhealthy``
comes once the streak reaches Retries (default 3).  The log keeps the last 5 results
(Start, End, ExitCode, Output cut to 4096 bytes plus "..."), as dockerd's does.

**Where it is kept.**  ``health.json`` in the container's directory, replaced atomically
(write + rename) by the monitor after each check, read by ``inspect`` (``State.Health``)
and ``ps`` (the STATUS suffix, ``--filter health=``) without the monitor.  Not a database
column: the monitor keeps sqlite3 out of its memory while the container runs, and a
check every second per container would be a write transaction contending with every CLI
call.  The file outlives the container's run (Docker keeps the last health of a stopped
container) and goes with the container's directory on ``rm``.  It is written one log
entry per line, so a new monitor can carry the log over by lines without a JSON parser.

This module is imported by the monitor (only for a container with a healthcheck): its
top level imports posix and time alone; what only the CLI needs imports inside functions.
"""

# Neither os nor `from __future__ import annotations`: the monitor of a container with a
# healthcheck imports this module, and each would stay in its memory while it runs (os
# with posixpath, stat and _collections_abc is ~0.27 MiB).
import posix
import time

from minke.containers.logs import json_string, rfc3339nano

SECOND = 1_000_000_000
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_START_PERIOD = 0
DEFAULT_START_INTERVAL = 5 * SECOND
DEFAULT_RETRIES = 3
MIN_DURATION = 1_000_000  # dockerd: containertypes.MinimumDuration, 1ms
MAX_LOG = 5
MAX_OUTPUT = 4096
EXEC_START_TIMEOUT = 30 * SECOND  # dockerd gives a wedged exec start 30s


def _join(directory: str, name: str) -> str:
    return directory + name if directory.endswith("/") else directory + "/" + name
STATE_FILE = "health.json"

STARTING, HEALTHY, UNHEALTHY, NONE = "starting", "healthy", "unhealthy", "none"
_FIELDS = ("Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries")


# --- durations (Go's time.ParseDuration and Duration.String) ------------------------------

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": SECOND,
          "m": 60 * SECOND, "h": 3600 * SECOND}


def parse_duration(text: str) -> int:
    """Go's ``time.ParseDuration`` (``500ms``, ``1m30s``, ``-2s``, ``1.5h``) in
    nanoseconds; InvalidArgument with Go's message otherwise."""
    from minke.errors import InvalidArgument

    s = text
    neg = False
    if s[:1] in ("-", "+"):
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise InvalidArgument(f'time: invalid duration "{text}"')
    total = 0
    while s:
        i = 0
        while i < len(s) and s[i].isdigit():
            i += 1
        whole, s = s[:i], s[i:]
        frac = ""
        if s[:1] == ".":
            j = 1
            while j < len(s) and s[j].isdigit():
                j += 1
            frac, s = s[1:j], s[j:]
        if not whole and not frac:
            raise InvalidArgument(f'time: invalid duration "{text}"')
        j = 0
        while j < len(s) and s[j] != "." and not s[j].isdigit():
            j += 1
        unit, s = s[:j], s[j:]
        if not unit:
            raise InvalidArgument(f'time: missing unit in duration "{text}"')
        if unit not in _UNITS:
            raise InvalidArgument(f'time: unknown unit "{unit}" in duration "{text}"')
        scale = _UNITS[unit]
        total += int(whole or 0) * scale + (int(frac) * scale // 10 ** len(frac) if frac else 0)
    return -total if neg else total


def _frac(value: int, unit: int) -> str:
    whole, rest = divmod(value, unit)
    if not rest:
        return str(whole)
    digits = str(rest).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def format_duration(ns: int) -> str:
    """Go's ``Duration.String``: ``500ms``, ``1.5s``, ``1m30s``, ``1h0m0s``, ``0s``."""
    if ns == 0:
        return "0s"
    sign, u = ("-", -ns) if ns < 0 else ("", ns)
    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{_frac(u, 1_000)}µs"
    if u < SECOND:
        return f"{sign}{_frac(u, 1_000_000)}ms"
    hours, rest = divmod(u, 3600 * SECOND)
    minutes, rest = divmod(rest, 60 * SECOND)
    out = f"{hours}h" if hours else ""
    if hours or minutes:
        out += f"{minutes}m"
    return f"{sign}{out}{_frac(rest, SECOND)}s"


# --- config ---------------------------------------------------------------------------------


def from_flags(cmd: str | None = None, interval: str | None = None, timeout: str | None = None,
               retries: int | None = None, start_period: str | None = None,
               start_interval: str | None = None, no_healthcheck: bool = False) -> dict | None:
    """Docker CLI's Healthcheck from ``--health-*`` / ``--no-healthcheck``; None when no
    flag was given (the image's HEALTHCHECK then applies as it is)."""
    from minke.errors import InvalidArgument

    def duration(flag: str, value: str | None) -> int:
        if value is None:
            return 0
        try:
            return parse_duration(value.strip())
        except InvalidArgument as e:
            raise InvalidArgument(f'invalid argument "{value}" for "--{flag}" flag: {e}') from None

    ns = {
        "Interval": duration("health-interval", interval),
        "Timeout": duration("health-timeout", timeout),
        "StartPeriod": duration("health-start-period", start_period),
        "StartInterval": duration("health-start-interval", start_interval),
    }
    retries = int(retries or 0)
    have = bool(cmd) or retries != 0 or any(ns.values())
    if no_healthcheck:
        if have:
            raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not have:
        return None
    for key, flag in (("Interval", "health-interval"), ("Timeout", "health-timeout")):
        if ns[key] < 0:
            raise InvalidArgument(f"--{flag} cannot be negative")
    if retries < 0:
        raise InvalidArgument("--health-retries cannot be negative")
    for key, flag in (("StartPeriod", "health-start-period"), ("StartInterval", "health-start-interval")):
        if ns[key] < 0:
            raise InvalidArgument(f"--{flag} cannot be negative")
    out: dict = {"Test": ["CMD-SHELL", cmd] if cmd else None, **ns, "Retries": retries}
    return _compact(out)


def _compact(h: dict) -> dict:
    """Docker's JSON for a HealthConfig: every field is omitempty."""
    return {k: h[k] for k in _FIELDS if h.get(k)}


def validate(h: dict | None) -> None:
    """dockerd's checks on a create's Healthcheck (daemon/container.go validateHealthCheck)."""
    from minke.errors import InvalidArgument

    if not h:
        return
    test = h.get("Test")
    if test is not None and (not isinstance(test, list) or not all(isinstance(t, str) for t in test)):
        raise InvalidArgument("invalid Healthcheck: Test must be a list of strings")
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        v = h.get(key) or 0
        if not isinstance(v, int):
            raise InvalidArgument(f"invalid Healthcheck: {key} must be an integer number of nanoseconds")
        if v != 0 and v < MIN_DURATION:
            raise InvalidArgument(f"{key} in Healthcheck cannot be less than {format_duration(MIN_DURATION)}")
    if not isinstance(h.get("Retries") or 0, int):
        raise InvalidArgument("invalid Healthcheck: Retries must be an integer")
    if (h.get("Retries") or 0) < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")


def merge(user: dict | None, image: dict | None) -> dict | None:
    """dockerd's merge of the create's Healthcheck over the image's: the image's whole
    when none was given, else each empty field of the given one from the image's."""
    if not image:
        return _compact(user) if user else None
    if not user:
        return _compact(image)
    out = dict(user)
    for key in _FIELDS:
        if not out.get(key):
            out[key] = image.get(key)
    return _compact(out)


def for_container(config: dict, given: dict | None, image: dict | None) -> dict:
    """The container's Config with the merged Healthcheck placed after Cmd, where
    Docker's Config has it (left out when neither gave one); ``given`` is checked first."""
    validate(given)
    merged = merge(given, image)
    out = {}
    for k, v in config.items():
        if k != "Healthcheck":
            out[k] = v
        if k == "Cmd" and merged is not None:
            out["Healthcheck"] = merged
    if merged is not None and "Healthcheck" not in out:
        out["Healthcheck"] = merged
    return out


def probe_argv(h: dict | None, shell: list[str] | None = None) -> list[str] | None:
    """The check's command line, or None when there is no probe (no Test, NONE, or a kind
    dockerd does not know, which it ignores with a warning)."""
    test = list((h or {}).get("Test") or [])
    if not test or test[0] not in ("CMD", "CMD-SHELL") or len(test) < 2:
        return None
    if test[0] == "CMD":
        return test[1:]
    return list(shell or ["/bin/sh", "-c"]) + test[1:]


# --- what the monitor is given --------------------------------------------------------------


def _encode(items: list[str]) -> str:
    # Settings are key=value lines with lists split at 0x1f: escape both (and %).
    return "\x1f".join(i.replace("%", "%25").replace("\n", "%0A").replace("\x1f", "%1F") for i in items)


def _decode(text: str) -> list[str]:
    return [i.replace("%1F", "\x1f").replace("%0A", "\n").replace("%25", "%") for i in text.split("\x1f")]


def monitor_settings(config: dict, container_dir: str) -> dict:
    """The monitor's ``health_*`` settings for a container; empty when it has no probe."""
    h = config.get("Healthcheck")
    argv = probe_argv(h, config.get("Shell"))
    if argv is None:
        return {}
    return {
        "health_argv": _encode(argv),
        "health_interval": h.get("Interval") or DEFAULT_INTERVAL,
        "health_timeout": h.get("Timeout") or DEFAULT_TIMEOUT,
        "health_start_period": h.get("StartPeriod") or DEFAULT_START_PERIOD,
        "health_start_interval": h.get("StartInterval") or DEFAULT_START_INTERVAL,
        "health_retries": h.get("Retries") if (h.get("Retries") or 0) > 0 else DEFAULT_RETRIES,
        "health_state": _join(container_dir, STATE_FILE),
    }


# --- reading the state (inspect, ps) -----------------------------------------------------------


def read_state(container_dir: str) -> dict | None:
    """``{"Status", "FailingStreak", "Log"}`` as the monitor last wrote it, or None."""
    import json

    try:
        with open(_join(container_dir, STATE_FILE), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "Status" in data else None


def inspect_state(config: dict, container_dir: str) -> dict:
    """``{"Health": ...}`` for inspect's State, or ``{}`` (Docker omits a nil Health: a
    container without a probe, or one never started)."""
    if probe_argv(config.get("Healthcheck")) is None:
        return {}
    st = read_state(container_dir)
    return {"Health": st} if st is not None else {}


def status_of(config: dict, container_dir: str) -> str:
    """starting | healthy | unhealthy, or none (no probe, or not started yet)."""
    if probe_argv(config.get("Healthcheck")) is None:
        return NONE
    st = read_state(container_dir)
    return str(st["Status"]) if st else NONE


def status_suffix(status: str) -> str:
    """What ``ps`` puts after "Up 5 seconds": `` (healthy)``, `` (health: starting)``."""
    if status == NONE:
        return ""
    return " (health: starting)" if status == STARTING else f" ({status})"


# --- the state machine ------------------------------------------------------------------------


def result_json(start_ns: int, end_ns: int, exit_code: int, output: str) -> str:
    """One log entry, as dockerd's HealthcheckResult serialises."""
    return (f'{{"Start": {json_string(rfc3339nano(start_ns))}, "End": {json_string(rfc3339nano(end_ns))}, '
            f'"ExitCode": {int(exit_code)}, "Output": {json_string(output)}}}')


class HealthState:
    """Status, failing streak and log of one run of a container (dockerd's
    handleProbeResult).  ``started_ns`` is the container's start (wall clock)."""

    def __init__(self, retries: int, start_period_ns: int, started_ns: int, log: list[str] | None = None) -> None:
        self.retries = retries if retries > 0 else DEFAULT_RETRIES
        self.start_period_ns = start_period_ns
        self.started_ns = started_ns
        self.status = STARTING
        self.failing_streak = 0
        self.log: list[str] = list(log or [])[-MAX_LOG:]

    def record(self, start_ns: int, end_ns: int, exit_code: int, output: str) -> bool:
        """Add one result; True when the status changed."""
        old = self.status
        self.log = (self.log + [result_json(start_ns, end_ns, exit_code, output)])[-MAX_LOG:]
        if exit_code == 0:
            self.failing_streak = 0
            self.status = HEALTHY
        elif not (self.status == STARTING and start_ns - self.started_ns < self.start_period_ns):
            # A failure in the start period, before any success, does not count.
            self.failing_streak += 1
            if self.failing_streak >= self.retries:
                self.status = UNHEALTHY
        return self.status != old

    def to_json(self) -> str:
        """Valid JSON with one log entry per line (what ``log_from_file`` reads back)."""
        entries = ",\n".join(self.log)
        return (f'{{"Status": {json_string(self.status)}, "FailingStreak": {self.failing_streak}, "Log": [\n'
                + (entries + "\n" if entries else "") + "]}\n")

    def write(self, path: str) -> None:
        """Atomically; nothing when the container's directory is gone (removed)."""
        tmp = path + ".tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(self.to_json())
            posix.replace(tmp, path)
        except OSError:
            pass


def log_from_file(path: str) -> list[str]:
    """The log entries of a state file written by ``HealthState.to_json`` (carried over to
    the next start, as Docker keeps the log); [] when absent or not of that shape."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, ValueError):
        return []
    if len(lines) < 2 or not lines[0].startswith('{"Status"') or lines[-1] != "]}":
        return []
    out = []
    for line in lines[1:-1]:
        line = line.rstrip(",")
        if not (line.startswith('{"Start"') and line.endswith("}")):
            return []
        out.append(line)
    return out[-MAX_LOG:]


def next_interval_ns(state: HealthState, now_ns: int, interval: int, start_interval: int) -> int:
    """dockerd's wait before the next check: the start interval while in the start period
    and still starting, else the interval."""
    if now_ns - state.started_ns >= state.start_period_ns:
        return interval
    return start_interval if state.status == STARTING else interval


# --- the probe in the monitor ---------------------------------------------------------------------


class _Output:
    """The first MAX_OUTPUT bytes of a check's stdout and stderr (one pipe)."""

    def __init__(self) -> None:
        self.data = b""
        self.truncated = False

    def add(self, b: bytes) -> None:
        room = MAX_OUTPUT - len(self.data)
        if room > 0:
            self.data += b[:room]
        if len(b) > room:
            self.truncated = True

    def text(self) -> str:
        return self.data.decode("utf-8", "replace") + ("..." if self.truncated else "")


def _runtime_message(text: str) -> str:
    """The runtime's complaint (its last line; runc's ``msg="..."`` part) in the words
    dockerd records for an exec that could not start, whichever runtime said it."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    msg = lines[-1] if lines else ""
    if 'msg="' in msg:
        msg = msg.split('msg="', 1)[1].rsplit('"', 1)[0].replace('\\"', '"')
    if not msg:
        return ""
    msg = msg.removeprefix("minke-runtime: ")
    if not msg.startswith("exec failed:"):
        msg = "exec failed: unable to start container process: " + msg
    return f"OCI runtime exec failed: {msg}: unknown"


def frozen(cgroup_path: str) -> bool:
    """Whether the container is paused: its freezer cgroup (v1) or cgroup.freeze (v2)."""
    rel = cgroup_path.strip("/")
    if not rel:
        return False
    for path, want in ((f"/sys/fs/cgroup/freezer/{rel}/freezer.state", ("FROZEN", "FREEZING")),
                       (f"/sys/fs/cgroup/{rel}/cgroup.freeze", ("1",))):
        try:
            with open(path) as f:
                return f.read().strip() in want
        except OSError:
            continue
    return False


def spawn_runtime(cfg: dict, args: list[str], out_fd: int) -> int:
    """Start ``RUNTIME ARGS`` with stdout and stderr on ``out_fd``; its pid.  Forked, not
    posix_spawn: the child closes every other fd first (a terminal's master the monitor
    holds must not leak into a check that outlives it).  The built-in runtime runs in the
    fork itself (no interpreter start-up per check); others are exec'd."""
    import _signal

    root = cfg.get("runtime_builtin")
    argv = list(cfg["runtime_argv"]) + list(args)
    pid = posix.fork()
    if pid:
        return pid
    code = 127  # pragma: no cover - child
    try:
        for sig in (_signal.SIGCHLD, _signal.SIGPIPE, _signal.SIGINT, _signal.SIGHUP):
            _signal.signal(sig, _signal.SIG_DFL)
        null = posix.open("/dev/null", posix.O_RDONLY)
        posix.dup2(null, 0)
        posix.dup2(out_fd, 1)
        posix.dup2(out_fd, 2)
        posix.closerange(3, 1 << 16)
        if root:
            import sys

            sys.argv[0] = "minke-runtime"
            from minke.runtime.cli import main as runtime_main

            code = runtime_main(["--root", root, *args])
        else:
            posix.execve(argv[0], argv, posix.environ)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: B036 - nothing may return into the monitor's code
        code = 127
    finally:
        try:
            import sys

            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            posix._exit(code)


class Prober:
    """The healthcheck of one run of a container, driven by the monitor's loop:

    - ``timeout()``: seconds until the prober needs ``tick()`` (None: never);
    - ``tick()``: start a due check, kill one over its time;
    - ``output(fd)``: the check's output pipe is readable (registered as "health");
    - ``child_exited(pid, status)``: a child the monitor reaped that is not the init;
    - ``stop()``: the container exited; end a check under way.

    ``launch(args, out_fd) -> pid``, ``kill(pid)``, ``paused()``, ``clock()`` (monotonic
    seconds) and ``wall_ns()`` are seams for tests; by default the runtime, SIGKILL, the
    container's freezer and the clocks.

    A status change is recorded as Docker's ``health_status: STATUS`` event when the
    monitor records events (its settings carry ``events_attributes``)."""

    def __init__(self, cfg: dict, sel, *, launch=None, kill=None, paused=None, clock=time.monotonic,
                 wall_ns=time.time_ns) -> None:
        self.cfg = cfg
        self.sel = sel
        self.id = cfg["id"]
        self.argv = _decode(cfg["health_argv"])
        self.interval = int(cfg["health_interval"])
        self.check_timeout = int(cfg["health_timeout"])
        self.start_interval = int(cfg["health_start_interval"])
        self.path = cfg["health_state"]
        self.pid_file = _join(cfg["bundle"], "health.pid")
        self._launch = launch or (lambda args, fd: spawn_runtime(cfg, args, fd))
        self._kill = kill or _sigkill
        self._paused = paused or (lambda: frozen(cfg.get("cgroup_path", "")))
        self.clock = clock
        self.wall_ns = wall_ns
        self.state = HealthState(int(cfg["health_retries"]), int(cfg["health_start_period"]), wall_ns(),
                                 log_from_file(self.path))
        self.state.write(self.path)
        self.next_at: float | None = clock() + self._wait() / 1e9
        self._reset_check()

    def _reset_check(self) -> None:
        self.runtime_pid = 0  # the runtime's exec, until it returns
        self.target = 0  # the check's process
        self.phase = ""  # "" idle, "exec" starting, "run" running, "killed" over time
        self.cancelled = False  # killed because paused: no result
        self.deadline = 0.0
        self.out_r: int | None = None
        self.out = _Output()
        self.started_ns = 0
        self.exited: dict[int, int] = {}  # statuses reaped before we knew whose

    def _wait(self) -> int:
        return next_interval_ns(self.state, self.wall_ns(), self.interval, self.start_interval)

    # --- the monitor's calls ----------------------------------------------------------------------
    def timeout(self) -> float | None:
        at = self.deadline if self.phase else self.next_at
        return None if at is None else max(0.0, at - self.clock())

    def tick(self) -> None:
        now = self.clock()
        if self.phase == "" and self.next_at is not None and now >= self.next_at:
            if self._paused():
                self.next_at = now + self.interval / 1e9  # paused: no check
            else:
                self._start()
        elif self.phase in ("run", "exec") and now >= self.deadline:
            # Over time: SIGKILL; its exit status comes through child_exited.  A check
            # the container's pause froze is cancelled instead, as dockerd cancels the
            # probe under way at a pause: no result.
            over = self.phase
            self.phase = "killed"
            self.cancelled = self._paused()
            self.deadline = now + 0.5
            if over == "exec":
                self._kill(self.runtime_pid)
                self.target = _read_pid(self.pid_file)
            if self.target:
                self._kill(self.target)
        elif self.phase == "killed" and now >= self.deadline:
            # Normally the exit came through child_exited by now; a process that is not
            # our child (a runtime that re-parents it elsewhere) is polled for instead.
            self.deadline = now + 0.5
            if self.runtime_pid == 0 and self.target and not _exists(self.target):
                self._finish(-1)

    def output(self, fd: int) -> None:
        try:
            b = posix.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            b = b""
        if b:
            self.out.add(b)
        else:
            self._close_output()

    def child_exited(self, pid: int, status: int) -> None:
        if self.phase == "":
            return
        if pid == self.runtime_pid:
            self.runtime_pid = 0
            self._runtime_done(status)
        elif pid == self.target:
            self._finish(_exit_code(status))
        else:
            self.exited[pid] = status

    def stop(self) -> None:
        """The container is gone (and every process of its pid namespace with it)."""
        self.next_at = None
        for pid in (self.runtime_pid, self.target):
            if pid:
                self._kill(pid)
                _wait_briefly(pid)
        self._close_output()
        self._reset_check()

    # --- one check ----------------------------------------------------------------------------------
    def _start(self) -> None:
        self._reset_check()
        try:
            posix.unlink(self.pid_file)
        except FileNotFoundError:
            pass
        r, w = posix.pipe2(posix.O_CLOEXEC)
        self.started_ns = self.wall_ns()
        try:
            self.runtime_pid = self._launch(["exec", "--detach", "--pid-file", self.pid_file, self.id, *self.argv], w)
        except OSError as e:
            posix.close(r)
            posix.close(w)
            self._record(-1, f"health check could not start the runtime: {e}")
            return
        posix.close(w)
        posix.set_blocking(r, False)
        self.out_r = r
        self.sel.register(r, "health")
        self.phase = "exec"
        self.deadline = self.clock() + EXEC_START_TIMEOUT / 1e9

    def _runtime_done(self, status: int) -> None:
        if self.phase == "killed":
            self._finish(-1, f"timed out starting health check for container {self.id}")
            return
        code = _exit_code(status)
        if code != 0:
            self._drain()
            msg = _runtime_message(self.out.data.decode("utf-8", "replace"))
            self._finish(-1, msg or f"health check: runtime exec exited with {code}")
            return
        self.target = _read_pid(self.pid_file)
        if not self.target:
            self._finish(-1, "health check: the runtime wrote no pid for the check")
            return
        if self.target in self.exited:
            self._finish(_exit_code(self.exited.pop(self.target)))
            return
        self.phase = "run"
        self.deadline = self.clock() + self.check_timeout / 1e9

    def _finish(self, code: int, message: str | None = None) -> None:
        killed = self.phase == "killed" and message is None
        self._drain()
        self._close_output()
        if self.cancelled:
            self._reset_check()
            self.next_at = self.clock() + self.interval / 1e9
            return
        if message is not None:
            output = message
        elif killed:
            out = self.out.text()
            d = format_duration(self.check_timeout)
            output = f"Health check exceeded timeout ({d}): {out}" if out else f"Health check exceeded timeout ({d})"
            code = -1
        else:
            output = self.out.text()
        self._record(code, output)

    def _record(self, code: int, output: str) -> None:
        changed = self.state.record(self.started_ns, self.wall_ns(), code, output)
        self.state.write(self.path)
        if changed and "events_attributes" in self.cfg:
            from minke.events import record_monitor

            record_monitor(self.cfg, f"health_status: {self.state.status}")
        try:
            posix.unlink(self.pid_file)
        except OSError:
            pass
        self._reset_check()
        self.next_at = self.clock() + self._wait() / 1e9

    def _drain(self) -> None:
        """What the pipe holds now; a process the check left behind may keep it open."""
        while self.out_r is not None:
            try:
                b = posix.read(self.out_r, 65536)
            except (BlockingIOError, OSError):
                return
            if not b:
                self._close_output()
                return
            self.out.add(b)

    def _close_output(self) -> None:
        if self.out_r is not None:
            self.sel.unregister(self.out_r)
            posix.close(self.out_r)
            self.out_r = None


def _exit_code(status: int) -> int:
    code = posix.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _read_pid(path: str) -> int:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 0


def _exists(pid: int) -> bool:
    try:
        posix.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _sigkill(pid: int) -> None:
    if pid > 0:
        try:
            posix.kill(pid, 9)  # SIGKILL, as containerd kills a cancelled exec
        except ProcessLookupError:
            pass


def _wait_briefly(pid: int, seconds: float = 2.0) -> None:
    """Reap a killed child so that it is nobody's zombie; give up after ``seconds``."""
    end = time.monotonic() + seconds
    while True:
        try:
            got, _ = posix.waitpid(pid, posix.WNOHANG)
        except ChildProcessError:
            return
        if got or time.monotonic() > end:
            return
        time.sleep(0.01)
