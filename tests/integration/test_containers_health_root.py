"""Healthchecks end to end, as root, on runc and on minke-runtime: the monitor runs the
check in the container on its timer; inspect and ps read the state it writes (the
fixture and its teardown leak checks come from the lifecycle tests)."""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import test_containers_lifecycle as _lifecycle  # noqa: E402

minke = _lifecycle.minke  # the fixture, with its teardown leak checks

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

FAST = ("--health-interval", "150ms", "--health-retries", "1")


def _run(m, *args) -> str:
    cid = m.ok("run", "-d", "--network", "none", *args).strip()
    m.seen.add(cid)
    return cid


def _health(m, cid) -> dict:
    return json.loads(m.ok("inspect", "--format", "{{json .State.Health}}", cid))


def _wait_status(m, cid, want: str, timeout: float = 10.0) -> dict:
    end = time.monotonic() + timeout
    while True:
        st = _health(m, cid)
        if st["Status"] == want:
            return st
        if time.monotonic() > end:
            raise AssertionError(f"health of {cid[:12]} stayed {st['Status']}, not {want}: {st}")
        time.sleep(0.05)


def _ps(m, *args) -> dict[str, str]:
    out = m.ok("ps", "-a", "--no-trunc", "--format", "{{.ID}}\t{{.Status}}", *args)
    return dict(line.split("\t") for line in out.splitlines())


def test_health_flips_with_the_check(minke):
    cid = _run(minke, "--health-cmd", "test -e /tmp/ok", *FAST, "busybox", "sleep", "60")
    cfg = minke.inspect(cid)["Config"]["Healthcheck"]
    assert cfg == {"Test": ["CMD-SHELL", "test -e /tmp/ok"], "Interval": 150_000_000, "Retries": 1}
    assert minke.ok("inspect", "--format", "{{.State.Health.Status}}", cid).strip() in ("starting", "unhealthy")
    st = _wait_status(minke, cid, "unhealthy")
    assert st["FailingStreak"] >= 1
    entry = st["Log"][-1]
    assert entry["ExitCode"] == 1 and entry["Output"] == ""
    assert entry["Start"].endswith("Z") and entry["Start"] <= entry["End"]
    assert _ps(minke)[cid].endswith(" (unhealthy)")
    assert cid in _ps(minke, "--filter", "health=unhealthy")
    assert cid not in _ps(minke, "--filter", "health=healthy")

    minke.ok("exec", cid, "touch", "/tmp/ok")
    st = _wait_status(minke, cid, "healthy")
    assert st["FailingStreak"] == 0 and st["Log"][-1]["ExitCode"] == 0
    assert _ps(minke)[cid].endswith(" (healthy)")
    assert list(_ps(minke, "--filter", "health=healthy")) == [cid]

    minke.ok("exec", cid, "busybox", "rm", "/tmp/ok")
    st = _wait_status(minke, cid, "unhealthy")
    assert len(st["Log"]) <= 5

    # a new start: starting again, the log carried over (as Docker keeps it)
    minke.ok("stop", "-t", "0", cid)
    before = _health(minke, cid)["Log"]
    assert before and _ps(minke)[cid].startswith("Exited")  # no health suffix when not running
    minke.ok("start", cid)
    started = minke.inspect(cid)["State"]["StartedAt"]
    st = _health(minke, cid)
    assert st["Log"][0] == before[0] or st["Log"][0]["Start"] < started


def test_check_over_its_timeout_is_killed(minke):
    cid = _run(minke, "--health-cmd", "echo begun; sleep 30", "--health-timeout", "200ms", *FAST,
               "busybox", "sleep", "60")
    st = _wait_status(minke, cid, "unhealthy")
    entry = st["Log"][0]
    assert entry["ExitCode"] == -1
    assert entry["Output"] == "Health check exceeded timeout (200ms): begun\n"
    # killed, not piling up: at most the check under way is left
    time.sleep(0.5)
    procs = minke.ok("exec", cid, "ps", "-o", "args").splitlines()
    assert sum("sleep 30" in p for p in procs) <= 1, procs


def test_image_healthcheck_and_no_healthcheck(minke, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text('FROM busybox\nHEALTHCHECK --interval=150ms --retries=1 CMD ["false"]\n')
    minke.ok("build", "-q", "-t", "hc", str(ctx))
    image_hc = {"Test": ["CMD", "false"], "Interval": 150_000_000, "Retries": 1}

    from_image = _run(minke, "hc", "sleep", "60")
    assert minke.inspect(from_image)["Config"]["Healthcheck"] == image_hc
    _wait_status(minke, from_image, "unhealthy")

    off = _run(minke, "--no-healthcheck", "hc", "sleep", "60")
    info = minke.inspect(off)
    assert info["Config"]["Healthcheck"]["Test"] == ["NONE"]
    assert "Health" not in info["State"]

    # the flags override the image's fields one by one
    over = _run(minke, "--health-cmd", "true", "hc", "sleep", "60")
    assert minke.inspect(over)["Config"]["Healthcheck"] == {**image_hc, "Test": ["CMD-SHELL", "true"]}
    _wait_status(minke, over, "healthy")

    plain = _run(minke, "busybox", "sleep", "60")
    assert "Healthcheck" not in minke.inspect(plain)["Config"]
    assert set(_ps(minke, "--filter", "health=none")) == {off, plain}
    ps = _ps(minke)
    assert ps[off].startswith("Up ") and not ps[off].endswith(")")
    assert ps[from_image].endswith("(unhealthy)") and ps[over].endswith("(healthy)")

    # bad flags: refused before anything is made
    n = len(minke.ids())
    for args, msg in (
        (("--health-interval", "1x"), 'invalid argument "1x" for "--health-interval" flag: time: unknown unit "x" in duration "1x"'),
        (("--no-healthcheck", "--health-cmd", "true"), "--no-healthcheck conflicts with --health-* options"),
        (("--health-interval", "500us"), "Interval in Healthcheck cannot be less than 1ms"),
        (("--health-retries", "-1"), "--health-retries cannot be negative"),
    ):
        r = minke("run", "-d", "--network", "none", *args, "busybox", "true")
        assert r.returncode == 125 and msg in r.stderr, (args, r.stderr)
    r = minke("ps", "--filter", "health=bad")
    assert r.returncode != 0 and "Unrecognised filter value for health: bad" in r.stderr
    assert len(minke.ids()) == n


def test_no_checks_while_paused(minke):
    cid = _run(minke, "--health-cmd", "true", *FAST, "busybox", "sleep", "60")
    _wait_status(minke, cid, "healthy")
    minke.ok("pause", cid)
    time.sleep(0.2)  # a check under way at the pause ends by then
    last = _health(minke, cid)["Log"][-1]["End"]
    time.sleep(0.6)
    assert _health(minke, cid)["Log"][-1]["End"] == last
    minke.ok("unpause", cid)
    end = time.monotonic() + 10
    while _health(minke, cid)["Log"][-1]["End"] == last:
        assert time.monotonic() < end, "no check after unpause"
        time.sleep(0.05)
