"""Unit tests of exec's process building, in-root path resolution, ps filtering and the
stats arithmetic (no root, no container)."""

from __future__ import annotations

import os

import pytest

from minke.containers.exec import (
    ExecOptions,
    _in_root,
    build_process,
    check_running,
    merge_env,
    parse_env_file,
)
from minke.containers.inspect_ops import Sample, cpu_percent, filter_ps, memory_usage
from minke.errors import Conflict, InvalidArgument

BASE = {
    "terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["sleep", "60"], "cwd": "/",
    "env": ["PATH=/bin", "HOME=/root"], "noNewPrivileges": True,
    "capabilities": {k: ["CAP_CHOWN"] for k in ("bounding", "effective", "permitted")},
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
}
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\nstaff:x:50:nobody\n"


def test_build_process_keeps_the_container_security():
    p = build_process(BASE, ExecOptions(cmd=("id",)), PASSWD, GROUP)
    assert p["args"] == ["id"] and p["noNewPrivileges"] is True
    assert p["capabilities"] == BASE["capabilities"] and p["rlimits"] == BASE["rlimits"]
    assert BASE["args"] == ["sleep", "60"]  # the container's own process is untouched


def test_build_process_user_env_cwd_tty():
    p = build_process(BASE, ExecOptions(cmd=("id",), env=("FOO=1", "PATH=/x"), workdir="/tmp", user="nobody", tty=True), PASSWD, GROUP)
    assert p["user"] == {"uid": 65534, "gid": 65534, "additionalGids": [50]}
    assert p["env"] == ["PATH=/x", "HOME=/home", "TERM=xterm", "FOO=1"]
    assert p["cwd"] == "/tmp" and p["terminal"] is True
    with pytest.raises(InvalidArgument, match="unable to find user ghost"):
        build_process(BASE, ExecOptions(cmd=("id",), user="ghost"), PASSWD, GROUP)
    with pytest.raises(InvalidArgument, match="absolute path"):
        build_process(BASE, ExecOptions(cmd=("id",), workdir="tmp"), PASSWD, GROUP)


def test_build_process_privileged_gets_every_cap():
    caps = ("CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_ADMIN")
    p = build_process(BASE, ExecOptions(cmd=("id",), privileged=True), PASSWD, GROUP, caps)
    assert sorted(p["capabilities"]["effective"]) == sorted(caps)
    assert sorted(p["capabilities"]["bounding"]) == sorted(caps)


def test_env_helpers(monkeypatch):
    assert merge_env(["A=1", "B=2"], ["B=3", "C=4"]) == ["A=1", "B=3", "C=4"]
    monkeypatch.setenv("FROMHOST", "h")
    monkeypatch.delenv("NOTSET", raising=False)
    assert parse_env_file("# c\n\nX=1\nFROMHOST\nNOTSET\n") == ["X=1", "FROMHOST=h"]
    with pytest.raises(InvalidArgument, match="line 1"):
        parse_env_file("BAD KEY=1\n")


def test_in_root_never_leaves_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "tmp").mkdir(parents=True)
    (root / "etc").mkdir()
    os.symlink("/", root / "tmp" / "up")
    os.symlink("../../../..", root / "tmp" / "up2")
    os.symlink("/etc", root / "tmp" / "etc")
    r = str(root)
    assert _in_root(r, "/tmp/up/etc/passwd") == os.path.join(r, "etc/passwd")
    assert _in_root(r, "/tmp/up2/etc/passwd") == os.path.join(r, "etc/passwd")
    assert _in_root(r, "/../../etc") == os.path.join(r, "etc")
    assert _in_root(r, "/tmp/etc") == os.path.join(r, "etc")
    assert _in_root(r, "/tmp/etc", follow_last=False) == os.path.join(r, "tmp/etc")
    os.symlink("loop", root / "loop")
    assert _in_root(r, "/loop") is None


class _C:
    def __init__(self, status):
        from minke.containers.state import Status

        self.id = "abc"
        self.status = Status(status)


def test_check_running_messages():
    check_running(_C("running"))
    with pytest.raises(Conflict, match="^Container abc is paused, unpause the container before exec$"):
        check_running(_C("paused"))
    with pytest.raises(Conflict, match="^Container abc is not running$"):
        check_running(_C("exited"))


def test_filter_ps_keeps_the_container_pids_and_the_command_spaces():
    out = ("UID        PID  PPID  C STIME TTY          TIME CMD\n"
           "root         1     0  0 10:00 ?        00:00:01 /sbin/init\n"
           "root       42     1  0 10:01 ?        00:00:00 sleep 60 now\n")
    titles, rows = filter_ps(out, [42])
    assert titles == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert rows == [["root", "42", "1", "0", "10:01", "?", "00:00:00", "sleep 60 now"]]
    with pytest.raises(InvalidArgument, match="PID"):
        filter_ps("A B\n1 2\n", [1])


def _s(at, cpu):
    return Sample("id", "n", at, cpu, 0, 0, 0, 0, 0, 0, 1, True)


def test_stats_arithmetic():
    assert cpu_percent(_s(2.0, 1_500_000_000), _s(1.0, 1_000_000_000), None) == pytest.approx(50.0)
    import time

    assert cpu_percent(_s(0, 2_000_000_000), None, time.time() - 4) == pytest.approx(50.0, rel=0.05)
    assert cpu_percent(_s(0, 5), None, None) == 0.0
    assert memory_usage({"usage": 100, "inactive_file": 30}) == 70
    assert memory_usage({"usage": 10, "inactive_file": 30}) == 10
    assert memory_usage({"usage": None, "inactive_file": None}) == 0
