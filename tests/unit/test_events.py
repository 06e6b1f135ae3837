"""minke.events: the store's event log (encode, record, read, filters, time parsing,
rotation) and writers from several processes at once."""

from __future__ import annotations

import json
import os
import time

import pytest

from minke import events
from minke.errors import InvalidArgument


def test_a_container_event_has_dockers_shape(tmp_path):
    class C:
        id, name, image_ref, config = "c" * 64, "web", "busybox", {"Labels": {"z": "1", "a": "2"}}

    events.container(str(tmp_path), "create", C())
    (ev,) = list(events.read(str(tmp_path)))
    assert list(ev) == ["status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano"]
    assert ev["Type"] == "container" and ev["Action"] == "create" and ev["from"] == "busybox"
    assert ev["Actor"] == {"ID": "c" * 64, "Attributes": {"a": "2", "image": "busybox", "name": "web", "z": "1"}}
    assert ev["time"] == ev["timeNano"] // 10**9


def test_network_and_volume_events_have_no_deprecated_fields(tmp_path):
    events.record(str(tmp_path), "volume", "create", "data", {"driver": "local"})
    (ev,) = list(events.read(str(tmp_path)))
    assert "status" not in ev and ev["Actor"]["ID"] == "data"


def test_values_are_escaped_to_valid_json(tmp_path):
    nasty = 'q"b\\s\n\t\x01\u2028'
    events.record(str(tmp_path), "container", "create", "x", {"name": nasty})
    with open(tmp_path / events.FILE) as f:
        assert json.loads(f.readline())["Actor"]["Attributes"]["name"] == nasty


def test_the_monitors_encoded_attributes_take_extra_ones(tmp_path):
    class C:
        id, name, image_ref, config = "d" * 64, "job", "bb", {"Labels": {"k": "v"}}

    cfg = {"root": str(tmp_path), "id": C.id, **events.monitor_settings(C())}
    events.monitor_exit(cfg, 3, True, 2.5)
    evs = list(events.read(str(tmp_path)))
    assert [e["Action"] for e in evs] == ["oom", "die"]
    assert evs[1]["Actor"]["Attributes"] == {"k": "v", "image": "bb", "name": "job", "exitCode": "3",
                                             "execDuration": "2"}


def test_since_until_and_filters(tmp_path):
    r = str(tmp_path)
    for i, (typ, action) in enumerate([("container", "create"), ("image", "tag"), ("container", "die")]):
        events.record(r, typ, action, f"id{i}", {"name": f"n{i}"}, time_ns=(i + 1) * 10**9)
    assert [e["Action"] for e in events.read(r, since=2 * 10**9)] == ["tag", "die"]
    assert [e["Action"] for e in events.read(r, until=2 * 10**9)] == ["create", "tag"]
    f = events.parse_filters(["type=container"])
    assert [e["Action"] for e in events.read(r, filters=f)] == ["create", "die"]
    f = events.parse_filters(["event=die"])
    assert [e["Actor"]["ID"] for e in events.read(r, filters=f)] == ["id2"]
    with pytest.raises(InvalidArgument):
        events.check_filters(events.parse_filters(["colour=red"]))


def test_time_arguments_as_docker_takes_them():
    now = 1_700_000_000 * 10**9
    assert events.parse_time("1700000000", now) == now
    assert events.parse_time("10m", now) == now - 600 * 10**9
    assert events.parse_time("2023-11-14T22:13:20Z", now) == now
    with pytest.raises(InvalidArgument):
        events.parse_time("yesterday", now)


def test_concurrent_writers_never_interleave(tmp_path):
    r = str(tmp_path)
    pids = []
    for w in range(4):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                for i in range(200):
                    events.record(r, "container", "create", f"w{w}-{i}", {"name": "x" * 300})
            finally:
                os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    seen = list(events.read(r))
    names = {e["Actor"]["ID"] for e in seen}
    # Rotation may have dropped the oldest; every line left parses and none is doubled.
    assert len(names) == len(seen) and len(seen) > 0
    assert {f"w{w}-199" for w in range(4)} <= names


def test_the_log_is_bounded(tmp_path):
    r = str(tmp_path)
    t = time.time_ns()
    n = 0
    for n in range(3 * events.MAX_BYTES // 200):
        events.record(r, "container", "create", f"id{n}", {"name": "y" * 100}, time_ns=t + n)
    assert os.path.getsize(os.path.join(r, events.FILE)) <= events.MAX_BYTES + 1024
    assert os.path.getsize(os.path.join(r, events.FILE + ".1")) <= events.MAX_BYTES + 1024
    last = list(events.read(r))[-1]
    assert last["Actor"]["ID"] == f"id{n}"
