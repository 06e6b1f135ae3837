"""Spec-driven runtime tests in the style of crun's: set some config.json fields, run a
busybox process, check from inside the container.  Each runs on minke-runtime and runc."""

from __future__ import annotations

import os
import subprocess
import sys

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


def run(rt, tmp_path, rootfs, cfg):
    bundle = write_bundle(str(tmp_path / "bundle"), rootfs, cfg)
    return rt.run(bundle)


def sh(script: str) -> dict:
    return default_config(["sh", "-c", script])


def test_true_exits_zero(rt, tmp_path, rootfs):
    p = run(rt, tmp_path, rootfs, default_config(["true"]))
    assert p.returncode == 0, p.stderr


def test_exit_code_is_the_containers(rt, tmp_path, rootfs):
    p = run(rt, tmp_path, rootfs, sh("exit 42"))
    assert p.returncode == 42


def test_stdout_and_stderr_are_the_runtimes(rt, tmp_path, rootfs):
    p = run(rt, tmp_path, rootfs, sh("echo out; echo err >&2"))
    assert p.stdout == "out\n"
    assert p.stderr.endswith("err\n")


def test_hostname(rt, tmp_path, rootfs):
    cfg = sh("hostname")
    cfg["hostname"] = "box1"
    p = run(rt, tmp_path, rootfs, cfg)
    assert p.stdout.split() == ["box1"], p.stderr


def test_domainname(rt, tmp_path, rootfs):
    if rt.name == "runc":
        pytest.xfail("runc 1.1 ignores domainname (it came in runc 1.2)")
    cfg = sh("cat /proc/sys/kernel/domainname")
    cfg["domainname"] = "example.org"
    p = run(rt, tmp_path, rootfs, cfg)
    assert p.stdout.split() == ["example.org"], p.stderr


def test_pid_namespace_makes_pid_1(rt, tmp_path, rootfs):
    p = run(rt, tmp_path, rootfs, sh("echo $$"))
    assert p.stdout.strip() == "1"


def test_env_cwd_and_user(rt, tmp_path, rootfs):
    cfg = sh('echo "$FOO"; pwd; id -u; id -g; id -G')
    cfg["process"]["env"].append("FOO=bar baz")
    cfg["process"]["cwd"] = "/tmp"
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5, 1000]}
    p = run(rt, tmp_path, rootfs, cfg)
    lines = p.stdout.splitlines()
    assert lines[:4] == ["bar baz", "/tmp", "1000", "1000"], p.stderr
    assert sorted(lines[4].split()) == ["1000", "5"]


def test_umask(rt, tmp_path, rootfs):
    cfg = sh("umask")
    cfg["process"]["user"]["umask"] = 0o027
    p = run(rt, tmp_path, rootfs, cfg)
    assert p.stdout.strip() == "0027"


def test_capabilities_from_inside(rt, tmp_path, rootfs):
    cfg = sh("grep -E '^Cap(Eff|Prm|Bnd|Inh)' /proc/self/status")
    caps = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"]  # bits 0, 5, 13
    cfg["process"]["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps}
    p = run(rt, tmp_path, rootfs, cfg)
    got = dict(line.split(":\t") for line in p.stdout.splitlines())
    want = f"{(1 << 0) | (1 << 5) | (1 << 13):016x}"
    assert got == {"CapInh": "0" * 16, "CapPrm": want, "CapEff": want, "CapBnd": want}, p.stderr


def test_no_new_privileges(rt, tmp_path, rootfs):
    cfg = sh("grep NoNewPrivs /proc/self/status")
    p = run(rt, tmp_path, rootfs, cfg)
    assert p.stdout.split() == ["NoNewPrivs:", "1"]
    cfg["process"]["noNewPrivileges"] = False
    p = run(rt, tmp_path / "2", rootfs, cfg)
    assert p.stdout.split() == ["NoNewPrivs:", "0"]


def test_rlimits(rt, tmp_path, rootfs):
    cfg = sh("ulimit -n; ulimit -Hn; ulimit -c")
    cfg["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
    ]
    p = run(rt, tmp_path, rootfs, cfg)
    assert p.stdout.split() == ["123", "456", "0"], p.stderr


def test_oom_score_adj(rt, tmp_path, rootfs):
    cfg = sh("cat /proc/self/oom_score_adj")
    cfg["process"]["oomScoreAdj"] = 345
    p = run(rt, tmp_path, rootfs, cfg)
    assert p.stdout.strip() == "345"


def test_masked_paths_unreadable(rt, tmp_path, rootfs):
    # /proc/timer_list is a file on every kernel we run on, /sys/firmware a non-empty dir.
    assert os.path.getsize("/proc/timer_list") == 0 and os.listdir("/sys/firmware")
    cfg = sh("wc -c < /proc/timer_list; ls /sys/firmware | wc -l; touch /sys/firmware/x || echo refused")
    p = run(rt, tmp_path, rootfs, cfg)
    assert p.stdout.split() == ["0", "0", "refused"], p.stderr


def test_readonly_paths_unwritable(rt, tmp_path, rootfs):
    cfg = sh("echo 1 > /proc/sys/kernel/ns_last_pid && echo wrote || echo refused")
    p = run(rt, tmp_path, rootfs, cfg)
    assert p.stdout.strip() == "refused"


def test_readonly_root(rt, tmp_path, rootfs):
    cfg = sh("touch /x 2>/dev/null && echo wrote || echo refused; touch /tmp/x && echo tmp-ok")
    p = run(rt, tmp_path, rootfs, cfg)
    assert p.stdout.split() == ["refused", "tmp-ok"]


def test_mountinfo_has_the_spec_mounts(rt, tmp_path, rootfs):
    cfg = sh("cat /proc/self/mountinfo")
    cfg["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "noexec", "mode=700"]})
    p = run(rt, tmp_path, rootfs, cfg)
    by_dest = {}
    for line in p.stdout.splitlines():
        f = line.split()
        sep = f.index("-")
        by_dest[f[4]] = (f[5].split(","), f[sep + 1], f[sep + 3].split(","))
    assert by_dest["/"][0][0] == "ro"
    opts, fstype, super_ = by_dest["/data"]
    assert fstype == "tmpfs" and "noexec" in opts and "mode=700" in super_ and "size=1024k" in super_
    assert by_dest["/proc"][1] == "proc"
    assert by_dest["/dev/pts"][1] == "devpts"
    assert "ro" in by_dest["/sys"][0]


def test_bind_mount_ro_and_rw(rt, tmp_path, rootfs):
    src = tmp_path / "src"
    src.mkdir()
    (src / "hello").write_text("hi\n")
    cfg = sh("cat /ro/hello; echo x > /ro/new 2>/dev/null || echo ro-refused; echo y > /rw/new && echo rw-ok")
    cfg["mounts"] += [
        {"destination": "/ro", "type": "bind", "source": str(src), "options": ["rbind", "ro"]},
        {"destination": "/rw", "type": "bind", "source": str(src), "options": ["bind", "nosuid"]},
    ]
    cfg["root"]["readonly"] = True
    p = run(rt, tmp_path, rootfs, cfg)
    assert p.stdout.split() == ["hi", "ro-refused", "rw-ok"], p.stderr
    assert (src / "new").read_text() == "y\n"


def test_default_devices_and_links(rt, tmp_path, rootfs):
    cfg = sh(
        "for d in null zero full random urandom tty; do [ -c /dev/$d ] && echo $d; done; "
        "for l in fd stdin ptmx; do readlink /dev/$l; done; head -c 4 /dev/zero | wc -c"
    )
    p = run(rt, tmp_path, rootfs, cfg)
    assert p.stdout.split() == ["null", "zero", "full", "random", "urandom", "tty", "/proc/self/fd", "/proc/self/fd/0", "pts/ptmx", "4"], p.stderr


def test_spec_devices(rt, tmp_path, rootfs):
    cfg = sh("ls -ln /dev/mynull | awk '{print $1, $3, $4, $5, $6}'")
    cfg["linux"]["devices"] = [{"type": "c", "path": "/dev/mynull", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 7, "gid": 8}]
    cfg["linux"]["resources"] = {"devices": [{"allow": True, "access": "rwm"}]}
    p = run(rt, tmp_path, rootfs, cfg)
    assert p.stdout.split() == ["crw-r-----", "7", "8", "1,", "3"], p.stderr


@pytest.fixture
def open_rootfs(rootfs):
    """The rootfs in a directory a mapped (non-host-root) user can reach; pytest's is 0700."""
    import shutil
    import tempfile

    base = tempfile.mkdtemp(prefix="minke-userns-")
    os.chmod(base, 0o755)
    path = os.path.join(base, "rootfs")
    shutil.copytree(rootfs, path, symlinks=True)
    yield path
    shutil.rmtree(base)


def test_user_namespace_maps(rt, tmp_path, open_rootfs):
    rootfs = open_rootfs
    cfg = sh("cat /proc/self/uid_map /proc/self/gid_map; id -u")
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    # Files of the shared rootfs belong to host root, unmapped here: still readable (0755).
    p = run(rt, tmp_path, rootfs, cfg)
    assert p.stdout.split() == ["0", "100000", "65536", "0", "100000", "65536", "0"], p.stderr


def test_sysctl(rt, tmp_path, rootfs):
    cfg = sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax")
    cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "12345678"}
    p = run(rt, tmp_path, rootfs, cfg)
    assert p.stdout.split() == ["1", "12345678"], p.stderr


def test_join_network_namespace_by_path(rt, tmp_path, rootfs):
    # The host's own: the container sees the host's interfaces.
    host_ifaces = sorted(os.listdir("/sys/class/net"))
    cfg = sh("ls /sys/class/net")
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "network"]
    cfg["linux"]["namespaces"].append({"type": "network", "path": f"/proc/{os.getpid()}/ns/net"})
    p = run(rt, tmp_path, rootfs, cfg)
    after = os.listdir("/sys/class/net")
    # Other tests may add or remove host interfaces meanwhile: compare with both listings.
    seen = set(p.stdout.split())
    assert set(host_ifaces) & set(after) <= seen <= set(host_ifaces) | set(after), p.stderr
    assert "lo" in seen and len(seen) > 1


def test_new_network_namespace_has_only_lo(rt, tmp_path, rootfs):
    p = run(rt, tmp_path, rootfs, sh("ls /sys/class/net"))
    assert p.stdout.split() == ["lo"]


def test_hooks_get_state_on_stdin(rt, tmp_path, rootfs):
    out = tmp_path / "hooks.log"
    script = tmp_path / "hook.sh"
    script.write_text(f'#!/bin/sh\nread -r state\necho "$1 $state" >> {out}\n')
    script.chmod(0o755)
    cfg = default_config(["true"])
    cfg["annotations"] = {"a": "b"}
    cfg["hooks"] = {
        kind: [{"path": str(script), "args": ["hook.sh", kind]}]
        for kind in ("prestart", "createRuntime", "poststart", "poststop")
    }
    p = run(rt, tmp_path, rootfs, cfg)
    assert p.returncode == 0, p.stderr
    import json

    lines = out.read_text().splitlines()
    kinds = [line.split(" ", 1)[0] for line in lines]
    assert kinds == ["prestart", "createRuntime", "poststart", "poststop"]
    state = json.loads(lines[0].split(" ", 1)[1])
    assert state["bundle"] == str(tmp_path / "bundle") and state["pid"] > 0
    assert state["annotations"] == {"a": "b"}


def test_failing_prestart_hook_fails_create(rt, tmp_path, rootfs):
    cfg = default_config(["true"])
    cfg["hooks"] = {"prestart": [{"path": "/bin/false"}]}
    p = run(rt, tmp_path, rootfs, cfg)
    assert p.returncode != 0
    assert rt("list", "--format", "json").stdout.strip() in ("[]", "null")


def test_cgroup_limits_seen_from_inside(rt, tmp_path, rootfs):
    cfg = sh(
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max "
        "/sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpu/cpu.cfs_quota_us"
    )
    cfg["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                          "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]})  # fmt: skip
    cfg["linux"]["resources"] = {
        "memory": {"limit": 64 * 1024 * 1024},
        "pids": {"limit": 50},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000},
    }
    cfg["linux"]["cgroupsPath"] = f"/minke-test/{tmp_path.name}"
    try:
        p = run(rt, tmp_path, rootfs, cfg)
        assert p.stdout.split() == [str(64 * 1024 * 1024), "50", "512", "50000"], p.stderr
        assert not os.path.exists(f"/sys/fs/cgroup/memory/minke-test/{tmp_path.name}")
    finally:
        # Neither runtime removes parents it did not make in the same process.
        for h in os.listdir("/sys/fs/cgroup"):
            try:
                os.rmdir(f"/sys/fs/cgroup/{h}/minke-test")
            except OSError:
                pass


def test_seccomp_blocks_with_errno(rt, tmp_path, rootfs):
    cfg = sh("grep '^Seccomp:' /proc/self/status; mkdir /tmp/d 2>&1 || echo blocked; touch /tmp/f && echo touch-ok")
    cfg["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
    }
    p = run(rt, tmp_path, rootfs, cfg)
    out = p.stdout.splitlines()
    assert out[0].split() == ["Seccomp:", "2"], p.stderr
    assert "Permission denied" in out[1] and out[2:] == ["blocked", "touch-ok"]


def test_terminal_over_console_socket(rt, tmp_path, rootfs):
    """terminal: true sends the pty master over --console-socket (SCM_RIGHTS), as runc."""
    import array
    import socket
    import termios  # noqa: F401 - make sure the test itself can

    sock_path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    cfg = sh("tty; stty size; echo done")
    cfg["process"]["terminal"] = True
    cfg["process"]["consoleSize"] = {"height": 33, "width": 101}
    cfg["process"]["capabilities"]["ambient"] = ["CAP_KILL"]
    b = write_bundle(str(tmp_path / "bundle"), rootfs, cfg)
    cid = rt.new_id()
    rt("create", "--bundle", b, "--console-socket", sock_path, cid)
    conn, _ = srv.accept()
    fds = array.array("i")
    msg, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(fds.itemsize))
    fds.frombytes(anc[0][2][: fds.itemsize])
    master = fds[0]
    conn.close()
    srv.close()
    rt("start", cid)
    out = read_pty(master, until=b"done")
    os.close(master)
    lines = out.decode().split("\r\n")
    assert lines[0].startswith("/dev/pts/") and lines[1] == "33 101", out
    rt("delete", "--force", cid)


def test_create_container_and_start_container_hooks(rt, tmp_path, rootfs):
    out = tmp_path / "out"
    out.mkdir()
    cfg = sh("cat /out/start.log")
    cfg["mounts"].append({"destination": "/out", "type": "bind", "source": str(out), "options": ["rbind"]})
    cfg["hooks"] = {
        # createContainer runs in the container's namespaces before pivot_root: host paths.
        "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", f"readlink /proc/self/ns/mnt > {out}/create.log"]}],
        # startContainer runs after pivot_root, so its path is the container's.
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo started > /out/start.log"]}],
    }
    p = run(rt, tmp_path, rootfs, cfg)
    assert p.stdout == "started\n", p.stderr
    assert (out / "create.log").read_text().strip() != os.readlink("/proc/self/ns/mnt")


def test_deny_all_device_rule_keeps_the_default_devices(rt, tmp_path, rootfs):
    cfg = sh("echo hi > /dev/null && echo null-ok; head -c 3 /dev/urandom | wc -c; "
             "mknod /dev/kmsgx c 1 11 && (: > /dev/kmsgx) 2>&1 | grep -o 'not permitted'")  # fmt: skip
    cfg["process"]["capabilities"] = {k: ["CAP_MKNOD"] for k in ("bounding", "effective", "permitted")}
    cfg["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    p = run(rt, tmp_path, rootfs, cfg)
    assert p.stdout.split() == ["null-ok", "3", "not", "permitted"], p.stderr


def _fds_seen(rt, tmp_path, rootfs, extra_args=()):
    """The fds the container's process has, when the runtime was started with fds 3 and 4
    open (inheritable, as a careless caller would leave them)."""
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    os.dup2(r1, 20)
    os.dup2(r2, 21)
    try:
        bundle = write_bundle(str(tmp_path / "bundle"), rootfs, sh("ls /proc/self/fd"))
        cid = rt.new_id()
        # A small wrapper puts them at 3 and 4 (--preserve-fds counts from 3) and execs
        # the runtime.
        wrap = "import os, sys; os.dup2(20, 3); os.dup2(21, 4); os.close(20); os.close(21); os.execv(sys.argv[1], sys.argv[1:])"
        p = subprocess.run([sys.executable, "-c", wrap, rt.binary, "--root", rt.root,
                            "run", *extra_args, "--bundle", bundle, cid],
                           pass_fds=(20, 21), capture_output=True, text=True, timeout=30)  # fmt: skip
    finally:
        for fd in (r1, w1, r2, w2, 20, 21):
            os.close(fd)
    assert p.returncode == 0, p.stderr
    return {int(x) for x in p.stdout.split()}


def test_inherited_fds_do_not_reach_the_container(rt, tmp_path, rootfs):
    fds = _fds_seen(rt, tmp_path, rootfs)
    # 0-2 and the directory fd ls opened itself (3, once 3 is free).
    assert fds <= {0, 1, 2, 3}, fds
    assert 4 not in fds


def test_preserve_fds_passes_the_first_n(rt, tmp_path, rootfs):
    fds = _fds_seen(rt, tmp_path, rootfs, ("--preserve-fds", "2"))
    assert {3, 4} <= fds, fds
