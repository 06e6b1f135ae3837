"""config.json validation: every bad field is one InvalidArgument line naming it."""

from __future__ import annotations

import copy
import json

import pytest

from minke.errors import InvalidArgument, NotFound
from minke.runtime.spec import Spec, User, load_spec, parse_process, parse_spec

BASE = {
    "ociVersion": "1.0.2",
    "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]},
    "root": {"path": "rootfs"},
    "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]},
}


def spec_with(**changes):
    d = copy.deepcopy(BASE)
    for path, value in changes.items():
        cur = d
        keys = path.split("__")
        for k in keys[:-1]:
            cur = cur.setdefault(k, {})
        if value is KeyError:
            cur.pop(keys[-1], None)
        else:
            cur[keys[-1]] = value
    return d


def test_minimal_spec_parses():
    s = parse_spec(copy.deepcopy(BASE))
    assert isinstance(s, Spec)
    assert s.process.args == ("sh",) and s.process.user == User(0, 0)
    assert [n.type for n in s.linux.namespaces] == ["pid", "mount"]
    assert s.root_path == "rootfs" and not s.root_readonly
    assert s.raw["ociVersion"] == "1.0.2"


def test_full_spec_parses():
    d = spec_with(
        hostname="h",
        domainname="d",
        process__rlimits=[{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 2}],
        process__capabilities={"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]},
        process__user={"uid": 1, "gid": 2, "umask": 18, "additionalGids": [3]},
        process__oomScoreAdj=-5,
        process__consoleSize={"height": 10, "width": 20},
        mounts=[{"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid"]}],
        hooks={"prestart": [{"path": "/bin/true", "args": ["true"], "timeout": 3}], "unknownKind": []},
        linux__uidMappings=[{"containerID": 0, "hostID": 1000, "size": 1}],
        linux__gidMappings=[{"containerID": 0, "hostID": 1000, "size": 1}],
        linux__devices=[{"type": "c", "path": "/dev/x", "major": 1, "minor": 3, "fileMode": 438}],
        linux__sysctl={"kernel.shmmax": "1"},
        linux__maskedPaths=["/proc/kcore"],
        linux__readonlyPaths=["/proc/sys"],
        linux__rootfsPropagation="rslave",
        linux__cgroupsPath="/a/b",
    )
    d["linux"]["namespaces"].append({"type": "user"})
    s = parse_spec(d)
    assert s.process.rlimits[0].resource == 7 and s.process.user.umask == 18
    assert s.process.console_size == (10, 20)
    assert s.hooks["prestart"][0].timeout == 3 and "unknownKind" not in s.hooks
    assert s.linux.uid_mappings[0].host_id == 1000
    assert s.linux.devices[0].file_mode == 438
    assert s.linux.namespace("user") is not None and s.linux.namespace("ipc") is None


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"ociVersion": KeyError}, "ociVersion"),
        ({"ociVersion": 1}, "ociVersion"),
        ({"root": KeyError}, "root"),
        ({"root__path": ""}, "root.path"),
        ({"root__readonly": "yes"}, "root.readonly"),
        ({"process__args": "sh"}, "process.args"),
        ({"process__args": []}, "process.args"),
        ({"process__args": ["sh", 1]}, "process.args"),
        ({"process__cwd": "relative"}, "process.cwd"),
        ({"process__env": ["NOEQUALS"]}, "process.env[0]"),
        ({"process__user__uid": "0"}, "process.user.uid"),
        ({"process__user__gid": -1}, "process.user.gid"),
        ({"process__user__additionalGids": ["a"]}, "process.user.additionalGids"),
        ({"process__terminal": 1}, "process.terminal"),
        ({"process__rlimits": [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]}, "process.rlimits[0].type"),
        ({"process__rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1}]}, "process.rlimits[0].hard"),
        ({"process__oomScoreAdj": 5000}, "process.oomScoreAdj"),
        ({"process__capabilities": {"bounding": ["CAP_NOPE"]}}, "process.capabilities"),
        ({"process__capabilities": {"bounding": "CAP_KILL"}}, "process.capabilities.bounding"),
        ({"mounts": [{"type": "tmpfs"}]}, "mounts[0].destination"),
        ({"mounts": [{"destination": "rel"}]}, "mounts[0].destination"),
        ({"mounts": [{"destination": "/x", "options": "ro"}]}, "mounts[0].options"),
        ({"mounts": {}}, "mounts"),
        ({"hooks__prestart": [{"path": "rel"}]}, "hooks.prestart[0].path"),
        ({"hooks__poststop": [{"path": "/x", "timeout": 0}]}, "hooks.poststop[0].timeout"),
        ({"linux__namespaces": [{"type": "bogus"}]}, "linux.namespaces[0].type"),
        ({"linux__namespaces": [{"type": "pid"}, {"type": "pid"}]}, "linux.namespaces[1].type"),
        ({"linux__namespaces": [{"type": "net", "path": "x"}]}, "linux.namespaces[0].type"),
        ({"linux__namespaces": [{"type": "network", "path": "rel"}]}, "linux.namespaces[0].path"),
        ({"linux__uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}, "linux.uidMappings"),
        ({"linux__devices": [{"type": "x", "path": "/dev/x"}]}, "linux.devices[0].type"),
        ({"linux__devices": [{"type": "c", "path": "/dev/x"}]}, "linux.devices[0].major"),
        ({"linux__rootfsPropagation": "sideways"}, "linux.rootfsPropagation"),
        ({"linux__sysctl": {"a": 1}}, "linux.sysctl.a"),
        ({"linux__maskedPaths": "/proc"}, "linux.maskedPaths"),
        ({"linux": []}, "linux"),
    ],
)
def test_bad_field_is_named(changes, field):
    with pytest.raises(InvalidArgument) as e:
        parse_spec(spec_with(**changes))
    msg = str(e.value)
    assert msg.startswith(field), msg
    assert "\n" not in msg


def test_not_an_object():
    with pytest.raises(InvalidArgument, match="config.json"):
        parse_spec([])


def test_load_spec_errors(tmp_path):
    with pytest.raises(NotFound, match="bundle"):
        load_spec(str(tmp_path / "nope"))
    with pytest.raises(NotFound, match="config.json"):
        load_spec(str(tmp_path))
    (tmp_path / "config.json").write_text("{bad")
    with pytest.raises(InvalidArgument, match="invalid json"):
        load_spec(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(BASE))
    assert load_spec(str(tmp_path)).process.args == ("sh",)


def test_exec_process_file_is_validated_like_the_spec():
    p = parse_process({"args": ["ls"], "user": {"uid": 5}}, prefix="process")
    assert p.cwd == "/" and p.user.uid == 5
    with pytest.raises(InvalidArgument, match="^process.args"):
        parse_process({"cwd": "/"})


def test_value_objects_are_frozen_and_compare_by_value():
    u = User(uid=1)
    with pytest.raises(AttributeError):
        u.uid = 2  # type: ignore[misc]
    assert u == User(1, 0) and u != User(2)
    with pytest.raises(TypeError):
        User(nope=1)
