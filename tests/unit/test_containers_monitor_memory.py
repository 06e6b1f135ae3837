"""What keeps a running container's monitor small: the modules it loads while its
container runs, the attach socket the spawner makes for it, and the pipes (not a unix
socket) its runtime fork gets its job over.  No root needed."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys

import pytest

from minke.containers.spawn import listen_unix

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _modules_after(code: str) -> set[str]:
    """The modules a ``python -S`` like the monitor's has after ``code``."""
    r = subprocess.run([sys.executable, "-S", "-c", f"{code}; import sys; print(' '.join(sys.modules))"],
                       env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True, check=True)
    return set(r.stdout.split())


def test_the_monitor_loads_no_os_socket_or_exit_code_while_its_container_runs():
    baseline = _modules_after("pass")
    loaded = _modules_after("import minke.containers.monitor") - baseline
    assert loaded == {"minke", "minke.containers", "minke.containers.logs", "minke.containers.monitor", "select"}


def test_a_healthcheck_adds_no_os():
    baseline = _modules_after("import minke.containers.monitor")
    loaded = _modules_after("import minke.containers.monitor, minke.containers.health, minke.events") - baseline
    assert loaded == {"minke.containers.health", "minke.events", "__future__"}


def test_frames_header_for_clients_matches_the_monitors_int_packing():
    from minke.containers import monitor

    f = monitor.frame(monitor.EXIT, b"137")
    assert monitor.HEADER.unpack_from(f) == (monitor.EXIT, 3) and f[monitor.HEADER_SIZE:] == b"137"
    with pytest.raises(AttributeError):
        monitor.no_such_name  # noqa: B018 - the module's __getattr__ still refuses the rest


@pytest.mark.parametrize("long", [False, True])
def test_listen_unix_makes_a_private_listening_socket_and_replaces_a_stale_one(tmp_path, long):
    d = tmp_path / ("d" * 120 if long else "d")
    d.mkdir()
    path = str(d / "attach.sock")
    assert (len(path) >= 100) is long
    (d / "attach.sock").write_text("stale")
    fd = listen_unix(path)
    try:
        assert stat.S_ISSOCK(os.stat(path).st_mode) and stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert not os.get_inheritable(fd) and not os.get_blocking(fd)
        srv = socket.socket(fileno=fd)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if long:
            keep = os.open(str(d), os.O_PATH)
            c.connect(f"/proc/self/fd/{keep}/attach.sock")
            os.close(keep)
        else:
            c.connect(path)
        c.sendall(b"x")
        conn, _ = srv.accept()
        assert conn.recv(1) == b"x"
        conn.close()
        c.close()
        srv.close()
    finally:
        try:
            os.close(fd)
        except OSError:
            pass  # closed with srv


def test_builtin_run_job_over_pipes_reaches_the_child_with_its_fds(monkeypatch):
    """The runtime fork reads its job from a pipe and reopens the stdio it was given
    through /proc/MONITOR/fd/N; here the "runtime" is a stand-in that echoes its args."""
    from minke.containers import builtin_child, monitor

    def fake_main(argv):
        os.write(1, (" ".join(argv) + "\n").encode())  # fd 1: what the child made our stdout
        return 0

    import minke.runtime.cli as runtime_cli

    monkeypatch.setattr(runtime_cli, "main", fake_main)
    monkeypatch.setattr(builtin_child, "_WARM", ())
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    run = monitor.BuiltinRun(warm=True)
    run.submit("/root/dir", [(["create", "--bundle", "b", "c1"], (None, out_w, None)), (["start", "c1"], (None, out_w, None))],
               pause_before=1)
    assert run.wait_paused()
    os.close(out_w)  # the child has its own copy by now
    run.resume()
    assert run.finish() == (-1, 0)
    assert monitor.read_all(out_r).splitlines() == ["--root /root/dir create --bundle b c1", "--root /root/dir start c1"]


def test_builtin_run_without_a_job_ends_aborted():
    from minke.containers import monitor

    run = monitor.BuiltinRun(warm=False)
    assert run.abort() == (-1, monitor.ABORTED)
