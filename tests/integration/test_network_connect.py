"""``network connect`` / ``disconnect`` on a running container (joined through
/proc/PID/ns/net), and the release of an endpoint whose container has gone."""

from __future__ import annotations

import json
import os
import secrets
import subprocess

import pytest

pytestmark = pytest.mark.root


def test_connect_running_container_then_it_exits(minke, busybox_image):
    sfx = secrets.token_hex(3)
    net, br = f"cn{sfx}", f"mkn{sfx}"
    assert minke("network", "create", "-o", f"com.docker.network.bridge.name={br}", net).code == 0
    r = minke("run", "-d", "--name", f"c{sfx}", "busybox", "sleep", "30")
    assert r.code == 0, r.err
    cid = r.out.strip()
    try:
        r = minke("network", "connect", "--alias", "svc", net, f"c{sfx}")
        assert r.code == 0, r.err
        info = json.loads(minke("network", "inspect", net).out)[0]
        ep = info["Containers"][cid]
        ip = ep["IPv4Address"].split("/")[0]
        assert ep["Name"] == f"c{sfx}" and ep["MacAddress"].startswith("02:42:")
        assert subprocess.run(["/bin/busybox", "ping", "-c", "1", "-W", "2", ip], capture_output=True).returncode == 0
        assert minke("network", "rm", net).code == 1  # in use
        assert minke("network", "disconnect", net, f"c{sfx}").code == 0
        assert json.loads(minke("network", "inspect", net).out)[0]["Containers"] == {}
        assert minke("network", "disconnect", net, f"c{sfx}").code == 1
        # Connected again, then the container dies: its endpoint is released on the
        # next use of the network, and the network can go.
        assert minke("network", "connect", net, f"c{sfx}").code == 0
        veth = [ln.split(":")[1].strip().split("@")[0] for ln in os.popen(f"ip -o link show master {br}").read().splitlines()]
        assert len(veth) == 1
    finally:
        minke("rm", "-f", cid)
    assert not os.path.exists(f"/sys/class/net/{veth[0]}")
    r = minke("network", "rm", net)
    assert r.code == 0, r.err
    assert not os.path.exists(f"/sys/class/net/{br}")


def test_connect_refuses_a_stopped_container(minke, busybox_image):
    sfx = secrets.token_hex(3)
    assert minke("network", "create", "-o", f"com.docker.network.bridge.name=mks{sfx}", f"s{sfx}").code == 0
    try:
        assert minke("create", "--name", f"stopped{sfx}", "busybox", "true").code == 0
        r = minke("network", "connect", f"s{sfx}", f"stopped{sfx}")
        assert r.code == 1 and "not running" in r.err
        r = minke("network", "connect", "nosuchnet", f"stopped{sfx}")
        assert r.code == 1
    finally:
        minke("rm", "-f", f"stopped{sfx}")
        minke("network", "rm", f"s{sfx}")
