"""``minke system prune`` (and ``system df``, ``info``) on a store with something of each kind
(the fixture and its teardown leak checks come from the lifecycle tests)."""

from __future__ import annotations

import json
import os
import re
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


def test_system_df_counts_images_containers_and_volumes_on_disk(minke):
    def df() -> dict:
        rows = [json.loads(line) for line in minke.ok("system", "df", "--format", "json").splitlines()]
        return {r["Type"]: r for r in rows}

    empty = df()
    assert [empty[t]["TotalCount"] for t in ("Containers", "Local Volumes")] == ["0", "0"]
    assert empty["Images"]["TotalCount"] == "1" and empty["Images"]["Active"] == "0"
    assert empty["Images"]["Size"] != "0B" and empty["Images"]["Reclaimable"].endswith("(100%)")
    # One exited container that wrote 200 kB, one running, an anonymous volume with 300 kB.
    done = minke.ok("run", "--network", "none", "-v", "/data", "--name", "wrote", "busybox", "sh", "-c",
                    "head -c 200000 /dev/zero > /big; head -c 300000 /dev/zero > /data/v")
    assert done == ""
    live = minke.ok("run", "-d", "--network", "none", "--name", "up", "busybox", "sleep", "60").strip()
    minke.seen.add(live)
    now = df()
    assert (now["Containers"]["TotalCount"], now["Containers"]["Active"]) == ("2", "1")
    assert now["Containers"]["Size"] == "200kB" and now["Containers"]["Reclaimable"] == "200kB (100%)"
    assert now["Images"]["Active"] == "1" and now["Images"]["Reclaimable"] == "0B (0%)"
    assert (now["Local Volumes"]["TotalCount"], now["Local Volumes"]["Active"]) == ("1", "1")
    assert now["Local Volumes"]["Size"] == "300kB" and now["Local Volumes"]["Reclaimable"] == "0B (0%)"
    table = minke.ok("system", "df").splitlines()
    assert table[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert [line.split("  ")[0] for line in table[1:]] == ["Images", "Containers", "Local Volumes"]
    # -v: each image, container and volume, in Docker's three tables.
    verbose = minke.ok("system", "df", "-v")
    images, containers, volumes = verbose.split("\n\n")[1::2]
    assert verbose.split("\n\n")[::2] == ["Images space usage:", "Containers space usage:", "Local Volumes space usage:"]
    assert images.splitlines()[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE", "SHARED", "SIZE",
                                              "UNIQUE", "SIZE", "CONTAINERS"]
    assert images.splitlines()[1].split()[:2] == ["busybox", "latest"] and images.splitlines()[1].split()[-1] == "2"
    # Columns: ID, IMAGE, COMMAND, LOCAL VOLUMES, SIZE, CREATED, STATUS, NAMES.
    by_name = {cols[-1]: cols for cols in (re.split(r"\s{2,}", line) for line in containers.splitlines()[1:])}
    assert set(by_name) == {"wrote", "up"}
    assert by_name["wrote"][3:5] == ["1", "200kB"] and by_name["wrote"][6].startswith("Exited (0)")
    assert by_name["up"][3:5] == ["0", "0B"] and by_name["up"][6].startswith("Up ")
    vol_line = volumes.splitlines()[1].split()
    assert vol_line[1:] == ["1", "300kB"]
    r = minke("system", "df", "-v", "--format", "json")
    assert r.returncode != 0 and "cannot be used together" in r.stderr
    minke.ok("rm", "-v", "wrote")
    assert df()["Local Volumes"]["TotalCount"] == "0"


def test_info_counts_the_store_and_tells_the_host(minke):
    live = minke.ok("run", "-d", "--network", "none", "busybox", "sleep", "60").strip()
    minke.seen.add(live)
    minke.ok("create", "--network", "none", "busybox", "true")
    fields = "{{.Containers}} {{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}} {{.Images}}"
    assert minke.ok("info", "--format", fields).split() == ["2", "1", "0", "1", "1"]
    info = json.loads(minke.ok("system", "info", "--format", "{{json .}}"))
    assert info["DockerRootDir"] == minke.root
    assert info["NCPU"] == os.cpu_count() and info["KernelVersion"] == os.uname().release
    assert info["CgroupVersion"] == ("2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1")
    assert "minke" in info["Runtimes"] and info["OSType"] == "linux"
    text = minke.ok("info")
    assert text.startswith("Server:\n Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n Images: 1\n")
    assert f" Minke Root Dir: {minke.root}\n" in text
