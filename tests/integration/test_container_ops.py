"""exec, pause/unpause, top, port against a live busybox container, on runc and on
minke-runtime (the fixture and its teardown leak checks come from the lifecycle tests)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import test_containers_lifecycle as _lifecycle  # noqa: E402

minke = _lifecycle.minke  # the fixture, with its teardown leak checks

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


def _run(m, *args):
    # --network none: these tests are about the container, not the network code.
    cid = m.ok("run", "-d", "--network", "none", *args).strip()
    m.seen.add(cid)
    return cid


def test_exec_env_user_workdir_exit_code(minke, tmp_path):
    cid = _run(minke, "busybox", "sleep", "60")
    assert minke.ok("exec", cid, "id").strip() == "uid=0(root) gid=0(root)"
    assert minke.ok("exec", "-u", "nobody", cid, "id").strip() == "uid=65534(nobody) gid=65534(nogroup)"
    assert minke.ok("exec", "-u", "1234:5", cid, "id").strip() == "uid=1234 gid=5"
    envf = tmp_path / "env"
    envf.write_text("# comment\nFROMFILE=yes\n")
    r = minke("exec", "-e", "FOO=bar", "--env-file", str(envf), "-w", "/tmp", cid, "sh", "-c", "echo $FOO $FROMFILE; pwd; exit 3")
    assert r.returncode == 3
    assert r.stdout.split() == ["bar", "yes", "/tmp"]
    # stdin only with -i
    assert minke.ok("exec", "-i", cid, "cat", input="hello\n") == "hello\n"
    assert minke.ok("exec", cid, "cat", input="hello\n") == ""


def test_exec_keeps_capabilities_unless_privileged(minke):
    cid = _run(minke, "busybox", "sleep", "60")
    caps = dict(line.split(":\t") for line in minke.ok("exec", cid, "grep", "Cap", "/proc/self/status").splitlines())
    init_caps = dict(line.split(":\t") for line in minke.ok("exec", cid, "grep", "Cap", "/proc/1/status").splitlines())
    assert caps["CapEff"] == init_caps["CapEff"]
    assert caps["CapBnd"] == init_caps["CapBnd"]
    priv = dict(line.split(":\t") for line in minke.ok("exec", "--privileged", cid, "grep", "Cap", "/proc/self/status").splitlines())
    assert int(priv["CapEff"], 16) > int(caps["CapEff"], 16)
    nnp = minke.ok("exec", cid, "grep", "NoNewPrivs", "/proc/self/status").split()[-1]
    assert nnp == minke.ok("exec", cid, "grep", "NoNewPrivs", "/proc/1/status").split()[-1]


def test_exec_errors(minke):
    cid = _run(minke, "busybox", "sleep", "60")
    r = minke("exec", cid, "nope")
    assert r.returncode == 127 and "executable file not found" in r.stderr
    r = minke("exec", cid, "/bin/notexec")
    assert r.returncode == 126
    r = minke("exec", "nosuch", "true")
    assert r.returncode == 1 and r.stderr.strip() == "Error response from daemon: No such container: nosuch"
    minke.ok("pause", cid)
    r = minke("exec", cid, "true")
    assert r.returncode == 1
    assert r.stderr.strip() == f"Error response from daemon: Container {cid} is paused, unpause the container before exec"
    minke.ok("unpause", cid)
    minke.ok("stop", "-t", "0", cid)
    r = minke("exec", cid, "true")
    assert r.returncode == 1
    assert r.stderr.strip() == f"Error response from daemon: Container {cid} is not running"


def test_exec_tty_and_detach(minke):
    cid = _run(minke, "busybox", "sleep", "60")
    r = minke("exec", "-t", cid, "sh", "-c", "tty; exit 5")
    assert r.returncode == 5
    assert r.stdout.strip().startswith("/dev/pts/")
    minke.ok("exec", "-d", cid, "touch", "/tmp/detached")
    import time

    for _ in range(100):
        if minke("exec", cid, "ls", "/tmp/detached").returncode == 0:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("detached exec did not run")


def test_pause_unpause_state_and_top(minke):
    cid = _run(minke, "busybox", "sleep", "60")
    out = minke.ok("top", cid)
    header = out.splitlines()[0].split()
    assert header == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert any(line.endswith("sleep 60") for line in out.splitlines()[1:])
    assert minke.ok("top", cid, "-o", "pid,comm").splitlines()[1].split()[1] == "sleep"
    assert minke.ok("pause", cid).strip() == cid
    d = minke.inspect(cid)
    assert d["State"]["Status"] == "paused" and d["State"]["Paused"] is True
    assert "(Paused)" in minke.ok("ps", "--format", "{{.Status}}")
    r = minke("pause", cid)
    assert r.returncode == 1 and "already paused" in r.stderr
    minke.ok("unpause", cid)
    assert minke.inspect(cid)["State"]["Status"] == "running"
    r = minke("unpause", cid)
    assert r.returncode == 1 and "is not paused" in r.stderr
    # A paused container can be stopped and removed (thawed after the signal).
    minke.ok("pause", cid)
    minke.ok("rm", "-f", cid)


def test_top_pause_not_running_and_unknown(minke):
    cid = minke.ok("create", "--network", "none", "busybox", "true").strip()
    minke.seen.add(cid)
    for cmd in ("top", "pause"):
        r = minke(cmd, cid)
        assert r.returncode == 1 and r.stderr.strip() == f"Error response from daemon: Container {cid} is not running"
        r = minke(cmd, "nosuch")
        assert r.returncode == 1 and r.stderr.strip() == "Error response from daemon: No such container: nosuch"


def test_port_without_mappings(minke):
    cid = _run(minke, "busybox", "sleep", "60")
    assert minke.ok("port", cid) == ""
    r = minke("port", cid, "80")
    assert r.returncode == 1 and "No public port '80/tcp'" in r.stderr


def _mib(text: str) -> float:
    units = {"B": 1 / (1 << 20), "KiB": 1 / 1024, "MiB": 1, "GiB": 1024}
    for u in ("KiB", "MiB", "GiB", "B"):
        if text.endswith(u):
            return float(text[: -len(u)]) * units[u]
    raise AssertionError(text)


def test_stats_sees_64_mib(minke):
    cid = _run(minke, "--tmpfs", "/big:size=100m", "-m", "512m", "busybox", "sh", "-c",
               "head -c 67108864 /dev/zero > /big/f && touch /tmp/done; sleep 60")
    import time

    for _ in range(200):
        if minke("exec", cid, "ls", "/tmp/done").returncode == 0:
            break
        time.sleep(0.05)
    out = minke.ok("stats", "--no-stream")
    lines = out.splitlines()
    import re

    assert re.split(r"\s{2,}", lines[0].strip()) == ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"]
    assert lines[1].startswith(cid[:12])
    usage, limit = minke.ok("stats", "--no-stream", "--format", "{{.MemUsage}}", cid).strip().split(" / ")
    assert _mib(usage) >= 64
    assert _mib(limit) == 512
    pids = minke.ok("stats", "--no-stream", "--format", "{{.PIDs}} {{.Name}} {{.CPUPerc}}", cid).split()
    assert pids[0] == "1" and pids[2].endswith("%")


def test_stats_unknown_container(minke):
    r = minke("stats", "--no-stream", "nosuch")
    assert r.returncode == 1 and r.stderr.strip() == "Error response from daemon: No such container: nosuch"


def test_cp_both_ways_and_no_escape(minke, tmp_path):
    import subprocess
    import tarfile

    cid = _run(minke, "busybox", "sh", "-c", "ln -s / /tmp/up; ln -s ../../ /tmp/up2; mkdir /tmp/d; echo hi > /tmp/d/f; "
               "chown 65534:65534 /tmp/d/f; touch /tmp/ready; sleep 60")
    import time

    for _ in range(100):
        if minke("exec", cid, "ls", "/tmp/ready").returncode == 0:
            break
        time.sleep(0.05)
    out = tmp_path / "out"
    out.mkdir()
    minke.ok("cp", f"{cid}:/tmp/d", str(out))
    assert (out / "d" / "f").read_text() == "hi\n"
    assert (out / "d" / "f").stat().st_uid == 0
    minke.ok("cp", "-a", f"{cid}:/tmp/d/f", str(out / "kept"))
    assert (out / "kept").stat().st_uid == 65534
    # Links to / and ../../ resolve inside the container's root, never the host's.
    minke.ok("cp", f"{cid}:/tmp/up/etc/passwd", str(out / "p1"))
    minke.ok("cp", f"{cid}:/tmp/up2/etc/passwd", str(out / "p2"))
    assert (out / "p1").read_text() == (out / "p2").read_text()
    assert "nobody:x:65534:65534:nobody:/home:/bin/false" in (out / "p1").read_text()
    assert (out / "p1").read_text() != open("/etc/passwd").read()
    minke.ok("cp", f"{cid}:/tmp/up", str(out / "link"))
    assert os.readlink(out / "link") == "/"
    (out / "new").write_text("new\n")
    minke.ok("cp", str(out / "new"), f"{cid}:/tmp/up/etc/")
    assert minke.ok("exec", cid, "cat", "/etc/new") == "new\n"
    assert not os.path.exists("/etc/new")
    minke.ok("cp", str(out / "new"), f"{cid}:/tmp/up2/renamed")
    assert minke.ok("exec", cid, "cat", "/renamed") == "new\n"
    assert not os.path.exists("/renamed")
    # -L follows the link, inside the container.
    minke.ok("cp", "-L", f"{cid}:/tmp/up2", str(out / "root2"))
    assert (out / "root2" / "bin" / "busybox").exists()
    # Archives on stdout / stdin.
    p = subprocess.run(minke.argv("cp", f"{cid}:/tmp/d", "-"), env=minke.env, capture_output=True, check=True)
    (tmp_path / "d.tar").write_bytes(p.stdout)
    with tarfile.open(tmp_path / "d.tar") as t:
        assert sorted(t.getnames()) == ["d", "d/f"]
    with tarfile.open(tmp_path / "in.tar", "w") as t:
        t.add(out / "new", arcname="fromtar")
    with open(tmp_path / "in.tar", "rb") as f:
        subprocess.run(minke.argv("cp", "-", f"{cid}:/tmp/d"), env=minke.env, stdin=f, check=True)
    assert minke.ok("exec", cid, "cat", "/tmp/d/fromtar") == "new\n"
    # A path missing in the container, an unknown container: one line, nothing copied.
    r = minke("cp", f"{cid}:/nope", str(out))
    assert r.returncode == 1 and r.stderr.strip() == f"Error response from daemon: Could not find the file /nope in container {cid}"
    r = minke("cp", "nosuch:/etc", str(out / "x"))
    assert r.returncode == 1 and r.stderr.strip() == "Error response from daemon: No such container: nosuch"
    assert not (out / "x").exists()
    # A stopped container: its root is mounted for the copy, and unmounted after.
    minke.ok("stop", "-t", "0", cid)
    minke.ok("cp", f"{cid}:/tmp/d/f", str(out / "stopped"))
    assert (out / "stopped").read_text() == "hi\n"


def test_diff_commit_export(minke, tmp_path):
    import json
    import subprocess
    import tarfile
    import time

    cid = _run(minke, "busybox", "sh", "-c", "echo x > /tmp/new; rm /bin/tr; echo y >> /etc/passwd; touch /tmp/ready; sleep 60")
    for _ in range(100):
        if minke("exec", cid, "ls", "/tmp/ready").returncode == 0:
            break
        time.sleep(0.05)
    lines = minke.ok("diff", cid).splitlines()
    for want in ("C /bin", "D /bin/tr", "C /etc", "C /etc/passwd", "C /tmp", "A /tmp/new"):
        assert want in lines
    assert not any(line.endswith(("/etc/hosts", "/etc/resolv.conf", "/etc/hostname")) for line in lines)
    image_id = minke.ok("commit", "-m", "my msg", "-a", "me", "-c", "ENV FOO=bar", "-c", 'CMD ["cat", "/tmp/new"]',
                        cid, "committed:v1").strip()
    assert image_id.startswith("sha256:")
    assert minke.inspect(cid)["State"]["Status"] == "running"  # paused during the commit only
    hist = minke.ok("history", "--no-trunc", "--format", "{{.Comment}}|{{.CreatedBy}}", "committed:v1").splitlines()
    assert hist[0].startswith("my msg|sh -c echo x > /tmp/new")
    cfg = json.loads(minke.ok("image", "inspect", "committed:v1"))[0]
    assert cfg["Author"] == "me" and "FOO=bar" in cfg["Config"]["Env"]
    r = minke("run", "--rm", "--network", "none", "committed:v1")
    assert r.returncode == 0 and r.stdout == "x\n", r.stderr
    r = minke("run", "--rm", "--network", "none", "committed:v1", "sh", "-c", "echo $FOO; tail -1 /etc/passwd; ls /bin/tr")
    assert r.stdout.split() == ["bar", "y"] and r.returncode != 0
    # export: the whole filesystem, then import it back and run it.
    out = tmp_path / "ex.tar"
    minke.ok("export", "-o", str(out), cid)
    with tarfile.open(out) as t:
        names = set(t.getnames())
    assert {"bin/busybox", "tmp/new", "etc/passwd"} <= names and "bin/tr" not in names
    p = subprocess.run(minke.argv("export", cid), env=minke.env, capture_output=True, check=True)
    assert len(p.stdout) > 1 << 20
    minke.ok("import", str(out), "exported:v1")
    r = minke("run", "--rm", "--network", "none", "exported:v1", "cat", "/tmp/new")
    assert r.stdout == "x\n", r.stderr
    for cmd in ("diff", "export", "commit"):
        r = minke(cmd, "nosuch")
        assert r.returncode == 1 and r.stderr.strip() == "Error response from daemon: No such container: nosuch"
