from __future__ import annotations

import calendar
import json
import os

import pytest

from minke.containers import logs
from minke.containers.monitor import HEADER, classify_error, frame, proc_start_time
from minke.containers.state import Status
from minke.errors import Conflict, FailedPrecondition

CID = "ab" * 32


def test_guards():
    assert Status.CREATED.can_start() and Status.EXITED.can_start()
    assert not Status.PAUSED.can_start() and not Status.REMOVING.can_start()
    assert Status.RUNNING.can_stop() and Status.RESTARTING.can_stop() and not Status.EXITED.can_stop()
    assert Status.RUNNING.can_pause() and not Status.PAUSED.can_pause() and Status.PAUSED.can_unpause()
    assert Status.EXITED.can_remove() and not Status.RUNNING.can_remove() and Status.RUNNING.can_remove(force=True)


def test_illegal_transitions_name_the_state():
    with pytest.raises(FailedPrecondition, match="container is paused"):
        Status.PAUSED.check_start(CID)
    Status.RUNNING.check_start(CID)  # a no-op, as in Docker
    with pytest.raises(Conflict, match="is not running"):
        Status.EXITED.check_kill(CID)
    with pytest.raises(Conflict, match="container is running: stop the container before removing or force remove"):
        Status.RUNNING.check_remove(CID, force=False)
    Status.RUNNING.check_remove(CID, force=True)


def test_classify_runtime_errors():
    assert classify_error('exec: "nosuch": executable file not found in $PATH') == 127
    assert classify_error('exec: "/x": stat /x: no such file or directory') == 127
    assert classify_error('exec: "/etc/passwd": permission denied') == 126
    assert classify_error("error setting cgroup config: no such file or directory") == 125


def test_frames_and_proc_start_time():
    f = frame(1, b"hello")
    kind, n = HEADER.unpack_from(f)
    assert (kind, n, f[HEADER.size:]) == (1, 5, b"hello")
    assert proc_start_time(os.getpid()) > 0
    assert proc_start_time(2**22 + 12345) == 0


def test_log_lines_split_partial_and_long(tmp_path):
    path = str(tmp_path / "c-json.log")
    w = logs.LogWriter(path, max_size=0)
    w.write("stdout", b"one\ntw")
    w.write("stderr", b"err\n")
    w.write("stdout", b"o\n" + b"x" * (logs.MAX_RECORD + 10))
    w.close()
    recs = logs.read_records(path)
    assert [(s, t) for s, t, _ in recs] == [
        ("stdout", "one\n"), ("stderr", "err\n"), ("stdout", "two\n"),
        ("stdout", "x" * logs.MAX_RECORD), ("stdout", "x" * 10),
    ]
    with open(path) as f:
        first = json.loads(f.readline())
    assert set(first) == {"log", "stream", "time"}
    assert first["time"].endswith("Z") and len(first["time"].split(".")[1]) == 10  # 9 digits + Z


def test_log_rotation_keeps_max_files(tmp_path):
    path = str(tmp_path / "c-json.log")
    w = logs.LogWriter(path, max_size=300, max_files=3)
    for i in range(100):
        w.write("stdout", f"line {i}\n".encode())
    w.close()
    assert sorted(os.listdir(tmp_path)) == ["c-json.log", "c-json.log.1", "c-json.log.2"]
    assert all(os.path.getsize(tmp_path / n) <= 300 for n in os.listdir(tmp_path))
    texts = [t for _, t, _ in logs.read_records(path)]
    assert texts[-1] == "line 99\n" and texts == sorted(texts, key=lambda t: int(t.split()[1]))
    assert [t for _, t, _ in logs.read_records(path, tail=2)] == ["line 98\n", "line 99\n"]


def test_log_time_filters(tmp_path):
    path = str(tmp_path / "c-json.log")
    with open(path, "w") as f:
        for sec, text in ((10, "a"), (20, "b"), (30, "c")):
            ts = logs.rfc3339nano(sec * 1_000_000_000 + 123)
            f.write(json.dumps({"log": text + "\n", "stream": "stdout", "time": ts}) + "\n")
        f.write('{"log": "torn')  # a record being written: skipped
    assert [t for _, t, _ in logs.read_records(path, since=15, until=25)] == ["b\n"]
    assert logs.parse_rfc3339(logs.rfc3339nano(20_000_000_123)) == pytest.approx(20.000000123)
    assert logs.parse_rfc3339("2026-01-01T00:00:00+01:00") == calendar.timegm((2025, 12, 31, 23, 0, 0))


def test_read_records_says_where_a_follower_goes_on(tmp_path):
    """``logs -f`` follows from the end of the last whole line read, so a line written
    between the read and the follow is neither lost nor shown twice."""
    path = str(tmp_path / "c-json.log")
    w = logs.LogWriter(path)
    w.write("stdout", b"one\ntwo\n")
    with open(path, "ab") as f:
        f.write(b'{"log":"half')  # a record being written
    read_to: dict = {}
    recs = logs.read_records(path, read_to=read_to)
    assert [t for _, t, _ in recs] == ["one\n", "two\n"]
    assert read_to["ino"] == os.stat(path).st_ino
    with open(path, "rb") as f:
        f.seek(read_to["offset"])
        assert f.read() == b'{"log":"half'


def test_status_behaves_as_the_str_enum_it_replaced():
    import copy
    import json
    import pickle

    assert Status("running") is Status.RUNNING and Status.RUNNING == "running"
    assert str(Status.EXITED) == "exited" and f"{Status.DEAD}" == "dead" and Status.PAUSED.value == "paused"
    assert Status.RESTARTING.name == "RESTARTING" and repr(Status.CREATED) == "<Status.CREATED: 'created'>"
    assert json.dumps({"s": Status.REMOVING}) == '{"s": "removing"}'
    assert pickle.loads(pickle.dumps(Status.EXITED)) is Status.EXITED and copy.deepcopy(Status.RUNNING) is Status.RUNNING
    with pytest.raises(ValueError):
        Status("Running")
