"""How a container starts: the monitor is spawned before the bundle is written and the
built-in runtime runs in its forks; what a failure between the two leaves (nothing), and
what the container inherits from the caller (only its stdio).  On runc and minke-runtime."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import test_containers_lifecycle as _lifecycle  # noqa: E402

minke = _lifecycle.minke  # the fixture, with its teardown leak checks

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


def test_a_failure_after_the_monitor_started_leaves_nothing(minke, tmp_path):
    # A seccomp profile that is not JSON fails while the bundle is written, after the
    # monitor was spawned: it must leave without a trace.
    bad = tmp_path / "profile.json"
    bad.write_text("{not json")
    r = minke("run", "--rm", "--network", "none", "--security-opt", f"seccomp={bad}", "busybox", "true")
    assert r.returncode == 125, r.stderr
    assert "seccomp profile" in r.stderr and r.stderr.count("\n") == 1
    assert _lifecycle._processes_mentioning(minke.run_root) == []
    runtime_root = os.path.join(minke.run_root, "runtime", minke.runtime)
    # Nothing of a container (minke-runtime's cache of compiled seccomp programs may be there).
    assert not os.path.isdir(runtime_root) or [n for n in os.listdir(runtime_root) if n != "~seccomp"] == []
    # --rm takes it along, whatever failed.
    assert minke.ids() == []
    # Without --rm it stays 'created', to be started again or removed, as Docker leaves it.
    r = minke("run", "--network", "none", "--security-opt", f"seccomp={bad}", "busybox", "true")
    assert r.returncode == 125
    (cid,) = minke.ids()
    minke.seen.add(cid)
    assert minke.ok("inspect", "-f", "{{.State.Status}}", cid).strip() == "created"


def test_the_callers_other_fds_do_not_reach_the_container(minke):
    r, w = os.pipe()  # an inheritable fd the caller forgot, as shells and harnesses leave them
    try:
        p = subprocess.run(minke.argv("run", "--rm", "--network", "none", "busybox", "ls", "/proc/self/fd"),
                           env=minke.env, pass_fds=(r,), capture_output=True, text=True, timeout=60)
    finally:
        os.close(r)
        os.close(w)
    assert p.returncode == 0, p.stderr
    assert set(p.stdout.split()) <= {"0", "1", "2", "3"}, p.stdout  # 3: ls's own directory


def test_run_attached_and_detached_start_the_same(minke):
    # Foreground run pauses the runtime between create and start for the attach; -d does not.
    assert minke.ok("run", "--rm", "--network", "none", "busybox", "echo", "fg") == "fg\n"
    cid = minke.ok("run", "-d", "--network", "none", "busybox", "sh", "-c", "echo bg").strip()
    minke.seen.add(cid)
    assert minke.ok("wait", cid).strip() == "0"
    assert minke.ok("logs", cid) == "bg\n"
    r = minke("start", "-a", cid)
    assert (r.returncode, r.stdout) == (0, "bg\n"), r.stderr


def test_rm_f_of_a_running_rm_container_does_not_wait_for_the_monitor(minke):
    # The monitor of a --rm container used to take the container's lock for its own
    # removal while `rm -f` held it waiting for the monitor: a 10 s stand-off.
    import time

    cid = minke.ok("run", "-d", "--rm", "--network", "none", "busybox", "sleep", "60").strip()
    t = time.monotonic()
    minke.ok("rm", "-f", cid)
    assert time.monotonic() - t < 5
    assert minke.ids() == []


def test_an_attached_run_ends_at_the_first_exit_even_when_it_restarts(minke):
    # Docker's attach ends at the exit; the restart goes on in the background.
    r = minke("run", "--name", "again", "--restart", "on-failure:1", "--network", "none", "busybox", "sh", "-c",
              "echo go; exit 3", timeout=30)
    minke.seen.update(minke.ids())
    assert (r.returncode, r.stdout) == (3, "go\n"), r.stderr
    _lifecycle._wait_for(lambda: minke.inspect("again")["RestartCount"] == 1
                         and minke.inspect("again")["State"]["Status"] == "exited", timeout=20, what="the restart")
    assert minke.ok("logs", "again") == "go\ngo\n"
