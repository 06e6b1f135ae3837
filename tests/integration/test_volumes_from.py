"""--volumes-from: another container's volumes and binds at the same places, with the
mode override, and Docker's errors."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import test_containers_lifecycle as _lifecycle  # noqa: E402

minke = _lifecycle.minke  # the fixture, with its teardown leak checks

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
              pytest.mark.parametrize("minke", ["minke"], indirect=True)]


def test_volumes_from_shares_volumes_and_binds(minke, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "f").write_text("from the host\n")
    vol = f"vf{os.getpid()}"
    src = minke.ok("create", "--name", "src", "-v", f"{vol}:/data", "-v", f"{host}:/host", "-v", "/anon",
                   "--network", "none", "busybox", "true").strip()
    minke.seen.add(src)
    out = minke.ok("run", "--rm", "--volumes-from", "src", "--network", "none", "busybox", "sh", "-c",
                   "echo shared > /data/x; echo a > /anon/y; cat /host/f")
    assert out == "from the host\n"
    # Read-only with :ro; what the first wrote is there.
    r = minke("run", "--rm", "--volumes-from", "src:ro", "--network", "none", "busybox", "sh", "-c",
              "cat /data/x /anon/y; touch /data/z")
    assert r.returncode == 1 and r.stdout == "shared\na\n" and "Read-only file system" in r.stderr
    # Its own mount at a place wins.
    out = minke.ok("run", "--rm", "--volumes-from", "src", "--tmpfs", "/data", "--network", "none", "busybox",
                   "ls", "/data")
    assert out == ""
    # rm -v of a container that borrowed them leaves them to their owner.
    cid = minke.ok("create", "--volumes-from", "src", "--network", "none", "busybox", "true").strip()
    minke.ok("rm", "-v", cid)
    assert vol in minke.ok("volume", "ls", "-q").split()
    minke.ok("rm", "-v", "src")
    minke.ok("volume", "rm", vol)


def test_volumes_from_errors(minke):
    r = minke("run", "--rm", "--volumes-from", "nosuch", "busybox", "true")
    assert r.returncode == 125 and r.stderr.strip() == "Error: No such container: nosuch"
    minke.seen.add(minke.ok("create", "--name", "s2", "--network", "none", "busybox", "true").strip())
    r = minke("run", "--rm", "--volumes-from", "s2:zz", "busybox", "true")
    assert r.returncode == 125 and "invalid mode: zz" in r.stderr
    assert minke.ids() == [minke.ok("inspect", "-f", "{{.Id}}", "s2").strip()]
