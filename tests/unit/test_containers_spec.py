from __future__ import annotations

import pytest

from minke.containers import options
from minke.containers.spec import (
    ALL_CAPS,
    MASKED_PATHS,
    SpecInputs,
    build_spec,
    capabilities,
    docker_seccomp_to_oci,
    make_config,
    resolv_conf,
    resolve_user,
)
from minke.errors import InvalidArgument

CID = "0123456789abcdef" * 4

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n"
GROUP = "root:x:0:\nwheel:x:10:app,root\naudio:x:29:app\napp:x:1000:\nstaff:x:50:\n"

IMAGE = {
    "Env": ["PATH=/usr/bin:/bin", "LANG=C"],
    "Cmd": ["sh", "-c", "echo hi"],
    "Entrypoint": ["/entry"],
    "WorkingDir": "/srv",
    "User": "app",
    "StopSignal": "SIGQUIT",
}


def inputs(**kw):
    base = dict(container_id=CID, rootfs="/r/rootfs", container_dir="/c", passwd=PASSWD, group=GROUP)
    base.update(kw)
    return SpecInputs(**base)


def spec_for(config_kw=None, hc=None, **inp):
    cfg = make_config(IMAGE, image="img", **(config_kw or {}))
    return build_spec(cfg, hc or {}, inputs(**inp))


# --- ENTRYPOINT / CMD --------------------------------------------------------------------


def test_image_entrypoint_and_cmd():
    cfg = make_config(IMAGE, image="img")
    assert cfg["Entrypoint"] == ["/entry"] and cfg["Cmd"] == ["sh", "-c", "echo hi"]


def test_args_replace_cmd_keep_entrypoint():
    cfg = make_config(IMAGE, image="img", cmd=["ls"])
    assert cfg["Entrypoint"] == ["/entry"] and cfg["Cmd"] == ["ls"]


def test_entrypoint_flag_resets_cmd():
    cfg = make_config(IMAGE, image="img", entrypoint=["/bin/true"])
    assert cfg["Entrypoint"] == ["/bin/true"] and cfg["Cmd"] is None
    cfg = make_config(IMAGE, image="img", entrypoint=["/bin/echo"], cmd=["a"])
    assert build_spec(cfg, {}, inputs())["process"]["args"] == ["/bin/echo", "a"]


def test_empty_entrypoint_uses_args_only():
    cfg = make_config(IMAGE, image="img", entrypoint=[], cmd=["ls", "-l"])
    assert build_spec(cfg, {}, inputs())["process"]["args"] == ["ls", "-l"]


def test_no_command():
    with pytest.raises(InvalidArgument, match="no command specified"):
        make_config({}, image="img")


def test_env_merge_and_defaults():
    s = spec_for({"env": ["LANG=fr", "X=1"]})
    env = s["process"]["env"]
    assert "PATH=/usr/bin:/bin" in env  # the image's PATH wins over the default
    assert f"HOSTNAME={CID[:12]}" in env
    assert "LANG=fr" in env and "LANG=C" not in env and "X=1" in env
    assert "HOME=/home/app" in env
    assert not any(e.startswith("TERM=") for e in env)
    assert "TERM=xterm" in spec_for({"tty": True})["process"]["env"]


def test_default_path_when_image_has_none():
    cfg = make_config({"Cmd": ["x"]}, image="img")
    env = build_spec(cfg, {}, inputs())["process"]["env"]
    assert env[0].startswith("PATH=/usr/local/sbin:")


def test_hostname_short_id_and_override():
    assert spec_for()["hostname"] == CID[:12]
    assert spec_for({"hostname": "Willy"})["hostname"] == "Willy"


def test_workdir_user_stop_signal_from_image():
    cfg = make_config(IMAGE, image="img")
    assert cfg["WorkingDir"] == "/srv" and cfg["User"] == "app" and cfg["StopSignal"] == "SIGQUIT"
    s = build_spec(cfg, {}, inputs())
    assert s["process"]["cwd"] == "/srv"
    assert s["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [10, 29]}


def test_relative_workdir_rejected():
    with pytest.raises(InvalidArgument, match="absolute"):
        make_config(IMAGE, image="img", workdir="rel")


# --- users -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec,uid,gid",
    [("", 0, 0), ("root", 0, 0), ("nobody", 65534, 65534), ("1000", 1000, 1000), ("4242", 4242, 0),
     ("app:staff", 1000, 50), ("app:7", 1000, 7), ("5:6", 5, 6)],
)
def test_resolve_user(spec, uid, gid):
    u = resolve_user(spec, PASSWD, GROUP)
    assert (u.uid, u.gid) == (uid, gid)


def test_resolve_user_unknown_names():
    with pytest.raises(InvalidArgument, match="unable to find user ghost: no matching entries in passwd file"):
        resolve_user("ghost", PASSWD, GROUP)
    with pytest.raises(InvalidArgument, match="unable to find group nogroup"):
        resolve_user("app:nogroup", PASSWD, GROUP)


# --- security ----------------------------------------------------------------------------


def test_default_caps_and_masks():
    s = spec_for()
    caps = s["process"]["capabilities"]
    assert caps["bounding"] == caps["effective"] == caps["permitted"]
    assert "CAP_CHOWN" in caps["bounding"] and "CAP_SYS_ADMIN" not in caps["bounding"]
    assert len(caps["bounding"]) == 14
    assert "inheritable" not in caps and "ambient" not in caps
    assert s["linux"]["maskedPaths"] == list(MASKED_PATHS)
    assert "/proc/sys" in s["linux"]["readonlyPaths"]
    assert s["process"]["noNewPrivileges"] is False


def test_cap_add_drop():
    base = ("CAP_CHOWN", "CAP_KILL")
    assert capabilities(["net_admin"], ["chown"], False, base) == ["CAP_KILL", "CAP_NET_ADMIN"]
    assert capabilities(["CAP_KILL"], ["ALL"], False, base) == ["CAP_KILL"]
    assert capabilities(["ALL"], [], False, base) == list(ALL_CAPS)
    with pytest.raises(InvalidArgument, match='unknown capability: "CAP_BOGUS"'):
        capabilities(["bogus"], [], False, base)


def test_privileged():
    s = spec_for(hc={"Privileged": True})
    assert s["process"]["capabilities"]["bounding"] == list(ALL_CAPS)
    assert "maskedPaths" not in s["linux"] and "seccomp" not in s["linux"]
    sysm = next(m for m in s["mounts"] if m["destination"] == "/sys")
    assert "ro" not in sysm["options"]
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]


def test_seccomp_default_unconfined_and_file():
    prof = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}
    assert spec_for(seccomp=prof)["linux"]["seccomp"] == prof
    assert "seccomp" not in spec_for(hc={"SecurityOpt": ["seccomp=unconfined"]}, seccomp=prof)["linux"]
    docker_prof = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        ],
    }
    s = spec_for(hc={"SecurityOpt": ["seccomp=/p.json"]}, seccomp=prof, seccomp_file=docker_prof)
    sc = s["linux"]["seccomp"]
    assert sc["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert sc["syscalls"] == [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]
    assert len(docker_seccomp_to_oci(docker_prof, ["CAP_SYS_ADMIN"])["syscalls"]) == 2


def test_no_new_privileges():
    assert spec_for(hc={"SecurityOpt": ["no-new-privileges"]})["process"]["noNewPrivileges"] is True
    assert spec_for(hc={"SecurityOpt": ["no-new-privileges:true"]})["process"]["noNewPrivileges"] is True
    with pytest.raises(InvalidArgument):
        spec_for(hc={"SecurityOpt": ["bogus=1"]})


# --- mounts --------------------------------------------------------------------------------


def test_default_mounts():
    s = spec_for()
    by = {m["destination"]: m for m in s["mounts"]}
    for d in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup",
              "/etc/hosts", "/etc/hostname", "/etc/resolv.conf"):
        assert d in by, d
    assert "size=67108864" in by["/dev/shm"]["options"]
    assert "ro" in by["/sys"]["options"] and "ro" in by["/sys/fs/cgroup"]["options"]
    assert by["/etc/hosts"]["source"] == "/c/hosts" and by["/etc/hosts"]["type"] == "bind"
    assert s["root"] == {"path": "/r/rootfs", "readonly": False}


def test_user_mounts_tmpfs_readonly():
    hc = {
        "ReadonlyRootfs": True,
        "Tmpfs": {"/run": "size=1m,exec", "/dev/shm": ""},
        "Mounts": [
            # -v /host/a:/data/x:ro, as the volumes package turns Binds into Mounts at create
            options.parse_mount("type=bind,source=/host/a,target=/data/x,readonly"),
            options.parse_mount("type=bind,source=/host/b,target=/data"),
        ],
    }
    s = spec_for(hc=hc)
    assert s["root"]["readonly"] is True
    dests = [m["destination"] for m in s["mounts"]]
    assert dests.count("/dev/shm") == 1
    assert dests.index("/data") < dests.index("/data/x")
    run = next(m for m in s["mounts"] if m["destination"] == "/run")
    assert "size=1m" in run["options"] and "noexec" not in run["options"]
    x = next(m for m in s["mounts"] if m["destination"] == "/data/x")
    assert x["source"] == "/host/a" and "ro" in x["options"]


# --- resources, namespaces, rlimits -------------------------------------------------------------


def test_resources():
    hc = {"Memory": 64 << 20, "NanoCpus": 1_500_000_000, "CpuShares": 512, "CpusetCpus": "0", "PidsLimit": 50}
    r = spec_for(hc=hc)["linux"]["resources"]
    assert r["memory"] == {"limit": 64 << 20, "swap": 128 << 20}
    assert r["cpu"] == {"shares": 512, "period": 100000, "quota": 150000, "cpus": "0"}
    assert r["pids"] == {"limit": 50}
    r = spec_for(hc={"Memory": 64 << 20, "MemorySwap": -1})["linux"]["resources"]
    assert r["memory"]["swap"] == -1
    assert "memory" not in spec_for()["linux"]["resources"]


def test_namespaces_cgroup_rlimits():
    s = spec_for(hc={"Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200}, {"Name": "nproc", "Soft": -1, "Hard": -1}]})
    assert {n["type"] for n in s["linux"]["namespaces"]} == {"pid", "ipc", "uts", "mount", "network"}
    assert all("path" not in n for n in s["linux"]["namespaces"])
    assert s["linux"]["cgroupsPath"] == f"/minke/{CID}"
    rl = {r["type"]: (r["soft"], r["hard"]) for r in s["process"]["rlimits"]}
    assert rl["RLIMIT_NOFILE"] == (100, 200)
    assert rl["RLIMIT_NPROC"] == (2**64 - 1, 2**64 - 1)


def test_init():
    s = spec_for(hc={"Init": True}, init_path="/usr/bin/tini-static")
    assert s["process"]["args"][:2] == ["/sbin/docker-init", "--"]
    assert any(m["destination"] == "/sbin/docker-init" and m["source"] == "/usr/bin/tini-static" for m in s["mounts"])
    with pytest.raises(InvalidArgument, match="--init"):
        spec_for(hc={"Init": True})


def test_resolv_conf_filter():
    assert resolv_conf("nameserver 127.0.0.53\nsearch x\n") == "search x\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    assert resolv_conf("nameserver 10.0.0.2\n") == "nameserver 10.0.0.2\n"


def test_privileged_limited_to_engine_caps():
    from minke.containers.spec import bounding_caps

    have = bounding_caps("Name:\tx\nCapBnd:\t000001fffeffffff\n")
    assert "CAP_SYS_RESOURCE" not in have and "CAP_SYS_ADMIN" in have
    s = spec_for(hc={"Privileged": True}, all_caps=have)
    assert s["process"]["capabilities"]["bounding"] == list(have)


def test_network_host_shares_the_namespace():
    types = {n["type"] for n in spec_for(hc={"NetworkMode": "host"})["linux"]["namespaces"]}
    assert "network" not in types and "pid" in types


def test_init_elf_header():
    from minke.containers.init_elf import build_init
    from minke.errors import Unsupported

    elf = build_init("x86_64")
    assert elf[:4] == b"\x7fELF" and elf[4] == 2 and elf[18] == 0x3E
    assert len(elf) < 512
    with pytest.raises(Unsupported, match="--init"):
        build_init("riscv64")
