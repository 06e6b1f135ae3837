from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from minke.errors import Conflict, InvalidArgument, Unavailable, Unsupported
from minke.runtime import cgroups
from minke.runtime.cgroups import common, detect_layout, new_manager, v1, v2
from minke.runtime.cgroups.common import CgroupFs
from minke.runtime.cgroups.v1 import V1Manager
from minke.runtime.cgroups.v2 import V2Manager

V2_FILES = {
    "cgroup.procs": "", "cgroup.subtree_control": "", "cgroup.freeze": "0",
    "cgroup.events": "populated 0\nfrozen 0\n", "cgroup.kill": "", "memory.max": "max",
    "memory.current": "0", "memory.swap.max": "max", "memory.low": "0", "memory.peak": "0",
    "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n", "memory.stat": "anon 0\nfile 0\n",
    "cpu.weight": "100", "cpu.max": "max 100000", "cpu.max.burst": "0", "cpu.idle": "0",
    "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n", "cpuset.cpus": "", "cpuset.mems": "",
    "pids.max": "max", "pids.current": "0", "io.weight": "default 100", "io.max": "", "io.stat": "",
    "hugetlb.2MB.max": "max",
}  # fmt: skip

V1_FILES = {
    "memory": {"memory.limit_in_bytes": "9223372036854771712", "memory.memsw.limit_in_bytes": "9223372036854771712",
               "memory.soft_limit_in_bytes": "9223372036854771712", "memory.swappiness": "60",
               "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", "memory.usage_in_bytes": "0",
               "memory.max_usage_in_bytes": "0", "memory.stat": "cache 0\ntotal_cache 0\ntotal_inactive_file 0\n"},
    "cpu": {"cpu.shares": "1024", "cpu.cfs_quota_us": "-1", "cpu.cfs_period_us": "100000",
            "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n"},
    "cpuacct": {"cpuacct.usage": "0", "cpuacct.stat": "user 0\nsystem 0\n"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "pids": {"pids.max": "max", "pids.current": "0"},
    "freezer": {"freezer.state": "THAWED"},
    "devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm"},
    "blkio": {"blkio.bfq.weight": "100", "blkio.throttle.io_service_bytes_recursive": "Total 0\n",
              "blkio.throttle.read_bps_device": ""},
    "hugetlb": {"hugetlb.2MB.limit_in_bytes": "9223372036854771712"},
    "name=systemd": {},
}  # fmt: skip


class FakeKernelFs(CgroupFs):
    """A plain directory tree that behaves like cgroupfs where the managers care.

    mkdir makes the interface files, rmdir drops them (and refuses a cgroup with tasks),
    subtree_control accumulates, cgroup.freeze updates cgroup.events, cgroup.kill empties
    the cgroup, and `reject` makes chosen writes fail with EINVAL like the kernel does.
    """

    def __init__(self, files_for):
        self.files_for = files_for  # path -> {name: contents}
        self.writes: list[tuple[str, str]] = []
        self.reject: dict[str, object] = {}
        self.freeze_sticks = True
        self.freezer_states: list[str] = []

    def mkdir(self, path):
        os.mkdir(path)
        for name, text in self.files_for(path).items():
            Path(path, name).write_text(text)

    def rmdir(self, path):
        if Path(path, "cgroup.procs").exists() and Path(path, "cgroup.procs").read_text().strip():
            raise OSError(errno.EBUSY, "Device or resource busy")
        for entry in os.scandir(path):
            if entry.is_dir():
                raise OSError(errno.EBUSY, "Device or resource busy")
        for entry in os.scandir(path):
            os.unlink(entry.path)
        os.rmdir(path)

    def read(self, path):
        if path.endswith("freezer.state") and self.freezer_states:
            return self.freezer_states.pop(0)
        return super().read(path)

    def write(self, path, value):
        name = os.path.basename(path)
        check = self.reject.get(name)
        if check is not None and check(value):
            raise OSError(errno.EINVAL, "Invalid argument")
        if not os.path.exists(path):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        self.writes.append((path, value))
        directory = os.path.dirname(path)
        if name == "cgroup.subtree_control":
            have = Path(path).read_text().split()
            Path(path).write_text(" ".join(have + [value.lstrip("+")]))
            return
        if name == "cgroup.procs":
            Path(path).write_text(Path(path).read_text() + value + "\n")
            return
        if name == "cgroup.kill":
            Path(directory, "cgroup.procs").write_text("")
            return
        super().write(path, value)
        if name == "cgroup.freeze" and self.freeze_sticks:
            Path(directory, "cgroup.events").write_text(f"populated 1\nfrozen {value}\n")


@pytest.fixture
def v2_tree(tmp_path):
    root = tmp_path / "cgroup"
    root.mkdir()
    for name in ("cgroup.procs", "cgroup.subtree_control", "cgroup.controllers"):
        (root / name).write_text("")
    (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        f"22 1 0:20 / / rw - ext4 /dev/vda1 rw\n"
        f"30 22 0:26 / {root} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
    )

    def files_for(path):
        parent = Path(path).parent
        files = dict(V2_FILES)
        files["cgroup.controllers"] = (parent / "cgroup.subtree_control").read_text()
        return files

    fs = FakeKernelFs(files_for)
    return root, str(mountinfo), fs


@pytest.fixture
def v1_tree(tmp_path):
    root = tmp_path / "cgroup"
    mounts = {"memory": "memory", "cpu": "cpu,cpuacct", "cpuacct": "cpu,cpuacct", "cpuset": "cpuset",
              "pids": "pids", "freezer": "freezer", "devices": "devices", "blkio": "blkio",
              "hugetlb": "hugetlb", "name=systemd": "systemd"}  # fmt: skip
    lines = ["22 1 0:20 / / rw - ext4 /dev/vda1 rw", f"31 22 0:28 / {root} rw - tmpfs tmpfs rw,mode=755"]
    seen = set()
    for i, directory in enumerate(mounts.values()):
        d = root / directory
        d.mkdir(parents=True, exist_ok=True)
        if directory in seen:
            continue
        seen.add(directory)
        opts = "rw," + ",".join(c for c, dd in mounts.items() if dd == directory)
        lines.append(f"{40 + i} 31 0:{40 + i} / {d} rw,nosuid - cgroup cgroup {opts}")
        (d / "cgroup.procs").write_text("")
    (root / "cpuset" / "cpuset.cpus").write_text("0-3\n")
    (root / "cpuset" / "cpuset.mems").write_text("0\n")
    lines.append(f"60 31 0:60 / {root}/unified rw - cgroup2 cgroup2 rw")
    (root / "unified").mkdir()
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("\n".join(lines) + "\n")
    by_dir = {}
    for controller, directory in mounts.items():
        by_dir.setdefault(directory, {}).update(V1_FILES[controller])

    def files_for(path):
        rel = Path(path).relative_to(root)
        files = {"cgroup.procs": "", "tasks": ""}
        files.update(by_dir[rel.parts[0]])
        return files

    return root, str(mountinfo), FakeKernelFs(files_for)


def read(path) -> str:
    return Path(path).read_text().strip()


# --- layout ------------------------------------------------------------------------------


def test_detects_v2(v2_tree):
    root, mountinfo, _ = v2_tree
    layout = detect_layout(str(root), mountinfo)
    assert layout.mode == "v2" and layout.unified == str(root)


def test_detects_hybrid_and_v1(v1_tree, tmp_path):
    root, mountinfo, _ = v1_tree
    layout = detect_layout(str(root), mountinfo)
    assert layout.mode == "hybrid"
    assert layout.unified == f"{root}/unified"
    assert layout.v1["cpu"] == layout.v1["cpuacct"] == f"{root}/cpu,cpuacct"
    assert layout.v1["name=systemd"] == f"{root}/systemd"
    pure = tmp_path / "mountinfo-v1"
    pure.write_text("".join(line + "\n" for line in Path(mountinfo).read_text().splitlines() if "cgroup2" not in line))
    assert detect_layout(str(root), str(pure)).mode == "v1"


def test_detect_handles_escapes_and_ignores_other_roots(tmp_path):
    mi = tmp_path / "mi"
    mi.write_text(
        "30 22 0:26 / /other/cgroup rw - cgroup2 cgroup2 rw\n"
        "31 22 0:27 / /my\\040cg/memory rw - cgroup cgroup rw,memory\n"
    )
    assert detect_layout("/my cg", str(mi)).v1 == {"memory": "/my cg/memory"}
    with pytest.raises(Unsupported, match="no cgroup filesystem"):
        detect_layout("/nowhere", str(mi))


def test_new_manager_picks_v2(v2_tree):
    root, mountinfo, fs = v2_tree
    assert isinstance(new_manager("a/b", root=str(root), mountinfo=mountinfo, fs=fs), V2Manager)


def test_new_manager_picks_v1(v1_tree):
    root, mountinfo, fs = v1_tree
    assert isinstance(new_manager("a/b", root=str(root), mountinfo=mountinfo, fs=fs), V1Manager)


@pytest.mark.parametrize("bad", ["", "/", "../escape", "a/../../b", "a/./b"])
def test_bad_paths(bad):
    with pytest.raises(InvalidArgument):
        common.check_path(bad)


def test_systemd_paths_unsupported():
    with pytest.raises(Unsupported, match="systemd"):
        common.check_path("system.slice:minke:abc")


# --- conversions ---------------------------------------------------------------------------


def test_conversions():
    assert common.shares_to_weight(2) == 1
    assert common.shares_to_weight(1024) == 39
    assert common.shares_to_weight(262144) == 10000
    assert common.shares_to_weight(1) == 1
    assert common.blkio_weight_to_io_weight(10) == 1
    assert common.blkio_weight_to_io_weight(500) == 4950
    assert common.blkio_weight_to_io_weight(1000) == 10000
    assert common.swap_for_v2(None, None) is None
    assert common.swap_for_v2(0, 100) is None
    assert common.swap_for_v2(-1, 100) == -1
    assert common.swap_for_v2(0, -1) == -1
    assert common.swap_for_v2(300, 100) == 200
    assert common.swap_for_v2(100, 100) == 0
    with pytest.raises(InvalidArgument):
        common.swap_for_v2(50, 100)
    with pytest.raises(InvalidArgument, match="needs a memory limit"):
        common.swap_for_v2(100, None)


# --- v2 ------------------------------------------------------------------------------------


def _v2(v2_tree, path="minke/c1") -> V2Manager:
    root, mountinfo, fs = v2_tree
    m = new_manager(path, root=str(root), mountinfo=mountinfo, fs=fs)
    assert isinstance(m, V2Manager)
    return m


def test_v2_create_enables_controllers_top_down(v2_tree):
    root = v2_tree[0]
    m = _v2(v2_tree)
    m.create()
    assert (root / "minke" / "c1").is_dir()
    assert read(root / "cgroup.subtree_control").split() == ["cpuset", "cpu", "io", "memory", "pids", "hugetlb", "misc"]
    assert read(root / "minke" / "cgroup.subtree_control").split() == read(root / "cgroup.subtree_control").split()
    assert read(root / "minke" / "c1" / "cgroup.subtree_control") == ""  # leaf: nothing delegated
    m.create()  # idempotent


def test_v2_set_resources(v2_tree):
    root = v2_tree[0]
    m = _v2(v2_tree)
    m.create()
    m.set_resources({
        "memory": {"limit": 256 << 20, "swap": 512 << 20, "reservation": 128 << 20},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0", "burst": 1000},
        "pids": {"limit": 100},
        "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}],
    })
    d = root / "minke" / "c1"
    assert read(d / "memory.max") == str(256 << 20)
    assert read(d / "memory.swap.max") == str(256 << 20)  # swap - limit
    assert read(d / "memory.low") == str(128 << 20)
    assert read(d / "cpu.weight") == "39"
    assert read(d / "cpu.max") == "50000 100000"
    assert read(d / "cpu.max.burst") == "1000"
    assert read(d / "cpuset.cpus") == "0-1"
    assert read(d / "pids.max") == "100"
    assert read(d / "io.weight") == "4950"
    assert read(d / "io.max") == "8:0 rbps=1048576"
    assert read(d / "hugetlb.2MB.max") == str(4 << 20)


def test_v2_unified_and_unlimited(v2_tree):
    root = v2_tree[0]
    m = _v2(v2_tree)
    m.create()
    d = root / "minke" / "c1"
    (d / "memory.high").write_text("max")
    m.set_resources({"memory": {"limit": -1}, "cpu": {"quota": -1, "period": 50000}, "pids": {"limit": -1},
                     "unified": {"memory.high": "300000000"}})
    assert read(d / "memory.max") == "max"
    assert read(d / "memory.swap.max") == "max"
    assert read(d / "cpu.max") == "max 50000"
    assert read(d / "pids.max") == "max"
    assert read(d / "memory.high") == "300000000"
    with pytest.raises(Unsupported, match="memory.nope"):
        m.set_resources({"unified": {"memory.nope": "1"}})


def test_v2_bad_input_writes_nothing(v2_tree):
    fs = v2_tree[2]
    m = _v2(v2_tree)
    m.create()
    before = len(fs.writes)
    for bad, field in [
        ({"memory": {"limit": 200, "swap": 100}}, "below the memory limit"),
        ({"memory": {"limit": "1g"}}, "memory.limit must be an integer"),
        ({"memory": {"limit": -2}}, "memory.limit"),
        ({"cpu": {"cpus": "zero"}}, "cpu.cpus"),
        ({"cpu": {"shares": 300000}}, "cpu.shares"),
        ({"blockIO": {"weight": 5}}, "blockIO.weight"),
        ({"devices": [{"allow": True, "type": "x"}]}, "device type"),
        ({"memory": {"swappiness": 101}}, "swappiness"),
    ]:
        with pytest.raises(InvalidArgument, match=field):
            m.set_resources(bad)
    assert len(fs.writes) == before


def test_v2_kernel_einval_names_file_and_value(v2_tree):
    fs = v2_tree[2]
    m = _v2(v2_tree)
    m.create()
    fs.reject["cpu.max"] = lambda v: int(v.split()[0]) < 1000
    with pytest.raises(InvalidArgument, match=r"invalid value '10 100000' for .*/minke/c1/cpu.max"):
        m.set_resources({"cpu": {"quota": 10, "period": 100000}})
    with pytest.raises(Unsupported, match="realtime"):
        m.set_resources({"cpu": {"realtimeRuntime": 1000}})


def test_v2_devices_ignored_with_warning(v2_tree, caplog):
    m = _v2(v2_tree)
    m.create()
    m.set_resources({"devices": [{"allow": False, "access": "rwm"}]})
    assert "not enforced on cgroup v2" in caplog.text


def test_v2_apply_pids_and_freeze(v2_tree):
    root = v2_tree[0]
    m = _v2(v2_tree)
    m.create()
    m.apply(1234)
    (root / "minke" / "c1" / "sub").mkdir()
    (root / "minke" / "c1" / "sub" / "cgroup.procs").write_text("99\n")
    assert m.pids() == [99, 1234]
    m.freeze()
    assert read(root / "minke" / "c1" / "cgroup.freeze") == "1"
    m.thaw()
    assert read(root / "minke" / "c1" / "cgroup.freeze") == "0"
    with pytest.raises(InvalidArgument):
        m.apply(0)


def test_v2_freeze_timeout_thaws_again(v2_tree, monkeypatch):
    fs = v2_tree[2]
    monkeypatch.setattr(v2, "FREEZE_TIMEOUT", 0.05)
    m = _v2(v2_tree)
    m.create()
    fs.freeze_sticks = False  # the kernel never reports frozen
    with pytest.raises(Unavailable, match="freeze"):
        m.freeze()
    assert read(v2_tree[0] / "minke" / "c1" / "cgroup.freeze") == "0"


def test_v2_stats_and_oom(v2_tree):
    root = v2_tree[0]
    m = _v2(v2_tree)
    m.create()
    d = root / "minke" / "c1"
    (d / "memory.current").write_text("1048576\n")
    (d / "memory.max").write_text("2097152\n")
    (d / "memory.peak").write_text("1500000\n")
    (d / "memory.stat").write_text("anon 100\nfile 4096\ninactive_file 1024\n")
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    (d / "cpu.stat").write_text("usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 7\nnr_throttled 2\nthrottled_usec 30\n")
    (d / "pids.current").write_text("3\n")
    (d / "io.stat").write_text("8:0 rbytes=100 wbytes=200 rios=1 wios=2\n8:16 rbytes=1 wbytes=2\n")
    assert m.stats() == {
        "memory": {"usage": 1048576, "limit": 2097152, "max_usage": 1500000, "cache": 4096,
                   "inactive_file": 1024, "oom_kills": 1},
        "cpu": {"usage_total": 2500000, "usage_user": 2000000, "usage_system": 500000,
                "periods": 7, "throttled_periods": 2, "throttled_time": 30000},
        "pids": {"current": 3, "limit": None},
        "blkio": {"read_bytes": 101, "write_bytes": 202},
    }  # fmt: skip
    assert m.oom_killed()


def test_v2_destroy(v2_tree):
    root, _, fs = v2_tree
    fs.mkdir(str(root / "keep"))  # a parent that existed before: never removed
    m = _v2(v2_tree, "keep/minke/c1")
    m.create()
    m.apply(42)
    with pytest.raises(Conflict, match="still has processes"):
        m.destroy()
    m.destroy(kill=True)  # cgroup.kill empties it in the fake
    assert not (root / "keep" / "minke").exists()
    assert (root / "keep").is_dir()
    m.destroy()  # idempotent


def test_v2_destroy_from_another_manager_keeps_parents(v2_tree):
    root = v2_tree[0]
    _v2(v2_tree).create()
    other = _v2(v2_tree)
    other.destroy()
    assert not (root / "minke" / "c1").exists()
    assert (root / "minke").is_dir()


# --- v1 ------------------------------------------------------------------------------------


def _v1(v1_tree, path="minke/c1") -> V1Manager:
    root, mountinfo, fs = v1_tree
    m = new_manager(path, root=str(root), mountinfo=mountinfo, fs=fs)
    assert isinstance(m, V1Manager)
    return m


def test_v1_create_in_every_hierarchy_and_cpuset_inherits(v1_tree):
    root = v1_tree[0]
    m = _v1(v1_tree)
    m.create()
    for h in ("memory", "cpu,cpuacct", "cpuset", "pids", "freezer", "devices", "blkio", "hugetlb", "systemd"):
        assert (root / h / "minke" / "c1").is_dir(), h
    assert not (root / "unified" / "minke").exists()  # hybrid: unified left alone
    assert read(root / "cpuset" / "minke" / "cpuset.cpus") == "0-3"
    assert read(root / "cpuset" / "minke" / "c1" / "cpuset.mems") == "0"
    m.apply(77)
    assert read(root / "memory" / "minke" / "c1" / "cgroup.procs") == "77"
    assert read(root / "systemd" / "minke" / "c1" / "cgroup.procs") == "77"


def test_v1_set_resources(v1_tree):
    root = v1_tree[0]
    m = _v1(v1_tree)
    m.create()
    m.set_resources({
        "memory": {"limit": 100 << 20, "swap": 200 << 20, "reservation": 50 << 20, "swappiness": 0,
                   "disableOOMKiller": True},
        "cpu": {"shares": 512, "quota": 20000, "period": 50000, "cpus": "1", "mems": "0"},
        "pids": {"limit": 10},
        "blockIO": {"weight": 300, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}]},
        "devices": [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
    })
    mem, cpu = root / "memory" / "minke" / "c1", root / "cpu,cpuacct" / "minke" / "c1"
    assert read(mem / "memory.limit_in_bytes") == str(100 << 20)
    assert read(mem / "memory.memsw.limit_in_bytes") == str(200 << 20)  # limit + swap, as given
    assert read(mem / "memory.soft_limit_in_bytes") == str(50 << 20)
    assert read(mem / "memory.swappiness") == "0"
    assert read(mem / "memory.oom_control") == "1"
    assert read(cpu / "cpu.shares") == "512"
    assert read(cpu / "cpu.cfs_quota_us") == "20000"
    assert read(cpu / "cpu.cfs_period_us") == "50000"
    assert read(root / "cpuset" / "minke" / "c1" / "cpuset.cpus") == "1"
    assert read(root / "pids" / "minke" / "c1" / "pids.max") == "10"
    assert read(root / "blkio" / "minke" / "c1" / "blkio.bfq.weight") == "300"
    assert read(root / "blkio" / "minke" / "c1" / "blkio.throttle.read_bps_device") == "8:0 1000"
    dev = [v for p, v in v1_tree[2].writes if "devices." in p]
    assert dev == ["a *:* rwm", "c 1:3 rw"]


def test_v1_memory_write_order_keeps_memsw_above_limit(v1_tree):
    root, _, fs = v1_tree
    m = _v1(v1_tree)
    m.create()
    mem = root / "memory" / "minke" / "c1"
    # Like the kernel: memsw may never be below the memory limit.
    fs.reject["memory.limit_in_bytes"] = lambda v: int(v) > int(read(mem / "memory.memsw.limit_in_bytes"))
    fs.reject["memory.memsw.limit_in_bytes"] = lambda v: int(v) < int(read(mem / "memory.limit_in_bytes"))
    for limit, swap in ((50, 60), (100, 200), (150, 160), (20, 30), (400, 1000)):
        m.set_resources({"memory": {"limit": limit, "swap": swap}})
        assert (read(mem / "memory.limit_in_bytes"), read(mem / "memory.memsw.limit_in_bytes")) == (str(limit), str(swap))


def test_v1_rejects_unified_and_missing_weight(v1_tree):
    root = v1_tree[0]
    m = _v1(v1_tree)
    m.create()
    with pytest.raises(InvalidArgument, match="unified needs cgroup v2"):
        m.set_resources({"unified": {"memory.high": "1"}})
    os.unlink(root / "blkio" / "minke" / "c1" / "blkio.bfq.weight")
    with pytest.raises(Unsupported, match="block I/O weight"):
        m.set_resources({"blockIO": {"weight": 300}})


def test_v1_freeze_waits_through_freezing(v1_tree):
    fs = v1_tree[2]
    m = _v1(v1_tree)
    m.create()
    fs.freezer_states = ["FREEZING", "FREEZING", "FROZEN"]
    m.freeze()
    assert ("FROZEN" in [v for p, v in fs.writes if p.endswith("freezer.state")])
    assert fs.freezer_states == []
    m.thaw()
    assert read(v1_tree[0] / "freezer" / "minke" / "c1" / "freezer.state") == "THAWED"


def test_v1_stats(v1_tree):
    root = v1_tree[0]
    m = _v1(v1_tree)
    m.create()
    mem, cpu = root / "memory" / "minke" / "c1", root / "cpu,cpuacct" / "minke" / "c1"
    (mem / "memory.usage_in_bytes").write_text("4096\n")
    (mem / "memory.max_usage_in_bytes").write_text("8192\n")
    (mem / "memory.stat").write_text("cache 10\ntotal_cache 20\ntotal_inactive_file 5\n")
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    (cpu / "cpuacct.usage").write_text("5000000000\n")
    (cpu / "cpuacct.stat").write_text(f"user {os.sysconf('SC_CLK_TCK') * 3}\nsystem {os.sysconf('SC_CLK_TCK')}\n")
    (cpu / "cpu.stat").write_text("nr_periods 4\nnr_throttled 1\nthrottled_time 999\n")
    (root / "pids" / "minke" / "c1" / "pids.current").write_text("2\n")
    (root / "blkio" / "minke" / "c1" / "blkio.throttle.io_service_bytes_recursive").write_text(
        "8:0 Read 100\n8:0 Write 50\n8:0 Sync 150\n8:0 Total 150\n8:16 Read 1\nTotal 151\n")
    st = m.stats()
    assert st["memory"] == {"usage": 4096, "limit": None, "max_usage": 8192, "cache": 20, "inactive_file": 5, "oom_kills": 2}
    assert st["cpu"] == {"usage_total": 5_000_000_000, "usage_user": 3_000_000_000, "usage_system": 1_000_000_000,
                         "periods": 4, "throttled_periods": 1, "throttled_time": 999}
    assert st["pids"] == {"current": 2, "limit": None}
    assert st["blkio"] == {"read_bytes": 101, "write_bytes": 50}
    assert m.oom_killed()


def test_v1_destroy_removes_every_hierarchy(v1_tree):
    root = v1_tree[0]
    m = _v1(v1_tree)
    m.create()
    m.apply(5)
    with pytest.raises(Conflict):
        m.destroy()
    for h in root.iterdir():
        procs = h / "minke" / "c1" / "cgroup.procs"
        if procs.exists():
            procs.write_text("")
    m.destroy()
    leftovers = [p for p in root.rglob("minke")]
    assert leftovers == []


def test_create_failure_leaves_nothing(v1_tree):
    root, _, fs = v1_tree

    real_mkdir = fs.mkdir

    def failing(path):
        if "/pids/" in path:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_mkdir(path)

    fs.mkdir = failing
    m = _v1(v1_tree)
    with pytest.raises(OSError):
        m.create()
    assert list(root.rglob("minke")) == []


def test_exports():
    assert cgroups.new_manager is new_manager and v1.V1Manager is V1Manager


def test_cpuset_and_page_size_checks_match_the_grammar():
    # Checked by hand (re's import was most of every create's resource check): held here
    # to the regular expressions they replace, on generated strings.
    import random
    import re

    from minke.runtime.cgroups.common import _is_cpuset, _is_page_size

    rnd = random.Random(7)
    cpuset = re.compile(r"^\s*\d+(-\d+)?(\s*,\s*\d+(-\d+)?)*\s*$")
    for _ in range(30000):
        s = "".join(rnd.choice("0123-, -,\t\n٣x") for _ in range(rnd.randint(1, 9)))
        assert _is_cpuset(s) == bool(cpuset.match(s)), repr(s)
    for s in ("0", "0-3", "0-1, 4", " 2 ,3-5 ", "0-1\n", "1 -3", "-1", "1,", "", "a"):
        assert _is_cpuset(s) == bool(cpuset.match(s)), repr(s)
    page = re.compile(r"\d+[KMG]B")
    for _ in range(20000):
        s = "".join(rnd.choice("0129KMGBb٣ ") for _ in range(rnd.randint(0, 6)))
        assert _is_page_size(s) == bool(page.fullmatch(s)), repr(s)


def test_checking_resources_does_not_import_re():
    import os
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = ("import sys\nfrom minke.runtime.cgroups.common import validate_resources\n"
            "validate_resources({'devices': [{'allow': False, 'access': 'rwm'}], 'cpu': {'cpus': '0-1', 'shares': 512},"
            " 'memory': {'limit': 1 << 30}, 'hugepageLimits': [{'pageSize': '2MB', 'limit': 0}]})\n"
            "print('re' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-S", "-c", code], env=dict(os.environ, PYTHONPATH=repo),
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
