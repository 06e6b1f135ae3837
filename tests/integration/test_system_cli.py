"""``minke system prune`` (and ``system df``, ``info``) on a store with something of each kind
(the fixture and its teardown leak checks come from the lifecycle tests)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import test_containers_lifecycle as _lifecycle  # noqa: E402

minke = _lifecycle.minke  # the fixture, with its teardown leak checks

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


def _links() -> str:
    return subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout


def test_system_prune_asks_then_removes_each_kind_in_docker_order(minke):
    net = f"sp{os.getpid()}"
    live = minke.ok("run", "-d", "--network", "none", "--name", "live", "busybox", "sleep", "60").strip()
    minke.seen.add(live)
    stopped = minke.ok("create", "--network", "none", "--name", "stopped", "busybox", "true").strip()
    dangling = minke.ok("commit", stopped).strip()  # no repository: an untagged image
    minke.ok("network", "create", net)
    try:
        bridge = "br-" + minke.ok("network", "inspect", "-f", "{{.Id}}", net).strip()[:12]  # Docker's name
        assert bridge in _links()
        vol = minke.ok("volume", "create").strip()  # no name: anonymous, as Docker's
        kept_vol = minke.ok("volume", "create", "named").strip()

        # Without -f it asks; anything but y/yes keeps everything.
        r = minke("system", "prune", input="n\n")
        assert r.returncode == 0
        assert r.stdout == ("WARNING! This will remove:\n  - all stopped containers\n"
                            "  - all networks not used by at least one container\n  - all dangling images\n\n"
                            "Are you sure you want to continue? [y/N] ")
        assert minke.ok("ps", "-aq", "--no-trunc").split().count(stopped) == 1

        r = minke("system", "prune", "--volumes", "--filter", "until=1h")
        assert r.returncode != 0 and '"until" filter is not supported with "--volumes"' in r.stderr
        r = minke("system", "prune", "-f", "--filter", "nope=1")
        assert r.returncode != 0 and "invalid filter 'nope=1'" in r.stderr

        r = minke("system", "prune", "--volumes", input="y\n")
        assert r.returncode == 0, r.stderr
        out = r.stdout.split("[y/N] ", 1)[1]
        assert "  - all anonymous volumes not used by at least one container\n" in r.stdout
        sections = out.split("\n\n")
        assert sections[0] == f"Deleted Containers:\n{stopped}"
        assert sections[1] == f"Deleted Networks:\n{net}"
        assert sections[2] == f"Deleted Volumes:\n{vol}"
        assert sections[3].startswith("Deleted Images:\n") and f"deleted: {dangling}" in sections[3]
        assert sections[4].startswith("Total reclaimed space: ")
        # What is in use or named stays; the network's bridge went with it.
        assert minke.ok("ps", "-aq", "--no-trunc").split() == [live]
        assert minke.ok("volume", "ls", "-q").split() == [kept_vol]
        assert minke.ok("images", "-q", "busybox") != ""
        assert bridge not in _links()
        # Nothing left to prune: only the total.
        assert minke.ok("system", "prune", "-f") == "Total reclaimed space: 0B\n"
        minke.ok("volume", "rm", kept_vol)
    finally:
        minke("network", "rm", net)
