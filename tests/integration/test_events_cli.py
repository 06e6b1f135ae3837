"""``minke events`` against what real commands record: a container's life, image, network
and volume events, --filter, --format, and a follower that sees what comes after it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import test_containers_lifecycle as _lifecycle  # noqa: E402

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


minke = _lifecycle.minke  # the fixture, with its teardown leak checks; run on minke-runtime
one_runtime = pytest.mark.parametrize("minke", ["minke"], indirect=True)


def _json_events(m, since, *args):
    out = m.ok("events", "--since", str(since), "--until", str(int(time.time()) + 1), "--format", "{{json .}}", *args)
    return [json.loads(line) for line in out.splitlines()]


@one_runtime
def test_a_containers_life_and_the_other_objects(minke):
    t0 = int(time.time()) - 1
    minke("run", "--rm", "--name", "ev1", "--network", "none", "busybox", "sh", "-c", "exit 3")
    minke.ok("tag", "busybox", "evtag:1")
    minke.ok("rmi", "evtag:1")
    minke.ok("network", "create", "evnet")
    minke.ok("network", "rm", "evnet")
    minke.ok("volume", "create", "evvol")
    minke.ok("volume", "rm", "evvol")
    evs = _json_events(minke, t0)
    mine = [(e["Type"], e["Action"]) for e in evs
            if e["Actor"]["Attributes"].get("name") in ("ev1", "evtag:1", "evnet") or e["Actor"]["ID"] == "evvol"]
    assert mine == [("container", "create"), ("container", "start"), ("container", "die"),
                    ("container", "destroy"), ("image", "tag"), ("image", "untag"), ("network", "create"),
                    ("network", "destroy"), ("volume", "create"), ("volume", "destroy")]
    die = next(e for e in evs if e["Action"] == "die" and e["Actor"]["Attributes"]["name"] == "ev1")
    assert die["Actor"]["Attributes"]["exitCode"] == "3" and die["from"] == "busybox"
    assert {e["Action"] for e in _json_events(minke, t0, "--filter", "event=die")} == {"die"}
    text = minke.ok("events", "--since", str(t0), "--until", str(int(time.time()) + 1), "--filter", "type=volume")
    assert text.count("\n") == 2 and " volume create evvol (driver=local)" in text


@one_runtime
def test_a_follower_sees_what_comes_after_it(minke):
    p = subprocess.Popen(minke.argv("events", "--filter", "type=volume"), env=minke.env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)  # it is following
        minke.ok("volume", "create", "late")
        minke.ok("volume", "rm", "late")
        deadline = time.monotonic() + 10
        lines: list[str] = []
        os.set_blocking(p.stdout.fileno(), False)
        while len(lines) < 2 and time.monotonic() < deadline:
            chunk = p.stdout.read() or ""
            lines += chunk.splitlines()
            time.sleep(0.05)
        assert [ln.split()[2] for ln in lines[:2]] == ["create", "destroy"], lines
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == 0


@one_runtime
def test_commit_and_export_are_container_events(minke, tmp_path):
    t0 = int(time.time()) - 1
    minke.ok("create", "--name", "evc", "--network", "none", "busybox", "true")
    image_id = minke.ok("commit", "evc", "evcommit:1").strip()
    minke.ok("export", "-o", str(tmp_path / "evc.tar"), "evc")
    minke.ok("rm", "evc")
    minke.ok("rmi", "evcommit:1")
    # container= matches an actor's ID or name by prefix, any type (Docker's): evcommit too
    evs = _json_events(minke, t0, "--filter", "container=evc", "--filter", "type=container")
    assert [e["Action"] for e in evs] == ["create", "commit", "export", "destroy"]
    assert evs[1]["Actor"]["Attributes"]["imageID"] == image_id


@one_runtime
def test_exec_events(minke):
    t0 = int(time.time()) - 1
    minke.ok("run", "-d", "--name", "evx", "--network", "none", "busybox", "sleep", "30")
    try:
        minke("exec", "evx", "sh", "-c", "exit 4")
        evs = _json_events(minke, t0, "--filter", "event=exec_create", "--filter", "event=exec_start",
                           "--filter", "event=exec_die")
    finally:
        minke.ok("rm", "-f", "evx")
    assert [e["Action"] for e in evs] == ["exec_create: sh -c exit 4", "exec_start: sh -c exit 4", "exec_die"]
    assert len({e["Actor"]["Attributes"]["execID"] for e in evs}) == 1
    assert evs[2]["Actor"]["Attributes"]["exitCode"] == "4"
