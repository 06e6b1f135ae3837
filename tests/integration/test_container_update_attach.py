"""update, attach and exec -it against live busybox containers, on runc and on minke-runtime
(the fixture and its teardown leak checks come from the lifecycle tests)."""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import test_containers_lifecycle as _lifecycle  # noqa: E402

minke = _lifecycle.minke  # the fixture, with its teardown leak checks
_wait_for = _lifecycle._wait_for

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

MB = 1 << 20


def _run(m, *args) -> str:
    cid = m.ok("run", "-d", "--network", "none", *args).strip()
    m.seen.add(cid)
    return cid


def _host_cgroup(cid: str, ctrl: str, name: str) -> str:
    with open(f"/sys/fs/cgroup/{ctrl}/minke/{cid}/{name}") as f:
        return f.read().strip()


def _inside(m, cid: str, ctrl: str, name: str) -> str:
    # The container's cgroup namespace shows its own cgroup as the root.
    return m.ok("exec", cid, "cat", f"/sys/fs/cgroup/{ctrl}/{name}").strip()


def _hc(m, ref: str) -> dict:
    return m.inspect(ref)["HostConfig"]


# --- update -------------------------------------------------------------------------------------------


def test_update_running_limits_reach_the_cgroup_and_inspect(minke):
    cid = _run(minke, "--name", "up", "--memory", "64m", "busybox", "sleep", "300")
    assert _inside(minke, cid, "memory", "memory.limit_in_bytes") == str(64 * MB)
    # Within the memory+swap already set (twice the memory): --memory alone is fine.
    assert minke.ok("update", "--memory", "96m", "up") == "up\n"
    assert _inside(minke, cid, "memory", "memory.limit_in_bytes") == str(96 * MB)
    assert _host_cgroup(cid, "memory", "memory.limit_in_bytes") == str(96 * MB)
    assert _host_cgroup(cid, "memory", "memory.memsw.limit_in_bytes") == str(128 * MB)
    hc = _hc(minke, "up")
    assert (hc["Memory"], hc["MemorySwap"]) == (96 * MB, 128 * MB)
    # pids, cpu quota, shares; several flags at once; the ID as given is printed.
    assert minke.ok("update", "--pids-limit", "42", "--cpus", "0.5", "--cpu-shares", "512", cid[:12]) == cid[:12] + "\n"
    assert _inside(minke, cid, "pids", "pids.max") == "42"
    assert _inside(minke, cid, "cpu", "cpu.cfs_quota_us") == "50000"
    assert _inside(minke, cid, "cpu", "cpu.cfs_period_us") == "100000"
    assert _inside(minke, cid, "cpu", "cpu.shares") == "512"
    hc = _hc(minke, "up")
    assert (hc["PidsLimit"], hc["NanoCpus"], hc["CpuShares"]) == (42, 500_000_000, 512)
    assert minke.ok("update", "--pids-limit", "-1", "up") == "up\n"
    assert _inside(minke, cid, "pids", "pids.max") == "max"
    # A paused container is updated too.
    minke.ok("pause", "up")
    minke.ok("update", "--memory", "80m", "--memory-swap", "160m", "up")
    minke.ok("unpause", "up")
    assert _host_cgroup(cid, "memory", "memory.limit_in_bytes") == str(80 * MB)
    assert _host_cgroup(cid, "memory", "memory.memsw.limit_in_bytes") == str(160 * MB)


def test_update_stopped_container_applies_at_next_start(minke):
    minke.ok("create", "--network", "none", "--name", "later", "busybox", "sh", "-c",
             "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us"
             " /sys/fs/cgroup/memory/memory.limit_in_bytes")
    minke.ok("update", "--pids-limit", "17", "--cpu-period", "50000", "--cpu-quota", "20000",
             "--memory", "40m", "--memory-swap", "80m", "later")
    hc = _hc(minke, "later")
    assert (hc["PidsLimit"], hc["CpuPeriod"], hc["CpuQuota"], hc["Memory"], hc["MemorySwap"]) == (17, 50000, 20000, 40 * MB, 80 * MB)
    r = minke("start", "-a", "later")
    assert (r.returncode, r.stdout.split()) == (0, ["17", "20000", "50000", str(40 * MB)]), r.stderr
    # And after it exited, for the start after that.
    minke.ok("update", "--pids-limit", "18", "later")
    assert minke("start", "-a", "later").stdout.split()[0] == "18"


def test_update_errors_are_dockers(minke):
    cid = _run(minke, "--name", "err", "busybox", "sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=24 2>/dev/null; sleep 300")
    # No memory limit yet: a memory limit alone is above the (unlimited) memory+swap.
    r = minke("update", "--memory", "64m", "err")
    assert r.returncode == 1
    assert r.stderr == (f"Error response from daemon: Cannot update container {cid}: Memory limit should be smaller "
                        "than already set memoryswap limit, update the memoryswap at the same time\n")
    r = minke("update", "--memory", "64m", "--memory-swap", "32m", "err")
    assert r.returncode == 1 and "memoryswap limit should be larger than memory limit" in r.stderr
    r = minke("update", "--memory", "1m", "--memory-swap", "2m", "err")
    assert r.returncode == 1 and "minimum memory limit allowed is 6MB" in r.stderr
    # Below what the container uses (tmpfs pages, no swap to push them to): the kernel
    # refuses, and nothing changes.
    _wait_for(lambda: int(_host_cgroup(cid, "memory", "memory.usage_in_bytes")) > 20 * MB, what="the tmpfs filled")
    r = minke("update", "--memory", "8m", "--memory-swap", "16m", "err")
    assert r.returncode == 1
    assert r.stderr.startswith(f"Error response from daemon: Cannot update container {cid}: ")
    assert "unable to set memory limit to 8388608" in r.stderr or "device or resource busy" in r.stderr, r.stderr
    assert (_hc(minke, "err")["Memory"], _hc(minke, "err")["MemorySwap"]) == (0, 0)
    assert int(_host_cgroup(cid, "memory", "memory.limit_in_bytes")) > 1 << 60
    # Unknown container among good ones: the good are updated and named, exit 1.
    r = minke("update", "--pids-limit", "30", "nosuch", "err")
    assert (r.returncode, r.stdout) == (1, "err\n")
    assert r.stderr == "Error response from daemon: No such container: nosuch\n"
    assert _host_cgroup(cid, "pids", "pids.max") == "30"
    r = minke("update", "err")
    assert (r.returncode, r.stderr) == (1, "you must provide one or more flags when using this command\n")
    r = minke("update", "--memory", "lots", "err")
    assert r.returncode == 125 and 'invalid argument "lots" for "-m, --memory" flag' in r.stderr
    r = minke("update", "--cpus", "0.5", "--cpu-quota", "20000", "err")
    assert r.returncode == 1 and "conflicting options" in r.stderr.lower()


def test_update_restart_policy(minke):
    minke.ok("run", "-d", "--network", "none", "--name", "rs", "busybox", "sh", "-c", "sleep 1; exit 3")
    minke.ok("update", "--restart", "on-failure:2", "rs")
    assert _hc(minke, "rs")["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    # The policy in force when the container exits is the updated one.
    _wait_for(lambda: minke.inspect("rs")["RestartCount"] == 2 and not minke.inspect("rs")["State"]["Running"],
              timeout=20, what="two restarts")
    assert minke.inspect("rs")["State"]["ExitCode"] == 3
    minke.ok("create", "--rm", "--network", "none", "--name", "gone", "busybox", "true")
    r = minke("update", "--restart", "always", "gone")
    assert r.returncode == 1 and "Restart policy cannot be updated because AutoRemove is enabled" in r.stderr


def test_runtime_update_command_directly(minke, tmp_path):
    """The runtime's own update (runc's, or minke-runtime's with the same flags)."""
    cid = _run(minke, "busybox", "sleep", "300")
    if minke.runtime == "runc":
        argv = ["runc", "--root", os.path.join(minke.run_root, "runtime", "runc")]
    else:
        argv = [os.path.join(os.path.dirname(sys.executable), "minke-runtime"), "--root",
                os.path.join(minke.run_root, "runtime", "minke")]
    subprocess.run([*argv, "update", "--memory", "50m", "--memory-swap", "100m", "--pids-limit", "9", cid], check=True)
    assert _host_cgroup(cid, "memory", "memory.limit_in_bytes") == str(50 * MB)
    assert _host_cgroup(cid, "pids", "pids.max") == "9"
    r = subprocess.run([*argv, "update", "-r", "-", cid], input=json.dumps({"pids": {"limit": 11}}), text=True)
    assert r.returncode == 0
    assert _host_cgroup(cid, "pids", "pids.max") == "11"
    assert _host_cgroup(cid, "memory", "memory.limit_in_bytes") == str(50 * MB)  # left alone
    r = subprocess.run([*argv, "update", "--pids-limit", "5", "nosuch"], capture_output=True, text=True)
    assert r.returncode != 0


# --- attach -------------------------------------------------------------------------------------------


def _read_until(p: subprocess.Popen, text: str, timeout: float = 10.0) -> str:
    out = ""
    fd = p.stdout.fileno()
    end = time.monotonic() + timeout
    while text not in out and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            chunk = os.read(fd, 4096).decode(errors="replace")
            if not chunk:
                break
            out += chunk
    assert text in out, out
    return out


def _popen(m, *args: str, stdin=subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen(m.argv(*args), env=m.env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_attach_two_clients_see_the_output_and_get_the_exit_code(minke):
    _run(minke, "--name", "loop", "busybox", "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done")
    a, b = _popen(minke, "attach", "loop"), _popen(minke, "attach", "--no-stdin", "loop")
    try:
        _read_until(a, "tick")
        _read_until(b, "tick")
        # SIGTERM to a client is forwarded (--sig-proxy): the container's pid 1 ignores it.
        a.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert a.poll() is None and minke.inspect("loop")["State"]["Running"]
        minke.ok("kill", "loop")
        assert a.wait(timeout=20) == 137
        assert b.wait(timeout=20) == 137
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_attach_stdin_and_exit_code(minke):
    # -i without -t: our stdin goes to the container's; its end does not close the
    # container's stdin (not StdinOnce), so cat keeps running.
    _run(minke, "-i", "--name", "cat1", "busybox", "cat")
    p = _popen(minke, "attach", "cat1", stdin=subprocess.PIPE)
    try:
        p.stdin.write(b"hello\n")
        p.stdin.flush()
        _read_until(p, "hello\n")
        p.stdin.close()
        time.sleep(0.3)
        assert p.poll() is None and minke.inspect("cat1")["State"]["Running"]
        minke.ok("kill", "cat1")
        assert p.wait(timeout=20) == 137
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    # The container's exit code is attach's.
    _run(minke, "-i", "--name", "rd", "busybox", "sh", "-c", "read x; echo got $x; exit 5")
    r = minke("attach", "rd", input="abc\n")
    assert (r.returncode, r.stdout) == (5, "got abc\n"), r.stderr
    # --no-stdin: nothing of ours reaches it.
    _run(minke, "-i", "--name", "rd2", "busybox", "sh", "-c", "read x; echo got $x; exit 6")
    p = _popen(minke, "attach", "--no-stdin", "rd2", stdin=subprocess.PIPE)
    p.stdin.write(b"abc\n")
    p.stdin.close()
    time.sleep(0.5)
    assert p.poll() is None
    minke.ok("kill", "rd2")
    assert p.wait(timeout=20) == 137
    assert p.stdout.read() == b""


def test_attach_refuses_a_stopped_or_paused_container(minke):
    minke.ok("create", "--network", "none", "--name", "idle", "busybox", "true")
    r = minke("attach", "idle")
    assert (r.returncode, r.stderr) == (1, "You cannot attach to a stopped container, start it first\n")
    minke.ok("start", "idle")
    minke.ok("wait", "idle")
    assert minke("attach", "idle").returncode == 1
    _run(minke, "--name", "zz", "busybox", "sleep", "300")
    minke.ok("pause", "zz")
    r = minke("attach", "zz")
    assert (r.returncode, r.stderr) == (1, "You cannot attach to a paused container, unpause it first\n")
    minke.ok("unpause", "zz")
    r = minke("attach", "nosuch")
    assert (r.returncode, r.stderr) == (1, "Error response from daemon: No such container: nosuch\n")


def _pty(minke, args, steps, rows=33, cols=101, wait=20.0):
    """Run ``minke ARGS`` on a new pty; each step, one per 0.8 s, is bytes to type or a
    function of the master fd; return (output, exit code)."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - child
        os.execve(sys.executable, minke.argv(*args), minke.env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    out, code = b"", None
    pending = list(steps)
    end = time.monotonic() + wait
    next_step = time.monotonic() + 1.2
    while time.monotonic() < end:
        if pending and time.monotonic() >= next_step:
            step = pending.pop(0)
            if callable(step):
                step(fd)
            else:
                os.write(fd, step)
            next_step = time.monotonic() + 0.8
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                pass
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            break
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    os.close(fd)
    return out.decode(errors="replace"), code


def _resize(rows: int, cols: int):
    def step(fd: int) -> None:
        # The kernel sends SIGWINCH to the terminal's foreground process group: the CLI.
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return step


def test_attach_terminal_detach_keys_leave_it_running(minke):
    _run(minke, "-it", "--name", "tt", "busybox", "sh")
    out, code = _pty(minke, ["attach", "tt"], [b"echo hel''lo; stty size\r", b"\x10\x11"])
    assert code == 1, out
    assert "hello" in out and "33 101" in out and "read escape sequence" in out
    assert minke.inspect("tt")["State"]["Running"] is True
    # Other keys: Ctrl-P Ctrl-Q reach the shell (history, XON; Ctrl-U clears the line).
    out, code = _pty(minke, ["attach", "--detach-keys", "ctrl-x,y", "tt"], [b"\x10\x11", b"\x15", b"\x18y"])
    assert code == 1 and "read escape sequence" in out, out
    assert minke.inspect("tt")["State"]["Running"] is True
    # A terminal container with stdin needs our stdin to be a terminal.
    r = minke("attach", "tt", input="")
    assert (r.returncode, r.stderr) == (1, "the input device is not a TTY\n")
    # Attached again, the shell's exit is attach's exit code.
    out, code = _pty(minke, ["attach", "tt"], [b"exit 3\r"])
    assert code == 3, out
    _wait_for(lambda: not minke.inspect("tt")["State"]["Running"], what="tt exited")


# --- exec -it -----------------------------------------------------------------------------------------


def test_exec_terminal_follows_resize_and_detaches(minke):
    cid = _run(minke, "busybox", "sleep", "300")
    out, code = _pty(minke, ["exec", "-it", cid, "sh"],
                     [b"stty size\r", _resize(40, 120), b"stty size\r", b"echo mar''ker\r", b"\x10\x11"])
    assert code == 1, out
    assert "33 101" in out and "40 120" in out and "marker" in out, out
    assert "read escape sequence" in out
    # The shell runs on after the detach.
    assert "sh" in minke.ok("exec", cid, "ps", "-o", "comm").split()
    out, code = _pty(minke, ["exec", "-it", "--detach-keys", "ctrl-a", cid, "sh"], [b"\x01"])
    assert code == 1 and "read escape sequence" in out, out
    # Without -i there is no stdin, so no detach keys; the exit code passes through.
    out, code = _pty(minke, ["exec", "-t", cid, "sh", "-c", "stty size; exit 4"], [])
    assert code == 4 and "33 101" in out, out
    # Whatever held the detached shells' terminals goes with the container.
    minke.ok("rm", "-f", cid)
    _wait_for(lambda: not _lifecycle._processes_mentioning(cid), what="the detached exec's holders to exit")
