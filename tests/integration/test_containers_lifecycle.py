"""Containers end to end, as root, through the ``minke`` command: run, the monitor, logs,
the lifecycle, ps/inspect, concurrency and faults.  Every test runs against runc and
against minke's own runtime (skipped while ``minke-runtime`` cannot run a container).

Each test has a private root and run dir; teardown force-removes every container and
checks nothing is left: no mounts under the roots, no monitor or container processes, no
cgroups of its containers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time

import pytest

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

PY = sys.executable
RUNC = shutil.which("runc")


def _minke_runtime_works() -> bool:
    exe = os.path.join(os.path.dirname(PY), "minke-runtime")
    if not os.access(exe, os.X_OK):
        return False
    try:
        return subprocess.run([exe, "--help"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


RUNTIMES = [
    pytest.param("runc", marks=pytest.mark.skipif(RUNC is None, reason="runc not installed")),
    pytest.param("minke", marks=pytest.mark.skipif(not _minke_runtime_works(), reason="minke-runtime not usable yet")),
]


def _busybox_tar(path: str) -> None:
    """A busybox rootfs as a tar: /bin/busybox, applet links, passwd/group, a non-exec file."""
    applets = ["sh", "true", "false", "echo", "sleep", "cat", "id", "hostname", "ls", "env",
               "touch", "grep", "head", "pwd", "seq", "yes", "wc", "printf", "kill", "ps", "trap", "tr"]
    with tarfile.open(path, "w") as tar:
        for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root", "home", "data"):
            ti = tarfile.TarInfo(d)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(ti)
        tar.add("/bin/busybox", "bin/busybox")
        for a in applets:
            ti = tarfile.TarInfo(f"bin/{a}")
            ti.type = tarfile.SYMTYPE
            ti.linkname = "busybox"
            tar.addfile(ti)
        for name, text in (
            ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"),
            ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
            ("bin/notexec", "#!/bin/sh\necho no\n"),
        ):
            data = text.encode()
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            import io

            tar.addfile(ti, io.BytesIO(data))


class Minke:
    def __init__(self, root: str, run_root: str, runtime: str) -> None:
        self.root = root
        self.run_root = run_root
        self.runtime = runtime
        self.env = dict(os.environ, MINKE_ROOT=root, MINKE_RUN_ROOT=run_root, MINKE_RUNTIME=runtime)

    def argv(self, *args: str) -> list[str]:
        return [PY, "-m", "minke", *args]

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        p = subprocess.Popen(self.argv(*args), env=self.env, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = p.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            diag = self.diagnose(p.pid)
            p.kill()
            p.communicate()
            raise AssertionError(f"minke {' '.join(args)} timed out\n{diag}") from None
        return subprocess.CompletedProcess(p.args, p.returncode, out, err)

    def diagnose(self, cli_pid: int) -> str:
        """What a hung command and the monitors are doing: their kernel wait channels,
        Python stacks are not reachable from here, and the monitors' logs."""
        lines = []
        for pid in [cli_pid] + _processes_mentioning(self.run_root):
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ")[:160].decode()
                wchan = open(f"/proc/{pid}/wchan").read()
                stack = open(f"/proc/{pid}/stack").read().splitlines()[:4]
            except OSError:
                continue
            lines.append(f"{pid} {wchan} {cmd} {stack}")
        cdir = os.path.join(self.run_root, "containers")
        for cid in os.listdir(cdir) if os.path.isdir(cdir) else []:
            for name in ("monitor.log",):
                path = os.path.join(cdir, cid, name)
                if os.path.exists(path):
                    lines.append(f"{cid[:12]} {name}: {open(path).read()[-2000:]}")
        return "\n".join(lines)

    def ok(self, *args: str, **kw) -> str:
        r = self(*args, **kw)
        assert r.returncode == 0, f"minke {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r.stdout

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args), env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def wait_running(self, p: subprocess.Popen, name: str) -> None:
        """Wait until the container ``name`` that the foreground ``p`` runs is running;
        a ``p`` that ended first fails the test with what it said."""
        def running() -> bool:
            if p.poll() is not None:
                raise AssertionError(f"minke run of {name} exited {p.returncode}: {p.stderr.read().strip()[-500:]}")
            return name in self.ok("ps", "--format", "{{.Names}}").split()

        _wait_for(running, what=f"{name} running")

    def inspect(self, ref: str) -> dict:
        return json.loads(self.ok("container", "inspect", ref))[0]

    def ids(self) -> list[str]:
        return self.ok("ps", "-a", "-q", "--no-trunc").split()


def _mounts_under(*paths: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if any(p.startswith(x) for x in paths)]


def _processes_mentioning(text: str) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if text.encode() in cmd and state != b"Z":
            out.append(int(pid))
    return out


def _cgroups_of(cid: str) -> list[str]:
    found = []
    for ctrl in ("memory", "pids", "cpu", "devices", "freezer"):
        p = f"/sys/fs/cgroup/{ctrl}/minke/{cid}"
        if os.path.exists(p):
            found.append(p)
    return found


@pytest.fixture(params=RUNTIMES)
def minke(request, tmp_path):
    root = str(tmp_path / "root")
    run_root = str(tmp_path / "run")
    m = Minke(root, run_root, request.param)
    tar = str(tmp_path / "busybox.tar")
    _busybox_tar(tar)
    # The image engineer's import; an already present busybox is fine too.
    m("import", tar, "busybox:latest")
    if request.param == "minke":
        probe = m("run", "--rm", "busybox", "true")
        if probe.returncode != 0:
            # Never a skip: the built-in runtime is the default and CI must test it.
            pytest.fail(f"minke-runtime cannot run a container: {probe.stderr.strip()[-200:]}")
    seen: set[str] = set()
    m.seen = seen  # type: ignore[attr-defined]
    yield m
    ids = set(m.ids()) | seen
    if ids:
        m("rm", "-f", *ids)
    assert m.ids() == []
    assert _mounts_under(root, run_root) == []
    assert _processes_mentioning(run_root) == []
    for cid in ids:
        assert _cgroups_of(cid) == [], cid


def _wait_for(pred, timeout=10.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# --- run ---------------------------------------------------------------------------------------


def test_run_output_streams_and_exit_codes(minke):
    r = minke("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    r = minke("run", "--rm", "busybox", "nosuchcmd")
    assert r.returncode == 127 and "nosuchcmd" in r.stderr and r.stderr.count("\n") == 1
    r = minke("run", "--rm", "busybox", "/etc/passwd")
    assert r.returncode == 126, r.stderr
    r = minke("run", "--rm", "nosuchimage")
    assert r.returncode == 125
    assert "Unable to find image 'nosuchimage:latest' locally" in r.stderr
    r = minke("run", "--rm", "--memory", "1x", "busybox", "true")
    assert r.returncode == 125 and 'invalid argument "1x"' in r.stderr
    r = minke("run", "--rm", "--cpus", "-1", "busybox", "true")
    assert r.returncode == 125 and "range of cpus" in r.stderr
    r = minke("run", "--rm", "--restart", "sometimes", "busybox", "true")
    assert r.returncode == 125 and "invalid restart policy" in r.stderr
    # --rm removed every container, failed or not.
    assert minke.ids() == []


def test_run_rm_hostname_env_user_workdir(minke, tmp_path):
    assert minke.ok("run", "--rm", "--hostname", "Willy", "busybox", "hostname") == "Willy\n"
    envf = tmp_path / "env"
    envf.write_text("# c\nFROM_FILE=1\n")
    out = minke.ok("run", "--rm", "-e", "A=b", "--env-file", str(envf), "-w", "/tmp", "-u", "nobody",
                   "busybox", "sh", "-c", "echo $A $FROM_FILE $HOME; pwd; id -u; id -g; hostname")
    lines = out.splitlines()
    assert lines[0] == "b 1 /home"
    assert lines[1:4] == ["/tmp", "65534", "65534"]
    assert len(lines[4]) == 12  # the short ID
    r = minke("run", "--rm", "-u", "ghost", "busybox", "true")
    assert r.returncode != 0 and "unable to find user ghost" in r.stderr
    # --entrypoint resets the image's CMD; arguments follow it.
    assert minke.ok("run", "--rm", "--entrypoint", "echo", "busybox", "a", "b") == "a b\n"
    r = minke("run", "--rm", "-i", "busybox", "cat", input="from stdin\n")
    assert (r.returncode, r.stdout) == (0, "from stdin\n")


def test_security_and_resources_seen_from_inside(minke, tmp_path):
    def status(*flags):
        return minke.ok("run", "--rm", *flags, "busybox", "cat", "/proc/self/status")

    st = status()
    assert "CapEff:\t00000000a80425fb" in st
    # The standard signals (1-31) at their defaults and none blocked, as under docker: the
    # monitor ignores SIGINT and SIGHUP, and the runtime must not hand that on (runc's
    # containers show the C library's signal 32 ignored).
    fields = dict(line.split(":\t", 1) for line in st.splitlines() if ":\t" in line)
    assert int(fields["SigIgn"], 16) & 0x7FFFFFFF == 0, fields["SigIgn"]
    assert int(fields["SigBlk"], 16) == 0, fields["SigBlk"]
    assert "Seccomp:\t2" in st
    assert "NoNewPrivs:\t0" in st
    assert "CapEff:\t0000000000000000" in status("--cap-drop", "ALL")
    assert "NoNewPrivs:\t1" in status("--security-opt", "no-new-privileges")
    assert "Seccomp:\t0" in status("--security-opt", "seccomp=unconfined")
    assert "CapEff:\t00000000a80425fb" not in status("--cap-add", "SYS_ADMIN")
    out = minke.ok(
        "run", "--rm", "--memory", "64m", "--pids-limit", "33", "--ulimit", "nofile=100:200",
        "busybox", "sh", "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; ulimit -n; ulimit -Hn",
    )
    assert out.split() == [str(64 << 20), "33", "100", "200"]
    r = minke("run", "--rm", "--read-only", "busybox", "touch", "/x")
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    assert minke.ok("run", "--rm", "--read-only", "--tmpfs", "/tmp", "busybox", "sh", "-c", "touch /tmp/x && echo ok") == "ok\n"
    host = tmp_path / "shared"
    host.mkdir()
    (host / "f").write_text("hello")
    assert minke.ok("run", "--rm", "-v", f"{host}:/data:ro", "busybox", "cat", "/data/f") == "hello"
    r = minke("run", "--rm", "--mount", f"type=bind,source={host},target=/data,readonly", "busybox", "touch", "/data/g")
    assert r.returncode != 0
    out = minke.ok("run", "--rm", "busybox", "sh", "-c", "cat /etc/hostname; grep -c localhost /etc/hosts; ls /dev/shm /dev/mqueue >/dev/null && echo dev")
    assert out.splitlines()[1:] == ["2", "dev"]


# --- detached lifecycle ---------------------------------------------------------------------------------

LOOP = 'echo started; trap "echo bye; exit 0" TERM; while true; do sleep 0.1; done'


def test_detached_logs_stop_start_kill_rm(minke):
    cid = minke.ok("run", "-d", "--name", "web", "--label", "tier=front", "busybox", "sh", "-c", LOOP).strip()
    assert len(cid) == 64
    _wait_for(lambda: "started" in minke.ok("logs", "web"), what="log line")
    ps = minke.ok("ps")
    assert ps.splitlines()[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    assert cid[:12] in ps and "Up " in ps and "web" in ps
    info = minke.inspect("web")
    assert info["Id"] == cid and info["Name"] == "/web" and info["State"]["Running"] is True
    assert info["State"]["Pid"] > 0 and os.path.exists(f"/proc/{info['State']['Pid']}")
    assert info["Path"] == "sh" and info["Args"][0] == "-c"
    assert info["Config"]["Labels"]["tier"] == "front" and os.path.exists(info["LogPath"])
    r = minke("rm", "web")
    assert r.returncode == 1 and "stop the container before removing or force remove" in r.stderr
    t = time.monotonic()
    assert minke.ok("stop", "web") == "web\n"
    assert time.monotonic() - t < 5  # the trap ran: no 10 s wait for SIGKILL
    info = minke.inspect("web")
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 0
    assert info["State"]["FinishedAt"] > info["State"]["StartedAt"]
    logs = minke("logs", "-t", "web")
    assert "bye" in logs.stdout and logs.stdout.split()[0].endswith("Z")
    assert _mounts_under(minke.run_root) == []  # unmounted on stop
    minke.ok("start", "web")
    _wait_for(lambda: minke.ok("logs", "web").count("started") == 2, what="second start")
    assert minke.ok("logs", "--tail", "1", "web") == "started\n"
    minke.ok("kill", "web")
    assert minke.ok("wait", "web") == "137\n"
    assert "Exited (137)" in minke.ok("ps", "-a")
    assert minke.ok("rm", "web") == "web\n"
    r = minke("rm", "web")
    assert r.returncode == 1 and "No such container: web" in r.stderr


def test_rm_force_running_and_restart(minke):
    r = minke("run", "-d", "--name", "a", "busybox", "true")  # Docker wants two characters
    assert r.returncode == 125 and "invalid container name (a)" in r.stderr
    minke.ok("run", "-d", "--name", "aa", "busybox", "sleep", "100")
    pid1 = minke.inspect("aa")["State"]["Pid"]
    minke.ok("restart", "-t", "1", "aa")
    info = minke.inspect("aa")
    assert info["State"]["Running"] and info["State"]["Pid"] != pid1
    minke.ok("rm", "-f", "aa")
    assert minke.ids() == []
    assert not os.path.exists(f"/proc/{pid1}") or open(f"/proc/{pid1}/stat").read().split()[2] == "Z"


def test_ps_filters_formats_rename_and_conflict(minke):
    c1 = minke.ok("create", "--name", "one", "--label", "k=v", "busybox", "true").strip()
    c2 = minke.ok("run", "-d", "--name", "two", "busybox", "sleep", "100").strip()
    r = minke("run", "--name", "three", "busybox", "sh", "-c", "exit 5")
    assert (r.returncode, r.stdout) == (5, "")
    assert minke.ok("ps", "-q") == c2[:12] + "\n"
    assert set(minke.ok("ps", "-aq").split()) == {c1[:12], c2[:12], minke.inspect("three")["Id"][:12]}
    assert minke.ok("ps", "-a", "-q", "--filter", "status=created") == c1[:12] + "\n"
    assert minke.ok("ps", "-a", "-q", "--filter", "exited=5").strip() == minke.inspect("three")["Id"][:12]
    assert minke.ok("ps", "-a", "-q", "--filter", "label=k=v") == c1[:12] + "\n"
    assert minke.ok("ps", "-a", "-q", "--filter", "name=tw") == c2[:12] + "\n"
    assert minke.ok("ps", "-a", "-q", "--filter", f"id={c1[:6]}") == c1[:12] + "\n"
    assert len(minke.ok("ps", "-a", "-q", "--filter", "ancestor=busybox").split()) == 3
    assert minke.ok("ps", "-a", "-q", "-n", "1") == minke.ok("ps", "-a", "-q", "-l")
    assert minke.ok("ps", "-q", "--no-trunc") == c2 + "\n"
    assert minke.ok("ps", "-a", "--format", "{{.Names}}:{{.State}}", "--filter", "name=one") == "one:created\n"
    r = minke("ps", "--filter", "bogus=1")
    assert r.returncode != 0
    # Rename, then the old name is free and the new one taken.
    minke.ok("rename", "one", "uno")
    r = minke("create", "--name", "uno", "busybox", "true")
    assert r.returncode == 125
    assert r.stderr.strip() == (
        f'Error: Conflict. The container name "/uno" is already in use by container "{c1}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    )
    minke.ok("create", "--name", "one", "busybox", "true")
    assert minke.inspect("uno")["Name"] == "/uno"
    assert minke.ok("wait", "three") == "5\n"
    minke.ok("rm", "-f", "two")
    out = minke.ok("container", "prune", "-f")
    assert out.startswith("Deleted Containers:") and "Total reclaimed space" in out
    assert minke.ids() == []


def test_cidfile_and_logs_since(minke, tmp_path):
    cidfile = tmp_path / "cid"
    cid = minke.ok("run", "-d", "--cidfile", str(cidfile), "busybox", "sh", "-c", "echo early; sleep 1.2; echo late").strip()
    assert cidfile.read_text() == cid
    r = minke("run", "-d", "--cidfile", str(cidfile), "busybox", "true")
    assert r.returncode == 125 and "container ID file found" in r.stderr
    assert minke.ok("wait", cid) == "0\n"
    assert minke.ok("logs", cid) == "early\nlate\n"
    stamped = dict(reversed(line.split(" ", 1)) for line in minke.ok("logs", "-t", cid).splitlines())
    assert minke.ok("logs", "--since", stamped["late"], cid) == "late\n"
    assert minke.ok("logs", "--until", stamped["early"], cid) == "early\n"
    assert minke.ok("logs", "--since", "10m", cid) == "early\nlate\n"


def test_run_detached_start_failure_leaves_created(minke):
    r = minke("run", "-d", "--name", "bad", "busybox", "nosuchcmd")
    assert r.returncode == 127
    info = minke.inspect("bad")
    assert info["State"]["Status"] == "created" and info["State"]["ExitCode"] == 127
    assert "nosuchcmd" in info["State"]["Error"]
    assert _mounts_under(minke.root, minke.run_root) == []
    assert _cgroups_of(info["Id"]) == []


# --- the monitor ------------------------------------------------------------------------------------


def _monitor_pid(minke, cid: str) -> int:
    pids = [p for p in _processes_mentioning(cid) if b"minke.containers.monitor" in open(f"/proc/{p}/cmdline", "rb").read()]
    assert len(pids) == 1, pids
    return pids[0]


def test_monitor_killed_is_noticed(minke):
    cid = minke.ok("run", "-d", "busybox", "sleep", "100").strip()
    minke.seen.add(cid)
    init = minke.inspect(cid)["State"]["Pid"]
    os.kill(_monitor_pid(minke, cid), signal.SIGKILL)
    _wait_for(lambda: "Exited" in minke.ok("ps", "-a"), what="ps to notice the dead monitor")
    info = minke.inspect(cid)
    assert info["State"]["Running"] is False and "monitor" in info["State"]["Error"]
    assert _wait_for(lambda: not os.path.exists(f"/proc/{init}") or open(f"/proc/{init}/stat").read().split()[2] == "Z", what="container init gone")
    assert _mounts_under(minke.run_root) == []
    # It can start again.
    minke.ok("start", cid)
    assert minke.inspect(cid)["State"]["Running"] is True


def test_restart_policy_on_failure(minke):
    minke.ok("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo try; exit 1")
    _wait_for(lambda: minke.inspect("flaky")["RestartCount"] == 2 and minke.inspect("flaky")["State"]["Status"] == "exited",
              timeout=20, what="two restarts")
    assert minke.ok("logs", "flaky").count("try") == 3
    assert minke.inspect("flaky")["State"]["ExitCode"] == 1


def test_log_rotation(minke):
    minke.ok("run", "--name", "chatty", "--log-opt", "max-size=2k", "--log-opt", "max-file=2", "busybox", "seq", "1", "2000")
    path = minke.inspect("chatty")["LogPath"]
    assert os.path.exists(path + ".1") and not os.path.exists(path + ".2")
    assert os.path.getsize(path) <= 2048 and os.path.getsize(path + ".1") <= 2048
    with open(path) as f:
        rec = json.loads(f.readline())
    assert set(rec) == {"log", "stream", "time"} and rec["stream"] == "stdout" and rec["log"].endswith("\n")
    assert minke.ok("logs", "--tail", "2", "chatty") == "1999\n2000\n"


# --- concurrency ---------------------------------------------------------------------------------


def test_twenty_concurrent_runs_with_rm_and_name_conflict(minke):
    doomed = [minke.ok("run", "-d", "busybox", "sleep", "100").strip() for _ in range(3)]
    minke.ok("tag", "busybox", "other:tag")
    procs = [minke.popen("run", "-d", "--name", f"c{i}", "busybox", "sleep", "100") for i in range(20)]
    procs.append(minke.popen("rm", "-f", *doomed))
    procs.append(minke.popen("rmi", "other:tag"))  # untagging meanwhile disturbs nobody
    dup = [minke.popen("run", "-d", "--name", "same", "busybox", "sleep", "100") for _ in range(2)]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs + dup]
    for rc, _out, err in results[:22]:
        assert rc == 0, err
    dup_rcs = sorted(r[0] for r in results[22:])
    assert dup_rcs == [0, 125], results[22:]
    assert "is already in use by container" in next(r[2] for r in results[22:] if r[0] == 125)
    # The image they all use cannot go while they exist.
    r = minke("rmi", "busybox")
    assert r.returncode != 0 and "conflict" in r.stderr.lower(), r.stderr
    names = minke.ok("ps", "--format", "{{.Names}}").split()
    assert sorted(names) == sorted([f"c{i}" for i in range(20)] + ["same"])
    assert all(d not in minke.ok("ps", "-a", "-q", "--no-trunc") for d in doomed)


def test_stop_of_several_gives_each_its_grace_period_at_once(minke):
    # `sleep` as PID 1 ignores SIGTERM: each container is killed when its grace period
    # ends.  The periods run side by side (Docker stops them in parallel), so three
    # containers with -t 2 stop in about 2 s, not 6; a name that does not exist is an
    # error of its own, the others stop.
    ids = [minke.ok("run", "-d", "busybox", "sleep", "100").strip() for _ in range(3)]
    t = time.monotonic()
    r = minke("stop", "-t", "2", ids[0], "nosuchcontainer", *ids[1:])
    took = time.monotonic() - t
    assert r.returncode == 1 and "No such container: nosuchcontainer" in r.stderr
    assert r.stdout.split() == ids
    assert took < 5.5, took
    for cid in ids:
        state = minke.inspect(cid)["State"]
        assert state["Status"] == "exited" and state["ExitCode"] == 137
    minke.ok("rm", *ids)


def test_rm_f_of_several_removes_each_and_restarts_none(minke):
    # rm -f of several kills the running ones first (their monitors record the exits side
    # by side), then removes each: a restart policy brings none back, nothing is left.
    ids = [minke.ok("run", "-d", "--restart", "always", "busybox", "sleep", "100").strip() for _ in range(3)]
    ids.append(minke.ok("create", "busybox", "true").strip())
    done = minke.ok("run", "-d", "busybox", "true").strip()
    assert minke.ok("wait", done).strip() == "0"
    ids.append(done)
    assert minke.ok("rm", "-f", *ids).split() == ids
    left = minke.ok("ps", "-a", "-q", "--no-trunc").split()
    assert not set(ids) & set(left), left
    for cid in ids:
        assert _cgroups_of(cid) == []
        assert _processes_mentioning(cid) == []
    assert _mounts_under(minke.root, minke.run_root) == []


def test_foreground_run_rm_removes_and_rm_f_does_not_wait(minke):
    # The CLI of a foreground `run --rm` removes the container once it hears the exit
    # code, and tells the monitor so (the monitor then records nothing): nothing is left,
    # and the events come in Docker's order.
    t0 = int(time.time())
    assert minke("run", "--rm", "--name", "gone", "busybox", "sh", "-c", "exit 3").returncode == 3
    assert minke.ok("ps", "-a", "--filter", "name=gone", "-q") == ""
    actions = minke.ok("events", "--since", str(t0), "--until", str(int(time.time()) + 1),
                       "--filter", "container=gone", "--format", "{{.Action}}").split()
    assert actions == ["create", "start", "die", "destroy"]
    # `rm -f` of one: the `run` cannot take the container's lock (rm -f holds it), so the
    # monitor records the exit and leaves at once rather than wait for a client's
    # removal, which rm -f would wait out (its 10 s for the monitor to go).
    p = minke.popen("run", "--rm", "--name", "fg", "busybox", "sleep", "60")
    minke.wait_running(p, "fg")
    t = time.monotonic()
    minke.ok("rm", "-f", "fg")
    assert time.monotonic() - t < 5
    assert p.wait(timeout=30) == 137
    assert minke.ok("ps", "-a", "--filter", "name=fg", "-q") == ""


# --- terminals --------------------------------------------------------------------------------------


def _in_pty(minke, args, keys: list[bytes], rows=33, cols=101, wait=15.0):
    """Run ``minke ARGS`` on a new pty of the given size, type ``keys`` (one chunk per
    second), return (output, exit code)."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - child
        os.execve(PY, minke.argv(*args), minke.env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    out = b""
    end = time.monotonic() + wait
    pending = list(keys)
    next_key = time.monotonic() + 1.0
    code = None
    while time.monotonic() < end:
        if pending and time.monotonic() >= next_key:
            os.write(fd, pending.pop(0))
            next_key = time.monotonic() + 1.0
        r, _, _ = select.select([fd], [], [], 0.1)
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


def test_interactive_terminal_resize_and_detach(minke):
    out, code = _in_pty(minke, ["run", "-it", "--rm", "busybox", "sh"], [b"echo hel''lo; stty size; exit 7\r"])
    assert code == 7, out
    assert "hello\r\n33 101" in out
    # Ctrl-P Ctrl-Q detaches: the CLI exits 0 and the container keeps running.
    out, code = _in_pty(minke, ["run", "-it", "--name", "bg", "busybox", "sh"], [b"\x10\x11"])
    assert code == 0, out
    assert minke.inspect("bg")["State"]["Running"] is True
    assert minke.inspect("bg")["Config"]["Tty"] is True


# --- foreground signals, follow, attach, a killed CLI ---------------------------------------------------


def test_sig_proxy_logs_follow_and_start_attach(minke):
    p = minke.popen("run", "--name", "fg", "busybox", "sh", "-c",
                    'trap "echo got TERM; exit 9" TERM; echo ready; while true; do sleep 0.1; done')
    _wait_for(lambda: "ready" in minke("logs", "fg").stdout, what="ready")
    follow = minke.popen("logs", "-f", "fg")
    p.send_signal(signal.SIGTERM)  # --sig-proxy (default): the container gets it
    assert p.wait(timeout=20) == 9
    assert "got TERM" in p.stdout.read()
    # logs -f ends when the container stops, having printed everything.
    assert follow.wait(timeout=20) == 0
    assert follow.stdout.read() == "ready\ngot TERM\n"
    # start -a attaches and returns the exit code.
    minke.ok("create", "--name", "att", "busybox", "sh", "-c", "echo attached; exit 4")
    r = minke("start", "-a", "att")
    assert (r.returncode, r.stdout) == (4, "attached\n")
    # --stop-signal / --stop-timeout are honoured.
    minke.ok("run", "-d", "--name", "usr1", "--stop-signal", "USR1", "--stop-timeout", "1", "busybox", "sh", "-c",
             'trap "exit 3" USR1; while true; do sleep 0.1; done')
    minke.ok("stop", "usr1")
    assert minke.inspect("usr1")["State"]["ExitCode"] == 3
    assert minke.inspect("usr1")["Config"]["StopSignal"] == "USR1"


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.5])
def test_cli_killed_mid_run_is_reconciled(minke, delay):
    p = minke.popen("run", "--name", "victim", "busybox", "sleep", "100")
    time.sleep(delay)
    p.kill()
    p.wait()
    time.sleep(0.3)
    r = minke("ps", "-a", "--format", "{{.Names}} {{.State}}")
    assert r.returncode == 0
    states = dict(line.split() for line in r.stdout.splitlines())
    if "victim" in states:
        info = minke.inspect("victim")
        assert info["State"]["Status"] in ("created", "running", "exited")
        if info["State"]["Status"] == "running":
            assert os.path.exists(f"/proc/{info['State']['Pid']}")
            minke.ok("stop", "-t", "0", "victim")
            assert minke.inspect("victim")["State"]["Status"] == "exited"
    # The teardown removes everything and checks nothing is left behind.


def test_oom_killed_recorded(minke):
    r = minke("run", "--name", "oom", "--memory", "8m", "--memory-swap", "8m", "busybox", "sh", "-c",
              'x=$(head -c 50000000 /dev/zero | tr "\\0" a); echo survived')
    assert r.returncode == 137 and "survived" not in r.stdout
    state = minke.inspect("oom")["State"]
    assert state["OOMKilled"] is True and state["ExitCode"] == 137


def test_hello_whale(minke):
    out = minke.ok("run", "--rm", "--hostname", "Willy", "hello-whale")
    assert "Hello from Willy" in out
    assert minke.ids() == []


def test_init_reaps_forwards_and_exits_with_the_command(minke):
    # PID 1 is the init; the command (found in PATH) runs under it and its code is ours.
    out = minke.ok("run", "--rm", "--init", "busybox", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo")
    assert out.startswith("/sbin/docker-init -- /bin/sh")
    r = minke("run", "--rm", "--init", "busybox", "sh", "-c", "exit 6")
    assert r.returncode == 6
    # An orphan exits under the init: reaped, no zombie left.
    out = minke.ok("run", "--rm", "--init", "busybox", "sh", "-c",
                   "(sleep 0.2 &) ; sleep 0.6; grep -l zombie /proc/[0-9]*/status 2>/dev/null | wc -l")
    assert out.strip() == "0"
    # stop's SIGTERM is forwarded: sleep dies at once, no 10 s wait for SIGKILL.
    minke.ok("run", "-d", "--name", "ini", "--init", "busybox", "sleep", "100")
    t = time.monotonic()
    minke.ok("stop", "ini")
    assert time.monotonic() - t < 5
    assert minke.inspect("ini")["State"]["ExitCode"] == 143
