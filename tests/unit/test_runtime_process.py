"""Process set-up order, signals, flags, state and hooks of the runtime, without root."""

from __future__ import annotations

import json
import os

import pytest

from minke.errors import CommandNotFound, InvalidArgument, NotFound
from minke.runtime import libc
from minke.runtime import state as st
from minke.runtime.channel import Channel
from minke.runtime.cli import COMMAND_FLAGS, Usage, parse_flags
from minke.runtime.container import parse_signal
from minke.runtime.hooks import HookFailed, run_hooks
from minke.runtime.init import lookup
from minke.runtime.spec import parse_process
from minke.runtime.syscalls import RecordingSyscalls


def test_identity_order_nnp_groups_gid_uid_umask_cwd(tmp_path):
    from minke.runtime.init import finalize_process

    proc = parse_process({"args": ["/bin/sh"], "cwd": "/tmp", "noNewPrivileges": True,
                          "user": {"uid": 5, "gid": 6, "additionalGids": [7], "umask": 0o077}})  # fmt: skip
    sys = RecordingSyscalls()
    argv0 = finalize_process(proc, sys, None)
    assert argv0 == "/bin/sh"
    assert sys.calls == [
        ("prctl", libc.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
        ("setgroups", [7]),
        ("setresgid", 6),
        ("setresuid", 5),
        ("umask", 0o077),
        ("chdir", "/tmp"),
    ]


def test_cwd_failure_names_the_field():
    from minke.runtime.init import finalize_process

    sys = RecordingSyscalls()
    sys.fail["chdir"] = FileNotFoundError(2, "No such file or directory")
    with pytest.raises(InvalidArgument, match="process.cwd /x"):
        finalize_process(parse_process({"args": ["/bin/sh"], "cwd": "/x"}), sys, None)


def test_lookup_uses_the_process_path(tmp_path):
    (tmp_path / "tool").write_text("#!/bin/sh\n")
    (tmp_path / "tool").chmod(0o755)
    assert lookup("tool", [f"PATH=/nonexistent:{tmp_path}"]) == str(tmp_path / "tool")
    with pytest.raises(CommandNotFound, match="executable file not found"):
        lookup("nope-not-here", ["PATH=/nonexistent"])
    with pytest.raises(CommandNotFound, match="no such file"):
        lookup("/no/such", [])


@pytest.mark.parametrize("text,num", [("KILL", 9), ("SIGKILL", 9), ("kill", 9), ("9", 9), ("TERM", 15),
                                      ("SIGUSR1", 10), ("RTMIN", 34), ("RTMIN+2", 36), ("RTMAX-1", 63)])  # fmt: skip
def test_parse_signal(text, num):
    assert parse_signal(text) == num


@pytest.mark.parametrize("text", ["", "SIGNOPE", "0", "65", "RTMIN+40"])
def test_parse_signal_rejects(text):
    with pytest.raises(InvalidArgument):
        parse_signal(text)


def test_parse_flags_like_runc():
    opts, pos = parse_flags(["--bundle=/b", "--pid-file", "/p", "id"], COMMAND_FLAGS["create"], stop_at_positional=False)
    assert opts == {"bundle": "/b", "pid_file": "/p"} and pos == ["id"]
    opts, pos = parse_flags(["-e", "A=1", "--env", "B=2", "-t", "id", "sh", "-c", "x"], COMMAND_FLAGS["exec"], stop_at_positional=True)
    assert opts == {"env": ["A=1", "B=2"], "tty": True} and pos == ["id", "sh", "-c", "x"]
    opts, pos = parse_flags(["id", "--force"], COMMAND_FLAGS["delete"], stop_at_positional=False)
    assert opts == {"force": True} and pos == ["id"]
    with pytest.raises(Usage, match="not defined"):
        parse_flags(["--nope", "id"], COMMAND_FLAGS["start"], stop_at_positional=False)
    with pytest.raises(Usage, match="needs an argument"):
        parse_flags(["--bundle"], COMMAND_FLAGS["create"], stop_at_positional=False)


def test_cli_errors_are_one_line_exit_1(tmp_path, capfd):
    from minke.runtime.cli import main

    assert main(["--root", str(tmp_path), "state", "missing"]) == 1
    assert main(["--root", str(tmp_path), "bogus"]) == 1
    assert main(["--root", str(tmp_path), "start"]) == 1
    assert main(["--root", str(tmp_path), "state", "bad/id"]) == 1
    err = capfd.readouterr().err.splitlines()
    assert len(err) == 4 and "does not exist" in err[0] and "invalid container id" in err[3]
    assert main(["--root", str(tmp_path), "list", "--format", "json"]) == 0
    assert json.loads(capfd.readouterr().out) == []


def test_features_json(capfd):
    from minke.runtime.cli import main

    assert main(["features"]) == 0
    f = json.loads(capfd.readouterr().out)
    assert "user" in f["linux"]["namespaces"] and "poststop" in f["hooks"]
    assert "CAP_SYS_ADMIN" in f["linux"]["capabilities"] and "rbind" in f["mountOptions"]


def test_ids_and_status(tmp_path):
    for bad in ("", ".", "..", "a/b", "a b"):
        with pytest.raises(InvalidArgument):
            st.validate_id(bad)
    root = str(tmp_path)
    st.reserve(root, "c1")
    from minke.errors import AlreadyExists

    with pytest.raises(AlreadyExists):
        st.reserve(root, "c1")
    with pytest.raises(NotFound):
        st.load(root, "c1")  # reserved but never saved
    me = os.getpid()
    rec = {"id": "c1", "pid": me, "start_time": st.proc_start_time(me), "bundle": "/b"}
    st.save(root, rec)
    assert st.status(root, st.load(root, "c1")) == st.RUNNING
    open(os.path.join(root, "c1", "exec.fifo"), "w").close()
    assert st.status(root, rec) == st.CREATED
    os.unlink(os.path.join(root, "c1", "exec.fifo"))
    assert st.status(root, dict(rec, paused=True)) == st.PAUSED
    # Same pid, another start time: a different process, so the container is gone.
    assert st.status(root, dict(rec, start_time=rec["start_time"] + 1)) == st.STOPPED
    out = st.oci_state(root, dict(rec, start_time=0))
    assert out["status"] == "stopped" and out["pid"] == 0 and out["ociVersion"]
    assert st.list_ids(root) == ["c1"]


def test_hooks_get_state_and_fail_loudly(tmp_path):
    log = tmp_path / "log"
    ok = {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {log}; echo $X >> {log}"], "env": ["X=1"]}
    run_hooks("prestart", [ok], {"id": "c", "pid": 1})
    assert log.read_text() == '{"id": "c", "pid": 1}1\n'  # no newline after the json, as runc
    with pytest.raises(HookFailed, match="poststop hook /bin/sh: exit status 3"):
        run_hooks("poststop", [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}], {})
    with pytest.raises(HookFailed, match="timed out"):
        run_hooks("prestart", [{"path": "/bin/sh", "args": ["sh", "-c", "sleep 5"], "timeout": 1}], {})


def test_channel_lines():
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    a, b = Channel(r1, w2), Channel(r2, w1)
    b.send("pid 5")
    b.send("multi\nline")
    assert a.recv() == "pid 5" and a.recv() == "multi line"
    b.close()
    assert a.recv() is None
    a.close()


@pytest.mark.parametrize(
    "line,cls",
    [
        ('time="x" level=error msg="container does not exist"', "NotFound"),
        ("minke-runtime: container with id c already exists", "AlreadyExists"),
        ('time="x" level=error msg="runc create failed: container with given ID already exists"', "AlreadyExists"),
        ("minke-runtime: cannot start a container that has stopped", "FailedPrecondition"),
        ('time="x" level=error msg="container not running"', "FailedPrecondition"),
        ("minke-runtime: process.args: must be a non-empty list of strings", "InvalidArgument"),
        ("something odd", "MinkeError"),
    ],
)
def test_command_runtime_maps_errors(line, cls):
    from minke.runtime.oci import _error, _last_line

    err = _error(_last_line("noise\n" + line + "\n"))
    assert type(err).__name__ == cls
    assert "time=" not in err.message and not err.message.startswith("minke-runtime:")
