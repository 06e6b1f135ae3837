"""The container's file system set-up, checked call by call on the recording fake."""

from __future__ import annotations

import os

import pytest

from minke.runtime import libc
from minke.runtime.rootfs import MountOptions, RootfsBuilder, resolve_in_root
from minke.runtime.spec import parse_spec
from minke.runtime.syscalls import RecordingSyscalls

R = "/b/rootfs"


def make(extra=None, **linux):
    d = {
        "ociVersion": "1.0.2",
        "root": {"path": R},
        "process": {"args": ["sh"]},
        "mounts": [],
        "linux": {"namespaces": [{"type": "mount"}], **linux},
    }
    d.update(extra or {})
    return parse_spec(d)


def test_mount_options_split():
    o = MountOptions(["ro", "nosuid", "rw", "nodev", "rshared", "size=1m", "mode=755", "rbind"])
    assert o.flags == libc.MS_NOSUID | libc.MS_NODEV | libc.MS_BIND | libc.MS_REC
    assert o.clear == libc.MS_RDONLY
    assert o.propagation == libc.MS_SHARED | libc.MS_REC
    assert o.data == "size=1m,mode=755"
    assert MountOptions([]).data is None


def test_prepare_makes_root_a_slave_and_binds_the_rootfs():
    sys = RecordingSyscalls()
    RootfsBuilder(make(), R, sys).prepare()
    assert sys.of("mount") == [
        (None, "/", None, libc.MS_SLAVE | libc.MS_REC, None),
        (R, R, "bind", libc.MS_BIND | libc.MS_REC, None),
    ]


def test_rootfs_propagation_is_used():
    sys = RecordingSyscalls()
    RootfsBuilder(make(rootfsPropagation="rprivate"), R, sys).prepare()
    assert sys.of("mount")[0] == (None, "/", None, libc.MS_PRIVATE | libc.MS_REC, None)


def test_tmpfs_mount_creates_target_and_passes_data():
    spec = make({"mounts": [{"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m"]}]})
    sys = RecordingSyscalls(dirs={R})
    RootfsBuilder(spec, R, sys).mount_all()
    assert ("mkdir", R + "/data", 0o755) in sys.calls
    assert sys.of("mount") == [("tmpfs", R + "/data", "tmpfs", libc.MS_NOSUID, "size=1m")]


def test_readonly_bind_needs_a_remount():
    spec = make({"mounts": [{"destination": "/etc/hosts", "type": "bind", "source": "/h/hosts", "options": ["rbind", "ro", "rprivate"]}]})
    sys = RecordingSyscalls(dirs={R, R + "/etc"}, files={"/h/hosts"})
    RootfsBuilder(spec, R, sys).mount_all()
    assert ("touch", R + "/etc/hosts") in sys.calls  # a file bind needs a file target
    assert sys.of("mount") == [
        ("/h/hosts", R + "/etc/hosts", "bind", libc.MS_BIND | libc.MS_REC, None),
        (None, R + "/etc/hosts", None, libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY, None),
        (None, R + "/etc/hosts", None, libc.MS_PRIVATE | libc.MS_REC, None),
    ]


def test_bind_of_missing_source_is_an_error():
    from minke.errors import InvalidArgument

    spec = make({"mounts": [{"destination": "/x", "type": "bind", "source": "/nope", "options": ["bind"]}]})
    with pytest.raises(InvalidArgument, match="/nope"):
        RootfsBuilder(spec, R, RecordingSyscalls(dirs={R})).mount_all()


def test_default_devices_and_symlinks():
    sys = RecordingSyscalls(dirs={R, R + "/dev", R + "/dev/pts"})
    RootfsBuilder(make(), R, sys).create_devices(bind_dev=False)
    nodes = {c[0]: c[2] for c in sys.of("mknod")}
    assert nodes == {
        R + "/dev/null": os.makedev(1, 3),
        R + "/dev/zero": os.makedev(1, 5),
        R + "/dev/full": os.makedev(1, 7),
        R + "/dev/random": os.makedev(1, 8),
        R + "/dev/urandom": os.makedev(1, 9),
        R + "/dev/tty": os.makedev(5, 0),
    }
    links = dict((p, t) for t, p in sys.of("symlink"))
    assert links[R + "/dev/fd"] == "/proc/self/fd"
    assert links[R + "/dev/stderr"] == "/proc/self/fd/2"
    assert links[R + "/dev/ptmx"] == "pts/ptmx"


def test_devices_are_bind_mounted_in_a_user_namespace():
    sys = RecordingSyscalls(dirs={R, R + "/dev"})
    RootfsBuilder(make(), R, sys, userns=True).create_devices(bind_dev=False)
    assert sys.of("mknod") == []
    assert ("/dev/null", R + "/dev/null", "bind", libc.MS_BIND, None) in sys.of("mount")


def test_a_bound_dev_gets_no_nodes():
    sys = RecordingSyscalls(dirs={R, R + "/dev"})
    RootfsBuilder(make(), R, sys).create_devices(bind_dev=True)
    assert sys.calls == []


def test_pivot_root_then_detach_the_old_root():
    sys = RecordingSyscalls()
    RootfsBuilder(make(), R, sys).pivot()
    assert sys.calls == [
        ("chdir", R),
        ("pivot_root", ".", "."),
        ("mount", None, ".", None, libc.MS_SLAVE | libc.MS_REC, None),
        ("umount", ".", libc.MNT_DETACH),
        ("chdir", "/"),
    ]


def test_pivot_failure_other_than_ramfs_is_raised():
    sys = RecordingSyscalls()
    sys.fail["pivot_root"] = OSError(1, "pivot_root: Operation not permitted")
    with pytest.raises(OSError):
        RootfsBuilder(make(), R, sys).pivot()


def test_masked_and_readonly_paths_and_sysctl():
    spec = make(maskedPaths=["/proc/kcore", "/sys/firmware", "/absent"], readonlyPaths=["/proc/sys"], sysctl={"net.ipv4.ip_forward": "1"})
    sys = RecordingSyscalls(dirs={"/sys/firmware", "/proc/sys"}, files={"/proc/kcore"})
    RootfsBuilder(spec, R, sys).finish()
    assert ("write_file", "/proc/sys/net/ipv4/ip_forward", "1") in sys.calls
    mounts = sys.of("mount")
    assert ("/dev/null", "/proc/kcore", None, libc.MS_BIND, None) in mounts
    assert ("tmpfs", "/sys/firmware", "tmpfs", libc.MS_RDONLY, None) in mounts
    assert ("/proc/sys", "/proc/sys", None, libc.MS_BIND | libc.MS_REC, None) in mounts
    ro = [m for m in mounts if m[1] == "/proc/sys" and m[3] & libc.MS_REMOUNT]
    assert ro and ro[0][3] & libc.MS_RDONLY
    assert not any(m[1] == "/absent" for m in mounts)


def test_readonly_root_is_remounted_last():
    spec = make({"root": {"path": R, "readonly": True}})
    sys = RecordingSyscalls()
    RootfsBuilder(spec, R, sys).finish()
    last = sys.of("mount")[-1]
    assert last[1] == "/" and last[3] & (libc.MS_RDONLY | libc.MS_REMOUNT | libc.MS_BIND) == libc.MS_RDONLY | libc.MS_REMOUNT | libc.MS_BIND


def test_resolve_in_root_keeps_symlinks_inside(tmp_path):
    root = tmp_path / "r"
    (root / "etc").mkdir(parents=True)
    (root / "link").symlink_to("/etc")
    (root / "up").symlink_to("../../../..")
    assert resolve_in_root(str(root), "/link/hosts") == str(root / "etc" / "hosts")
    assert resolve_in_root(str(root), "/up/etc") == str(root / "etc")
    assert resolve_in_root(str(root), "/a/../b") == str(root / "b")
