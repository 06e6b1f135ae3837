"""The monitor's cheap delete of a stopped container (runtime.state.remove_stopped) on a
fake cgroup tree: what it removes, and when it leaves the job to the full delete."""

from __future__ import annotations

import json
import os

from minke.runtime import state


def _tree(tmp_path, rel="minke/c1"):
    cg = tmp_path / "cgroup"
    for h in ("memory", "cpu,cpuacct", "pids", "unified"):
        (cg / h / rel).mkdir(parents=True)
    (cg / "cgroup.procs").write_text("")  # v2 puts files at the top: not a hierarchy
    return str(cg)


def _state(tmp_path, **extra):
    root = tmp_path / "rt"
    d = root / "c1"
    d.mkdir(parents=True)
    st = {"id": "c1", "pid": 0, "start_time": None, "cgroups_path": "minke/c1", "config": {}, **extra}
    (d / "state.json").write_text(json.dumps(st))
    return str(root)


def test_removes_the_cgroup_in_every_hierarchy_and_the_state(tmp_path):
    cg = _tree(tmp_path)
    root = _state(tmp_path)
    assert state.remove_stopped(root, "c1", cgroup_root=cg)
    assert not os.path.exists(os.path.join(root, "c1"))
    for h in ("memory", "cpu,cpuacct", "pids", "unified"):
        assert not os.path.exists(os.path.join(cg, h, "minke/c1"))
        assert os.path.isdir(os.path.join(cg, h, "minke"))  # the shared parent stays


def test_the_callers_cgroup_path_spares_reading_the_state(tmp_path):
    cg = _tree(tmp_path)
    root = _state(tmp_path)
    os.unlink(os.path.join(root, "c1", "state.json"))
    assert state.remove_stopped(root, "c1", "/minke/c1", cgroup_root=cg)
    assert not os.path.exists(os.path.join(cg, "memory", "minke/c1"))


def test_leaves_a_cgroup_it_cannot_remove_to_the_full_delete(tmp_path):
    cg = _tree(tmp_path)
    os.mkdir(os.path.join(cg, "pids", "minke/c1", "sub"))  # rmdir fails: not empty
    root = _state(tmp_path)
    assert not state.remove_stopped(root, "c1", cgroup_root=cg)
    assert os.path.exists(os.path.join(root, "c1", "state.json"))


def test_poststop_hooks_and_a_live_init_need_the_full_delete(tmp_path):
    cg = _tree(tmp_path)
    root = _state(tmp_path, config={"hooks": {"poststop": [{"path": "/bin/true"}]}})
    assert not state.remove_stopped(root, "c1", cgroup_root=cg)
    os.unlink(os.path.join(root, "c1", "state.json"))
    os.rmdir(os.path.join(root, "c1"))
    me = {"pid": os.getpid(), "start_time": state.proc_start_time(os.getpid())}
    root = _state(tmp_path / "b", **me)
    assert not state.remove_stopped(root, "c1", cgroup_root=cg)


def test_a_container_already_gone_is_done(tmp_path):
    assert state.remove_stopped(str(tmp_path / "rt"), "c1", cgroup_root=str(tmp_path))
