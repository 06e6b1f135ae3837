"""``minke volume`` through the CLI, and a volume mounted from -o type=tmpfs."""

from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.root


def test_volume_commands(minke, minke_env):
    assert minke("volume", "create", "--label", "a=b", "data").out == "data\n"
    anon = minke("volume", "create").out.strip()
    assert len(anon) == 64
    ls = minke("volume", "ls")
    assert ls.out.splitlines() == ["DRIVER    VOLUME NAME"] + [f"local     {n}" for n in sorted([anon, "data"])]
    assert minke("volume", "ls", "-q", "-f", "label=a").out == "data\n"
    t = minke("volume", "ls", "-f", "label=a", "--format", "table {{.Name}}\t{{.Labels}}\t{{.Scope}}")
    assert t.out.splitlines() == ["VOLUME NAME   LABELS    SCOPE", "data          a=b       local"]
    (row,) = [json.loads(line) for line in minke("volume", "ls", "-f", "label=a", "--format", "json").out.splitlines()]
    assert (row["Name"], row["Driver"], row["Labels"]) == ("data", "local", "a=b")
    assert row["Mountpoint"] == os.path.join(minke_env.root, "volumes", "data", "_data")
    info = json.loads(minke("volume", "inspect", "data").out)
    assert info[0]["Mountpoint"] == os.path.join(minke_env.root, "volumes", "data", "_data")
    assert (info[0]["Driver"], info[0]["Labels"], info[0]["Scope"]) == ("local", {"a": "b"}, "local")
    assert minke("volume", "inspect", "-f", "{{.Name}}", "data").out == "data\n"
    r = minke("volume", "rm", "data", "nope")
    assert r.code == 1 and r.out == "data\n" and "no such volume" in r.err
    r = minke("volume", "prune", "-f")
    assert r.out == f"Deleted Volumes:\n{anon}\n\nTotal reclaimed space: 0B\n"
    assert minke("volume", "ls", "-q").out == ""
    for args in (["bad name"], ["-d", "nfs", "x1"], ["-o", "bogus=1", "x2"]):
        r = minke("volume", "create", *args)
        assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r.err
    assert minke("volume", "ls", "-q").out == ""
    assert not os.listdir(os.path.join(minke_env.root, "volumes"))


def test_volume_in_use_and_tmpfs_options(minke, minke_env, tmp_path):
    from minke.config import Config
    from minke.engine import Engine
    from minke.volumes.mounts import parse_volume

    assert minke("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", "scratch").code == 0
    eng = Engine(Config(root=minke_env.root, run_root=minke_env.run_root))
    try:
        rootfs = tmp_path / "rootfs"
        (rootfs / "srv").mkdir(parents=True)
        (rootfs / "srv" / "seed").write_text("from the image")
        mounts = eng.volumes.prepare([parse_volume("scratch:/srv")], str(rootfs))
        mp = eng.volumes.get("scratch").mountpoint
        assert mounts[0]["source"] == mp and os.path.ismount(mp)
        assert open(os.path.join(mp, "seed")).read() == "from the image"
        assert "size=1024k" in open("/proc/self/mountinfo").read().split(mp, 1)[1].splitlines()[0]
        hc = {"Mounts": [{"Type": "volume", "Source": "scratch", "Target": "/srv"}]}
        eng.db.execute(
            "INSERT INTO containers (id, name, image_id, image_ref, created, config, host_config, snapshot_key)"
            " VALUES ('c1', 'c1', 'sha256:x', 'x', 0, '{}', ?, 'c1')", (json.dumps(hc),))
        r = minke("volume", "rm", "scratch")
        assert r.code == 1 and "volume is in use - [c1]" in r.err
        assert minke("volume", "rm", "-f", "scratch").code == 0
        assert not os.path.ismount(mp) and not os.path.exists(os.path.dirname(mp))
    finally:
        if os.path.ismount(os.path.join(minke_env.root, "volumes", "scratch", "_data")):
            os.system(f"umount -l {os.path.join(minke_env.root, 'volumes', 'scratch', '_data')}")
        eng.close()
