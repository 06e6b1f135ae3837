"""Containers with volumes, end to end through the ``minke`` command, on both runtimes:
a named volume keeps data across containers, ``-v /path`` makes an anonymous volume that
``rm -v`` removes, ``-v /host:/path`` and ``--mount`` binds, inspect's Mounts, and bad
``-v`` / ``--mount`` strings.  The ``minke`` fixture checks that no container, mount,
process or cgroup is left; each test removes its volumes and checks they are gone."""

from __future__ import annotations

import os

import pytest
from test_containers_lifecycle import _mounts_under, minke  # noqa: F401  (fixture)

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


@pytest.fixture(autouse=True)
def _store_bridge_removed(minke):  # noqa: F811
    """These containers run on the store's default bridge: take it down after the test."""
    yield
    from minke.config import Config
    from minke.engine import Engine

    e = Engine(Config(root=minke.root, run_root=minke.run_root))
    try:
        bridge = e.networks.default_bridge
        e.networks.teardown_all()
    finally:
        e.close()
    assert not os.path.exists(f"/sys/class/net/{bridge}")


def _volumes(m) -> list[str]:
    return m.ok("volume", "ls", "-q").split()


def test_named_volume_survives_and_is_shared(minke, tmp_path):  # noqa: F811
    minke.ok("run", "--rm", "-v", "keep:/data", "busybox", "sh", "-c", "echo kept > /data/f")
    assert minke.ok("run", "--rm", "-v", "keep:/data:ro", "busybox", "cat", "/data/f") == "kept\n"
    r = minke("run", "--rm", "-v", "keep:/data:ro", "busybox", "touch", "/data/g")
    assert r.returncode != 0  # read-only
    assert minke.ok("run", "--rm", "--mount", "type=volume,src=keep,dst=/v", "busybox", "cat", "/v/f") == "kept\n"
    host = tmp_path / "host"
    host.mkdir()
    (host / "h").write_text("from host\n")
    out = minke.ok("run", "--rm", "-v", f"{host}:/h", "--mount", f"type=bind,src={host},dst=/b,readonly",
                   "busybox", "sh", "-c", "cat /h/h /b/h")
    assert out == "from host\nfrom host\n"
    assert _volumes(minke) == ["keep"]
    minke.ok("volume", "rm", "keep")
    assert _volumes(minke) == []


def test_anonymous_volume_inspect_and_rm_v(minke):  # noqa: F811
    cid = minke.ok("run", "-d", "-v", "named1:/data", "-v", "/scratch", "busybox", "sleep", "30").strip()
    mounts = {m["Destination"]: m for m in minke.inspect(cid)["Mounts"]}
    assert set(mounts) == {"/data", "/scratch"}
    assert mounts["/data"]["Type"] == "volume" and mounts["/data"]["Name"] == "named1" and mounts["/data"]["RW"]
    anon = mounts["/scratch"]["Name"]
    assert len(anon) == 64 and os.path.isdir(mounts["/scratch"]["Source"])
    assert set(_volumes(minke)) == {"named1", anon}
    r = minke("volume", "rm", "named1")
    assert r.returncode != 0 and "in use" in r.stderr.lower()
    minke.ok("rm", "-f", "-v", cid)
    assert _volumes(minke) == ["named1"]  # rm -v takes only the anonymous one
    minke.ok("volume", "rm", "named1")
    assert _mounts_under(minke.root) == []


def test_bad_volume_and_mount_strings(minke):  # noqa: F811
    for args, word in (
        (["-v", ":/x"], "invalid"),
        (["-v", "name:relative"], "relative"),
        (["--mount", "type=volume,src=v"], "target"),
        (["--mount", "type=bind,dst=/x"], "source"),
        (["--mount", "type=nope,dst=/x"], "nope"),
        (["-v", "v1:/x", "--mount", "type=volume,src=v2,dst=/x"], "/x"),
    ):
        r = minke("run", "--rm", *args, "busybox", "true")
        lines = r.stderr.strip().splitlines()
        assert r.returncode != 0 and len(lines) == 1 and word in lines[0].lower(), (args, r.stderr)
    assert minke.ids() == []
    assert _volumes(minke) == []
