"""Healthchecks without a kernel: durations, the flag and image merge, the state machine,
the state file, and the monitor's Prober driven with a fake runtime, clock and poller."""

from __future__ import annotations

import json
import os

import pytest

from minke.containers import health as h
from minke.errors import InvalidArgument

S = h.SECOND
MS = 1_000_000


# --- durations --------------------------------------------------------------------------------


@pytest.mark.parametrize("text,ns", [
    ("0", 0), ("500ms", 500 * MS), ("1s", S), ("1m30s", 90 * S), ("1.5h", 5400 * S), ("-2s", -2 * S),
    ("+3s", 3 * S), ("1h2m3s4ms5us6ns", 3723 * S + 4 * MS + 5_006), ("2µs", 2000), (".5s", S // 2),
    ("1.s", S), ("10us", 10_000),
])
def test_parse_duration_takes_go_durations(text, ns):
    assert h.parse_duration(text) == ns


@pytest.mark.parametrize("text,msg", [
    ("", 'time: invalid duration ""'), ("abc", 'time: invalid duration "abc"'),
    ("1", 'time: missing unit in duration "1"'), ("5x", 'time: unknown unit "x" in duration "5x"'),
    ("1s2", 'time: missing unit in duration "1s2"'), (".s", 'time: invalid duration ".s"'),
    ("-", 'time: invalid duration "-"'),
])
def test_parse_duration_rejects_what_go_rejects(text, msg):
    with pytest.raises(InvalidArgument) as e:
        h.parse_duration(text)
    assert str(e.value) == msg


@pytest.mark.parametrize("ns,text", [
    (0, "0s"), (1, "1ns"), (1500, "1.5µs"), (MS, "1ms"), (500 * MS, "500ms"), (1500 * MS // 1000, "1.5ms"),
    (S, "1s"), (1500 * MS, "1.5s"), (90 * S, "1m30s"), (3600 * S, "1h0m0s"), (-2 * S, "-2s"), (30 * S, "30s"),
])
def test_format_duration_is_gos(ns, text):
    assert h.format_duration(ns) == text


# --- config -------------------------------------------------------------------------------------


def test_from_flags_builds_dockers_healthcheck():
    assert h.from_flags() is None
    assert h.from_flags("test -e /tmp/ok", "1s", None, 1) == {"Test": ["CMD-SHELL", "test -e /tmp/ok"], "Interval": S, "Retries": 1}
    assert h.from_flags(interval="500ms", timeout="1m30s", start_period="2s", start_interval="100ms") == {
        "Interval": 500 * MS, "Timeout": 90 * S, "StartPeriod": 2 * S, "StartInterval": 100 * MS}
    assert h.from_flags(no_healthcheck=True) == {"Test": ["NONE"]}
    # zero values are "not given", as Docker's CLI counts them
    assert h.from_flags(interval="0s", retries=0) is None


def test_from_flags_errors_in_dockers_words():
    with pytest.raises(InvalidArgument, match="--no-healthcheck conflicts with --health-\\* options"):
        h.from_flags("true", no_healthcheck=True)
    with pytest.raises(InvalidArgument) as e:
        h.from_flags(interval="1x")
    assert str(e.value) == 'invalid argument "1x" for "--health-interval" flag: time: unknown unit "x" in duration "1x"'
    for kw, flag in (({"interval": "-1s"}, "health-interval"), ({"timeout": "-1s"}, "health-timeout"),
                     ({"retries": -1}, "health-retries"), ({"start_period": "-1s"}, "health-start-period"),
                     ({"start_interval": "-1s"}, "health-start-interval")):
        with pytest.raises(InvalidArgument) as e:
            h.from_flags(**kw)
        assert str(e.value) == f"--{flag} cannot be negative"


def test_validate_is_dockerds_check():
    h.validate(None)
    h.validate({"Test": ["CMD", "true"], "Interval": MS, "Timeout": S, "Retries": 0})
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        with pytest.raises(InvalidArgument) as e:
            h.validate({key: 500_000})
        assert str(e.value) == f"{key} in Healthcheck cannot be less than 1ms"
    with pytest.raises(InvalidArgument, match="Retries in Healthcheck cannot be negative"):
        h.validate({"Retries": -1})
    with pytest.raises(InvalidArgument, match="Test must be a list of strings"):
        h.validate({"Test": "true"})


def test_merge_fills_each_empty_field_from_the_image():
    image = {"Test": ["CMD", "check"], "Interval": 5 * S, "Timeout": 3 * S, "StartPeriod": S,
             "StartInterval": 2 * S, "Retries": 4}
    assert h.merge(None, None) is None
    assert h.merge(None, image) == image
    assert h.merge({"Test": ["CMD-SHELL", "x"]}, None) == {"Test": ["CMD-SHELL", "x"]}
    assert h.merge({"Interval": S, "Retries": 1}, image) == {**image, "Interval": S, "Retries": 1}
    assert h.merge({"Test": ["CMD-SHELL", "y"], "Timeout": 0}, image) == {**image, "Test": ["CMD-SHELL", "y"]}
    # --no-healthcheck keeps its NONE; the image's other fields come along, as in dockerd
    assert h.merge({"Test": ["NONE"]}, image)["Test"] == ["NONE"]
    # zero fields are left out (omitempty)
    assert h.merge(None, {"Test": ["CMD", "c"], "Interval": 0, "Retries": 0}) == {"Test": ["CMD", "c"]}


def test_for_container_places_healthcheck_after_cmd_and_checks_the_given():
    cfg = {"Env": [], "Cmd": ["sleep"], "Image": "busybox"}
    out = h.for_container(cfg, {"Interval": S}, {"Test": ["CMD", "true"]})
    assert list(out) == ["Env", "Cmd", "Healthcheck", "Image"]
    assert out["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": S}
    assert h.for_container(cfg, None, None) == cfg
    with pytest.raises(InvalidArgument):
        h.for_container(cfg, {"Interval": 1}, None)


def test_probe_argv():
    assert h.probe_argv({"Test": ["CMD", "curl", "-f", "x"]}) == ["curl", "-f", "x"]
    assert h.probe_argv({"Test": ["CMD-SHELL", "a && b"]}) == ["/bin/sh", "-c", "a && b"]
    assert h.probe_argv({"Test": ["CMD-SHELL", "a"]}, ["/bin/bash", "-ec"]) == ["/bin/bash", "-ec", "a"]
    for test in (["NONE"], [], None, ["CMD"], ["BOGUS", "x"]):
        assert h.probe_argv({"Test": test}) is None
    assert h.probe_argv(None) is None


def test_monitor_settings_survive_the_settings_file(tmp_path):
    from minke.containers.monitor import dump_settings, load_settings

    script = "printf 'a\\nb' | grep -q %s\x1f"
    cfg = {"Healthcheck": {"Test": ["CMD-SHELL", script], "Retries": 0}}
    st = h.monitor_settings(cfg, str(tmp_path))
    assert st["health_interval"] == 30 * S and st["health_timeout"] == 30 * S
    assert st["health_start_interval"] == 5 * S and st["health_start_period"] == 0 and st["health_retries"] == 3
    assert st["health_state"] == str(tmp_path / "health.json")
    back = load_settings(dump_settings({"id": "x", **st}))
    assert h._decode(back["health_argv"]) == ["/bin/sh", "-c", script]
    assert h.monitor_settings({"Healthcheck": {"Test": ["NONE"]}}, str(tmp_path)) == {}
    assert h.monitor_settings({}, str(tmp_path)) == {}


# --- the state machine ----------------------------------------------------------------------------


def test_state_machine_starting_healthy_unhealthy():
    st = h.HealthState(retries=2, start_period_ns=0, started_ns=0)
    assert (st.status, st.failing_streak) == ("starting", 0)
    assert st.record(1, 2, 1, "no") is False  # streak 1 of 2: still starting
    assert (st.status, st.failing_streak) == ("starting", 1)
    assert st.record(3, 4, 1, "no") is True
    assert (st.status, st.failing_streak) == ("unhealthy", 2)
    assert st.record(5, 6, 0, "ok") is True
    assert (st.status, st.failing_streak) == ("healthy", 0)
    st.record(7, 8, 1, "")
    assert (st.status, st.failing_streak) == ("healthy", 1)
    st.record(9, 10, -1, "timeout")
    assert (st.status, st.failing_streak) == ("unhealthy", 2)
    st.record(11, 12, 2, "")  # any non-zero code is a failure
    assert st.failing_streak == 3


def test_retries_zero_means_three():
    st = h.HealthState(retries=0, start_period_ns=0, started_ns=0)
    for i in range(2):
        st.record(i, i, 1, "")
    assert st.status == "starting"
    st.record(3, 3, 1, "")
    assert st.status == "unhealthy"


def test_start_period_failures_do_not_count_until_first_success():
    st = h.HealthState(retries=1, start_period_ns=10 * S, started_ns=100 * S)
    st.record(101 * S, 101 * S, 1, "")
    assert (st.status, st.failing_streak) == ("starting", 0)
    st.record(111 * S, 111 * S, 1, "")  # after the start period it counts
    assert (st.status, st.failing_streak) == ("unhealthy", 1)
    st2 = h.HealthState(retries=1, start_period_ns=10 * S, started_ns=100 * S)
    st2.record(101 * S, 101 * S, 0, "")
    st2.record(102 * S, 102 * S, 1, "")  # healthy once: failures count even in the period
    assert (st2.status, st2.failing_streak) == ("unhealthy", 1)


def test_log_keeps_five_and_file_round_trips(tmp_path):
    st = h.HealthState(retries=3, start_period_ns=0, started_ns=0)
    for i in range(7):
        st.record(i * S, i * S + 5, i, f'out {i} "q"\n\x01é')
    path = str(tmp_path / "health.json")
    st.write(path)
    data = json.load(open(path))
    assert data["Status"] == "unhealthy" and data["FailingStreak"] == 6
    assert [e["ExitCode"] for e in data["Log"]] == [2, 3, 4, 5, 6]
    assert data["Log"][0] == {"Start": "1970-01-01T00:00:02.000000000Z", "End": "1970-01-01T00:00:02.000000005Z",
                              "ExitCode": 2, "Output": 'out 2 "q"\n\x01é'}
    assert not os.path.exists(path + ".tmp")
    # a new start carries the log over by lines, and starts again at "starting"
    log = h.log_from_file(path)
    assert [json.loads(x)["ExitCode"] for x in log] == [2, 3, 4, 5, 6]
    st2 = h.HealthState(3, 0, 0, log)
    st2.write(path)
    again = json.load(open(path))
    assert again["Status"] == "starting" and again["FailingStreak"] == 0 and again["Log"] == data["Log"]
    # an empty log is valid JSON too; a foreign file gives no log
    h.HealthState(3, 0, 0).write(path)
    assert json.load(open(path))["Log"] == []
    assert h.log_from_file(path) == []
    open(path, "w").write('{"Status": "healthy", "Log": [{"x": 1}]}')
    assert h.log_from_file(path) == []
    assert h.log_from_file(str(tmp_path / "nope")) == []


def test_write_into_a_removed_directory_is_silent(tmp_path):
    h.HealthState(3, 0, 0).write(str(tmp_path / "gone" / "health.json"))
    assert not (tmp_path / "gone").exists()


def test_output_is_cut_at_4096_bytes():
    out = h._Output()
    out.add(b"a" * 4000)
    out.add(b"b" * 200)
    assert out.text() == "a" * 4000 + "b" * 96 + "..."
    small = h._Output()
    small.add(b"ok\xff")
    assert small.text() == "ok\ufffd"


def test_next_interval_uses_start_interval_only_while_starting_in_the_start_period():
    st = h.HealthState(3, start_period_ns=10 * S, started_ns=0)
    assert h.next_interval_ns(st, 1 * S, 30 * S, 2 * S) == 2 * S
    assert h.next_interval_ns(st, 10 * S, 30 * S, 2 * S) == 30 * S
    st.status = "healthy"
    assert h.next_interval_ns(st, 1 * S, 30 * S, 2 * S) == 30 * S
    assert h.next_interval_ns(h.HealthState(3, 0, 0), 0, 30 * S, 2 * S) == 30 * S


def test_reading_state_for_inspect_and_ps(tmp_path):
    cfg = {"Healthcheck": {"Test": ["CMD", "true"]}}
    assert h.inspect_state(cfg, str(tmp_path)) == {}
    assert h.status_of(cfg, str(tmp_path)) == "none"
    st = h.HealthState(3, 0, 0)
    st.record(1, 2, 0, "fine")
    st.write(str(tmp_path / "health.json"))
    assert h.status_of(cfg, str(tmp_path)) == "healthy"
    got = h.inspect_state(cfg, str(tmp_path))["Health"]
    assert got["Status"] == "healthy" and got["FailingStreak"] == 0 and got["Log"][0]["Output"] == "fine"
    # NONE (--no-healthcheck) shows no Health, whatever a file says
    assert h.inspect_state({"Healthcheck": {"Test": ["NONE"]}}, str(tmp_path)) == {}
    assert h.status_of({}, str(tmp_path)) == "none"
    assert h.status_suffix("starting") == " (health: starting)"
    assert h.status_suffix("healthy") == " (healthy)" and h.status_suffix("unhealthy") == " (unhealthy)"
    assert h.status_suffix("none") == ""


def test_runtime_message_in_dockerds_words():
    runc = 'time="2026" level=error msg="exec failed: unable to start container process: exec: \\"x\\": executable file not found in $PATH"'
    want = 'OCI runtime exec failed: exec failed: unable to start container process: exec: "x": executable file not found in $PATH: unknown'
    assert h._runtime_message(runc) == want
    assert h._runtime_message('minke-runtime: exec: "x": executable file not found in $PATH\n') == want
    assert h._runtime_message("") == ""


# --- the Prober with fakes --------------------------------------------------------------------------


class FakeSel:
    def __init__(self) -> None:
        self.fds: dict[int, str] = {}

    def register(self, fd, tag) -> None:
        self.fds[fd] = tag

    def unregister(self, fd) -> None:
        self.fds.pop(fd, None)


class FakeRuntime:
    """``launch``: records the args, writes ``output`` to the check's pipe and the pid
    file (as ``exec --detach --pid-file`` does), returns a made-up runtime pid."""

    def __init__(self, output: bytes = b"", target: int | None = 5001) -> None:
        self.calls: list[list[str]] = []
        self.output = output
        self.target = target
        self.killed: list[int] = []
        self.next_pid = 4000

    def launch(self, args, fd) -> int:
        self.calls.append(list(args))
        if self.output:
            os.write(fd, self.output)
        pid_file = args[args.index("--pid-file") + 1]
        if self.target is not None:
            with open(pid_file, "w") as f:
                f.write(str(self.target))
        self.next_pid += 1
        return self.next_pid

    def kill(self, pid) -> None:
        self.killed.append(pid)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def wall_ns(self) -> int:
        return int(self.t * S)


def _prober(tmp_path, rt: FakeRuntime, clock: Clock, paused=lambda: False, **over):
    cfg = {"id": "c" * 64, "bundle": str(tmp_path), "cgroup_path": "", **h.monitor_settings(
        {"Healthcheck": {"Test": ["CMD-SHELL", "test -e /ok"], "Interval": 200 * MS, "Timeout": 300 * MS, "Retries": 1}},
        str(tmp_path))}
    cfg.update(over)
    sel = FakeSel()
    p = h.Prober(cfg, sel, launch=rt.launch, kill=rt.kill, paused=paused, clock=clock, wall_ns=clock.wall_ns)
    return p, sel


def _state(tmp_path) -> dict:
    return json.load(open(tmp_path / "health.json"))


EXIT = lambda code: code << 8  # noqa: E731 - a wait status for an exit code
KILLED = 9  # a wait status: killed by SIGKILL


def test_prober_runs_a_check_on_its_interval(tmp_path):
    rt, clock = FakeRuntime(b"fine\n"), Clock()
    p, sel = _prober(tmp_path, rt, clock)
    assert _state(tmp_path) == {"Status": "starting", "FailingStreak": 0, "Log": []}
    assert p.timeout() == pytest.approx(0.2)
    p.tick()
    assert rt.calls == []  # not due yet
    clock.t += 0.2
    p.tick()
    assert rt.calls == [["exec", "--detach", "--pid-file", str(tmp_path / "health.pid"), "c" * 64, "/bin/sh", "-c", "test -e /ok"]]
    assert list(sel.fds.values()) == ["health"]
    assert p.timeout() == pytest.approx(30.0)  # the runtime's start-up has dockerd's 30s
    clock.t += 0.05
    p.child_exited(4001, EXIT(0))  # the runtime returned: the check runs
    assert p.timeout() == pytest.approx(0.3)  # now its own timeout
    clock.t += 0.01
    p.child_exited(5001, EXIT(0))
    st = _state(tmp_path)
    assert st["Status"] == "healthy" and st["Log"][0]["ExitCode"] == 0 and st["Log"][0]["Output"] == "fine\n"
    assert st["Log"][0]["Start"] < st["Log"][0]["End"]
    assert sel.fds == {} and not (tmp_path / "health.pid").exists()
    assert p.timeout() == pytest.approx(0.2)  # the next one an interval after the end


def test_prober_check_exiting_before_its_runtime(tmp_path):
    rt, clock = FakeRuntime(), Clock()
    p, _ = _prober(tmp_path, rt, clock)
    clock.t += 0.2
    p.tick()
    p.child_exited(5001, EXIT(1))  # reaped first: not yet known as the check
    p.child_exited(4001, EXIT(0))
    st = _state(tmp_path)
    assert st["Status"] == "unhealthy" and st["FailingStreak"] == 1 and st["Log"][0]["ExitCode"] == 1


def test_prober_kills_a_check_over_its_timeout(tmp_path):
    rt, clock = FakeRuntime(b"partial"), Clock()
    p, sel = _prober(tmp_path, rt, clock)
    clock.t += 0.2
    p.tick()
    p.child_exited(4001, EXIT(0))
    clock.t += 0.29
    p.tick()
    assert rt.killed == []
    clock.t += 0.02
    p.tick()
    assert rt.killed == [5001]
    p.child_exited(5001, KILLED)
    entry = _state(tmp_path)["Log"][0]
    assert entry["ExitCode"] == -1 and entry["Output"] == "Health check exceeded timeout (300ms): partial"
    assert sel.fds == {}


def test_prober_records_a_check_the_runtime_could_not_start(tmp_path):
    rt, clock = FakeRuntime(b'minke-runtime: exec: "x": executable file not found in $PATH\n', target=None), Clock()
    p, _ = _prober(tmp_path, rt, clock)
    clock.t += 0.2
    p.tick()
    p.child_exited(4001, EXIT(1))
    entry = _state(tmp_path)["Log"][0]
    assert entry["ExitCode"] == -1
    assert entry["Output"].startswith("OCI runtime exec failed: exec failed: unable to start container process: exec: \"x\"")


def test_prober_wedged_runtime_start(tmp_path):
    rt, clock = FakeRuntime(target=None), Clock()
    p, _ = _prober(tmp_path, rt, clock)
    clock.t += 0.2
    p.tick()
    clock.t += 30.0
    p.tick()
    assert rt.killed == [4001]
    p.child_exited(4001, KILLED)
    assert _state(tmp_path)["Log"][0] == {**_state(tmp_path)["Log"][0], "ExitCode": -1,
                                          "Output": f"timed out starting health check for container {'c' * 64}"}


def test_prober_stop_ends_a_check_under_way_and_records_nothing(tmp_path):
    rt, clock = FakeRuntime(), Clock()
    p, sel = _prober(tmp_path, rt, clock)
    clock.t += 0.2
    p.tick()
    p.child_exited(4001, EXIT(0))
    p.stop()
    assert rt.killed == [5001]
    assert sel.fds == {} and p.timeout() is None
    assert _state(tmp_path)["Log"] == []


def test_prober_carries_the_log_over_to_the_next_start(tmp_path):
    rt, clock = FakeRuntime(), Clock()
    p, _ = _prober(tmp_path, rt, clock)
    clock.t += 0.2
    p.tick()
    p.child_exited(4001, EXIT(0))
    p.child_exited(5001, EXIT(0))
    assert _state(tmp_path)["Status"] == "healthy"
    p.stop()
    _prober(tmp_path, rt, clock)
    st = _state(tmp_path)
    assert st["Status"] == "starting" and len(st["Log"]) == 1


def test_prober_runs_no_check_while_paused_and_cancels_one_the_pause_froze(tmp_path):
    rt, clock = FakeRuntime(), Clock()
    frozen = [True]
    p, sel = _prober(tmp_path, rt, clock, paused=lambda: frozen[0])
    clock.t += 0.2
    p.tick()
    assert rt.calls == [] and p.timeout() == pytest.approx(0.2)  # skipped, looked at again
    frozen[0] = False
    clock.t += 0.2
    p.tick()
    p.child_exited(4001, EXIT(0))
    frozen[0] = True  # paused with the check under way: at its deadline it is cancelled
    clock.t += 0.3
    p.tick()
    assert rt.killed == [5001]
    p.child_exited(5001, KILLED)
    assert _state(tmp_path)["Log"] == [] and sel.fds == {}
    assert p.timeout() == pytest.approx(0.2)


def test_prober_records_status_changes_as_events(tmp_path):
    events = pytest.importorskip("minke.events")
    if not hasattr(events, "record_monitor"):
        pytest.skip("minke.events records no monitor events here")
    class C:
        id, name, image_ref, config = "c" * 64, "web", "busybox", {"Labels": {}}

    rt, clock = FakeRuntime(), Clock()
    p, _ = _prober(tmp_path, rt, clock, root=str(tmp_path), **events.monitor_settings(C()))
    for target_status in (0, 0, 1):  # healthy, healthy (no change), unhealthy
        clock.t += 0.2
        p.tick()
        rt.target += 1
        p.child_exited(rt.next_pid, EXIT(0))
        p.child_exited(rt.target - 1, EXIT(target_status))
    actions = [ev["Action"] for ev in events.read(str(tmp_path))]
    assert actions == ["health_status: healthy", "health_status: unhealthy"]


def test_ps_health_filter_values():
    from minke.cli.containers import _ps_filters

    assert _ps_filters(["health=healthy", "health=none"]) == {"health": ["healthy", "none"]}
    with pytest.raises(InvalidArgument, match="Unrecognised filter value for health: bad"):
        _ps_filters(["health=bad"])
