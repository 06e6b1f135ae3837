"""Lifecycle through the command line, on minke-runtime and runc: create, start, state,
kill, delete, exec, pause, illegal transitions and bad input (nothing may be left behind)."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from runtime_bundle import RUNTIMES, Driver, default_config, make_rootfs, read_pty, write_bundle

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory):
    return make_rootfs(str(tmp_path_factory.mktemp("busybox") / "rootfs"))


@pytest.fixture(params=sorted(RUNTIMES))
def rt(request, tmp_path):
    d = Driver(request.param, str(tmp_path / "state"))
    yield d
    d.cleanup()


def bundle(tmp_path, rootfs, args, name="bundle", **linux):
    cfg = default_config(args)
    cfg["linux"].update(linux)
    return write_bundle(str(tmp_path / name), rootfs, cfg)


def wait_status(rt, cid, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        s = rt.state(cid)["status"]
        if s == want or time.monotonic() > deadline:
            return s
        time.sleep(0.01)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_create_start_state_kill_delete(rt, tmp_path, rootfs):
    b = bundle(tmp_path, rootfs, ["sleep", "30"])
    cid = rt.new_id()
    pid_file = tmp_path / "pid"
    rt("create", "--bundle", b, "--pid-file", str(pid_file), cid)
    st = rt.state(cid)
    assert st["status"] == "created" and st["id"] == cid and st["bundle"] == b
    assert int(pid_file.read_text()) == st["pid"] > 0
    # The init waits in the runtime's own code until start: not yet the user's program.
    with open(f"/proc/{st['pid']}/cmdline", "rb") as f:
        assert b"sleep" not in f.read()
    listed = json.loads(rt("list", "--format", "json").stdout)
    assert [c["id"] for c in listed] == [cid]
    rt("start", cid)
    assert rt.state(cid)["status"] == "running"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(f"/proc/{st['pid']}/cmdline", "rb") as f:
            if f.read().startswith(b"sleep"):
                break
        time.sleep(0.01)
    else:
        pytest.fail("the container never exec'd its process")
    rt("kill", cid, "KILL")  # pid 1 of a pid namespace ignores TERM without a handler
    assert wait_status(rt, cid, "stopped") == "stopped"
    assert rt.state(cid)["pid"] == 0
    rt("delete", cid)
    assert not alive(st["pid"])
    assert rt("state", cid, check=False).returncode == 1
    assert os.listdir(rt.root) == []


@pytest.mark.parametrize("sig", ["KILL", "SIGKILL", "9"])
def test_kill_signal_spellings(rt, tmp_path, rootfs, sig):
    b = bundle(tmp_path, rootfs, ["sleep", "30"])
    cid = rt.new_id()
    rt("run", "--detach", "--bundle", b, cid)
    rt("kill", cid, sig)
    assert wait_status(rt, cid, "stopped") == "stopped"
    rt("delete", cid)


def test_illegal_transitions(rt, tmp_path, rootfs):
    b = bundle(tmp_path, rootfs, ["sleep", "30"])
    cid = rt.new_id()
    rt("create", "--bundle", b, cid)
    rt("start", cid)
    p = rt("start", cid, check=False)  # start twice
    assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1
    p = rt("delete", cid, check=False)  # delete a running one without --force
    assert p.returncode == 1 and "running" in p.stderr
    assert rt.state(cid)["status"] == "running"
    pid = rt.state(cid)["pid"]
    rt("kill", cid, "KILL")
    wait_status(rt, cid, "stopped")
    p = rt("kill", cid, "KILL", check=False)  # kill a stopped one
    assert p.returncode == 1 and "not running" in p.stderr
    p = rt("start", cid, check=False)  # start a stopped one
    assert p.returncode == 1 and "stopped" in p.stderr
    rt("delete", cid)
    assert not alive(pid)


def test_delete_force_kills_a_running_container(rt, tmp_path, rootfs):
    b = bundle(tmp_path, rootfs, ["sleep", "30"])
    cid = rt.new_id()
    rt("run", "-d", "--bundle", b, cid)
    pid = rt.state(cid)["pid"]
    rt("delete", "--force", cid)
    assert not alive(pid)
    assert rt("state", cid, check=False).returncode == 1


def test_delete_created_container(rt, tmp_path, rootfs):
    b = bundle(tmp_path, rootfs, ["true"])
    cid = rt.new_id()
    rt("create", "--bundle", b, cid)
    pid = rt.state(cid)["pid"]
    rt("delete", cid)
    assert not alive(pid)


def test_missing_container(rt):
    for args in (["state", "nope"], ["start", "nope"], ["kill", "nope"], ["delete", "nope"]):
        p = rt(*args, check=False)
        assert p.returncode == 1, args
        assert "does not exist" in p.stderr
    assert rt("delete", "--force", "nope", check=False).returncode == 0


def test_exec_joins_the_container(rt, tmp_path, rootfs):
    cfg = default_config(["sleep", "30"])
    cfg["hostname"] = "exec-host"
    cfg["process"]["env"].append("FROM_CONFIG=1")
    b = write_bundle(str(tmp_path / "bundle"), rootfs, cfg)
    cid = rt.new_id()
    rt("run", "-d", "--bundle", b, cid)
    p = rt("exec", "--env", "EXTRA=2", "--cwd", "/tmp", "--user", "1000:1000", cid,
           "sh", "-c", 'hostname; echo $FROM_CONFIG $EXTRA; pwd; id -u; id -g; tr "\\0" " " < /proc/1/cmdline')  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[:5] == ["exec-host", "1 2", "/tmp", "1000", "1000"]
    assert p.stdout.split("\n")[5] == "sleep 30 "  # sees the container's pid namespace
    p = rt("exec", cid, "sh", "-c", "exit 7", check=False)
    assert p.returncode == 7


def test_exec_process_json_and_detach(rt, tmp_path, rootfs):
    b = bundle(tmp_path, rootfs, ["sleep", "30"])
    cid = rt.new_id()
    rt("run", "-d", "--bundle", b, cid)
    proc = default_config(["sh", "-c", "echo hi > /tmp/marker; sleep 30"])["process"]
    pf = tmp_path / "process.json"
    pf.write_text(json.dumps(proc))
    pid_file = tmp_path / "exec.pid"
    rt("exec", "--detach", "--pid-file", str(pid_file), "--process", str(pf), cid)
    pid = int(pid_file.read_text())
    assert alive(pid)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        p = rt("exec", cid, "cat", "/tmp/marker", check=False)
        if p.stdout == "hi\n":
            break
        time.sleep(0.02)
    assert p.stdout == "hi\n"
    rt("delete", "--force", cid)
    assert not alive(pid)


def test_exec_in_stopped_container_fails(rt, tmp_path, rootfs):
    b = bundle(tmp_path, rootfs, ["true"])
    cid = rt.new_id()
    rt("run", "-d", "--bundle", b, cid)
    wait_status(rt, cid, "stopped")
    p = rt("exec", cid, "true", check=False)
    assert p.returncode != 0
    rt("delete", cid)


def test_run_foreground_deletes_and_forwards_exit(rt, tmp_path, rootfs):
    # No pid namespace: as its pid 1 the shell could not be killed from inside.
    b = bundle(tmp_path, rootfs, ["sh", "-c", "kill -9 $$"], namespaces=[{"type": t} for t in ("ipc", "uts", "mount")])
    p = rt.run(b)
    assert p.returncode == 128 + signal.SIGKILL
    assert json.loads(rt("list", "--format", "json").stdout or "[]") in ([], None)


def test_pause_resume(rt, tmp_path, rootfs):
    b = bundle(tmp_path, rootfs, ["sleep", "30"])
    cid = rt.new_id()
    rt("run", "-d", "--bundle", b, cid)
    rt("pause", cid)
    assert rt.state(cid)["status"] == "paused"
    pid = rt.state(cid)["pid"]
    with open(f"/proc/{pid}/stat") as f:
        assert f.read().rsplit(")", 1)[1].split()[0] in ("D", "S")
    p = rt("delete", cid, check=False)
    assert p.returncode == 1
    rt("resume", cid)
    assert rt.state(cid)["status"] == "running"
    assert rt("resume", cid, check=False).returncode == 1
    rt("delete", "--force", cid)
    assert not alive(pid)


def test_ps_lists_the_container_processes(rt, tmp_path, rootfs):
    b = bundle(tmp_path, rootfs, ["sleep", "30"])
    cid = rt.new_id()
    rt("run", "-d", "--bundle", b, cid)
    pid = rt.state(cid)["pid"]
    assert json.loads(rt("ps", "--format", "json", cid).stdout) == [pid]
    out = rt("ps", cid).stdout.splitlines()
    assert out[0].split()[1] == "PID" and len(out) == 2 and "sleep 30" in out[1]
    rt("delete", "--force", cid)


# --- bad input: one line, exit 1, nothing left --------------------------------------------


def _nothing_left(rt, cid):
    assert rt("state", cid, check=False).returncode == 1
    assert not os.path.exists(os.path.join(rt.root, cid))
    with open("/proc/self/mountinfo") as f:
        assert cid not in f.read()
    for d in ("/sys/fs/cgroup/pids/minke", "/sys/fs/cgroup/memory/minke"):
        if os.path.isdir(d):
            assert cid not in os.listdir(d)


@pytest.mark.parametrize(
    "mutate,words",
    [
        (lambda c: c["process"].update(args="sh"), "args"),
        (lambda c: c["linux"]["namespaces"].append({"type": "bogus"}), "namespace"),
        (lambda c: c.pop("root"), "root"),
        (lambda c: c["process"].update(capabilities={"bounding": ["CAP_NOPE"]}), "CAP_NOPE"),
        (lambda c: c["process"]["user"].update(uid="0"), "uid"),
    ],
    ids=["args-not-list", "bad-namespace", "no-root", "bad-cap", "uid-string"],
)
def test_bad_config_json(rt, tmp_path, rootfs, mutate, words):
    cfg = default_config(["true"])
    cfg["root"]["path"] = rootfs
    mutate(cfg)
    b = tmp_path / "bundle"
    b.mkdir()
    (b / "config.json").write_text(json.dumps(cfg))
    cid = rt.new_id()
    if rt.name == "runc" and words == "CAP_NOPE":
        pytest.xfail("runc 1.1 only warns about an unknown capability")
    p = rt("create", "--bundle", str(b), cid, check=False)
    assert p.returncode == 1
    if rt.name == "minke":
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and words.lower() in lines[0].lower(), p.stderr
    _nothing_left(rt, cid)


def test_invalid_json(rt, tmp_path):
    b = tmp_path / "bundle"
    b.mkdir()
    (b / "config.json").write_text("{not json")
    cid = rt.new_id()
    p = rt("create", "--bundle", str(b), cid, check=False)
    assert p.returncode == 1
    _nothing_left(rt, cid)


def test_nonexistent_bundle(rt, tmp_path):
    cid = rt.new_id()
    p = rt("create", "--bundle", str(tmp_path / "nope"), cid, check=False)
    assert p.returncode == 1 and p.stderr.strip()
    _nothing_left(rt, cid)


def test_missing_executable(rt, tmp_path, rootfs):
    b = bundle(tmp_path, rootfs, ["/no/such/program"])
    cid = rt.new_id()
    p = rt("create", "--bundle", b, cid, check=False)
    assert p.returncode == 1 and "no such file" in p.stderr.lower()
    _nothing_left(rt, cid)


def test_id_in_use(rt, tmp_path, rootfs):
    b = bundle(tmp_path, rootfs, ["sleep", "30"])
    cid = rt.new_id()
    rt("create", "--bundle", b, cid)
    first = rt.state(cid)
    p = rt("create", "--bundle", b, cid, check=False)
    assert p.returncode == 1 and "exists" in p.stderr
    assert rt.state(cid) == first  # the first one is untouched
    rt("delete", cid)
    _nothing_left(rt, cid)


def test_exec_tty_over_console_socket(rt, tmp_path, rootfs):
    import array
    import socket

    b = bundle(tmp_path, rootfs, ["sleep", "30"])
    cid = rt.new_id()
    rt("run", "-d", "--bundle", b, cid)
    sock_path = str(tmp_path / "c.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    rt("exec", "-d", "--tty", "--console-socket", sock_path, cid, "sh", "-c", "tty; echo done; sleep 1")
    conn, _ = srv.accept()
    fds = array.array("i")
    _, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(fds.itemsize))
    fds.frombytes(anc[0][2][: fds.itemsize])
    conn.close()
    srv.close()
    out = b""
    while b"done" not in out:
        try:
            chunk = os.read(fds[0], 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(fds[0])
    assert out.decode().startswith("/dev/pts/"), out
    rt("delete", "--force", cid)


def test_run_terminal_without_console_socket(rt, tmp_path, rootfs):
    """``run`` in the foreground gives a terminal container a pty and copies its output.

    runc may exit before its copier drained the container's pty when the host is busy
    (the tail of the output is lost, never wrong): up to three runs, each checked whole."""
    import fcntl
    import subprocess
    import termios

    cfg = default_config(["sh", "-c", "tty; stty size; echo done"])
    cfg["process"]["terminal"] = True
    b = write_bundle(str(tmp_path / "bundle"), rootfs, cfg)

    def ctty():  # the runtime needs a controlling terminal, as under a real shell
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    for _attempt in range(3):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, b"\x11\x00\x22\x00\x00\x00\x00\x00")  # 17 rows, 34 cols
        p = subprocess.Popen([rt.binary, "--root", rt.root, "run", "--bundle", b, rt.new_id()],
                             stdin=slave, stdout=slave, stderr=slave, preexec_fn=ctty)  # fmt: skip
        os.close(slave)
        out = read_pty(master)
        assert p.wait(timeout=20) == 0, out
        os.close(master)
        text = out.decode(errors="replace")
        assert text.startswith("/dev/pts/"), text
        # runc has also been seen to give stty an error instead of the size.
        if "done" in text and "17 34" in text:
            break
    if rt.name == "runc" and "stty: standard input: No child processes" in text:
        # Seen in full suite runs on a fresh clone, all three tries alike, never alone:
        # runc's own pty copy, not something minke-runtime does (its variant is checked).
        pytest.xfail("runc: busybox stty got ECHILD on the pty runc made, three times")
    assert "/dev/pts/" in text and "17 34" in text and "done" in text, text
