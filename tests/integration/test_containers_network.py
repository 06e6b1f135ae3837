"""Containers on networks, end to end through the ``minke`` command, on both runtimes:
name and alias resolution on a user network, a published port from the host's loopback,
``--network none`` and ``container:X``, inspect's NetworkSettings, and bad input.

Every network here has a unique bridge name; teardown removes the networks and checks
that no link, netns, iptables rule or resolver process of theirs is left (the ``minke``
fixture checks containers, mounts, processes and cgroups).
"""

from __future__ import annotations

import os
import secrets
import socket
import urllib.request

import pytest
from test_containers_lifecycle import Minke, _busybox_tar, _wait_for, minke  # noqa: F401  (fixture)

from minke.network.iptables import Iptables, ctr_tag, net_tag

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


class Nets:
    """User networks made by a test, and what must be gone after it."""

    def __init__(self, m: Minke) -> None:
        self.m = m
        self.sfx = secrets.token_hex(3)
        self.made: list[tuple[str, str, str]] = []  # (name, id, bridge)
        self.dns_pids: set[int] = set()
        self.cids: set[str] = set()

    def create(self, name: str) -> str:
        full = f"{name}{self.sfx}"
        bridge = f"mkc{len(self.made)}{self.sfx}"
        nid = self.m.ok("network", "create", "-o", f"com.docker.network.bridge.name={bridge}", full).strip()
        self.made.append((full, nid, bridge))
        return full

    def note_resolvers(self) -> None:
        from minke.config import Config
        from minke.engine import Engine

        e = Engine(Config(root=self.m.root, run_root=self.m.run_root))
        try:
            for name, _, _ in self.made:
                pid = e.networks.get(name).dns_pid
                if pid:
                    self.dns_pids.add(pid)
        finally:
            e.close()

    def check_clean(self) -> None:
        ids = self.m.ids()
        if ids:
            self.m("rm", "-f", *ids)
        for name, _, _ in self.made:
            self.m("network", "rm", name)
        ipt = Iptables()
        left = [r for _, nid, _ in self.made for r in ipt.rules_of(net_tag(nid))]
        left += [r for cid in self.cids for r in ipt.rules_of(ctr_tag(cid))]
        assert not left, left
        links = [b for _, _, b in self.made if os.path.exists(f"/sys/class/net/{b}")]
        assert not links, links
        nsdir = os.path.join(self.m.run_root, "netns")
        assert not (os.path.isdir(nsdir) and os.listdir(nsdir)), os.listdir(nsdir)
        alive = [p for p in self.dns_pids if _alive(p)]
        assert not alive, alive


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.fixture
def nets(minke):  # noqa: F811
    n = Nets(minke)
    yield n
    n.check_clean()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_user_network_names_aliases_published_port(minke, nets, tmp_path):  # noqa: F811
    net = nets.create("web")
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hello from httpd\n")
    port = _free_port()
    cid = minke.ok("run", "-d", "--name", f"srv{nets.sfx}", "--network", net, "--network-alias", "webby",
                   "-p", f"127.0.0.1:{port}:80", "-v", f"{www}:/www:ro",
                   "busybox", "busybox", "httpd", "-f", "-p", "80", "-h", "/www").strip()
    nets.cids.add(cid)
    nets.note_resolvers()
    assert nets.dns_pids, "a user network runs its resolver"

    def get():
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
        except OSError:
            return ""

    assert _wait_for(get, what="published port") == "hello from httpd\n"
    assert minke.ok("port", cid).strip() == f"80/tcp -> 127.0.0.1:{port}"
    for name in (f"srv{nets.sfx}", "webby"):
        out = minke.ok("run", "--rm", "--network", net, "busybox", "busybox", "wget", "-qO-", f"http://{name}/")
        assert out == "hello from httpd\n", name
    d = minke.inspect(cid)
    ep = d["NetworkSettings"]["Networks"][net]
    assert ep["Aliases"] == ["webby"] and ep["IPAddress"] and ep["Gateway"]
    assert d["NetworkSettings"]["Ports"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert "NetworkingConfig" not in d["Config"]
    # After stop the port is closed and the container's rules are gone.
    minke.ok("stop", "-t", "1", cid)
    assert not Iptables().rules_of(ctr_tag(cid))
    assert get() == ""


def test_none_and_container_modes(minke, nets):  # noqa: F811
    out = minke.ok("run", "--rm", "--network", "none", "busybox", "busybox", "ip", "-o", "link")
    assert [ln.split(":")[1].strip() for ln in out.splitlines()] == ["lo"]
    net = nets.create("shr")
    cid = minke.ok("run", "-d", "--network", net, "busybox", "sleep", "30").strip()
    nets.cids.add(cid)
    ip = minke.inspect(cid)["NetworkSettings"]["Networks"][net]["IPAddress"]
    out = minke.ok("run", "--rm", "--network", f"container:{cid[:12]}", "busybox", "busybox", "ip", "-o", "-4", "addr")
    assert f"inet {ip}/" in out
    assert minke.inspect(cid)["NetworkSettings"]["Networks"][net]["IPAddress"] == ip


def test_bad_input_one_line_nothing_made(minke, nets):  # noqa: F811
    before = set(minke.ids())
    for args, word in (
        (["--network", f"nosuch{nets.sfx}"], "not found"),
        (["-p", "99999:80"], "99999"),
        (["-p", "80:80/sctpx"], "sctpx"),
        (["--mount", "type=bogus,dst=/x"], "bogus"),
        (["--mount", "type=volume,src=v"], "target"),
        (["--network", "container:nosuch"], "nosuch"),
    ):
        r = minke("run", "--rm", *args, "busybox", "true")
        assert r.returncode != 0, args
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and word in lines[0].lower(), (args, r.stderr)
    assert set(minke.ids()) == before
    assert minke.ok("volume", "ls", "-q").split() == []
    # nothing but the predefined networks
    names = minke.ok("network", "ls", "--format", "{{.Name}}").split()
    assert not [n for n in names if n.endswith(nets.sfx)]


def test_several_networks_from_run_flags(minke, nets, tmp_path):  # noqa: F811
    a, b = nets.create("na"), nets.create("nb")
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("two nets\n")
    cid = minke.ok("run", "-d", "--name", f"multi{nets.sfx}", "--network", a, "--network", f"name={b},alias=bee",
                   "-v", f"{www}:/www:ro", "busybox", "busybox", "httpd", "-f", "-p", "80", "-h", "/www").strip()
    nets.cids.add(cid)
    nets.note_resolvers()
    links = minke.ok("exec", cid, "busybox", "ip", "-o", "-4", "addr")
    assert " eth0 " in links and " eth1 " in links
    d = minke.inspect(cid)
    assert sorted(d["NetworkSettings"]["Networks"]) == sorted([a, b])
    assert d["NetworkSettings"]["Networks"][b]["Aliases"] == ["bee"]
    assert d["HostConfig"]["NetworkMode"] == a
    # Reached by its alias from a container on the second network only.
    out = minke.ok("run", "--rm", "--network", b, "busybox", "busybox", "wget", "-qO-", "http://bee/")
    assert out == "two nets\n"
    r = minke("run", "--rm", "--network", "none", "--network", a, "busybox", "true")
    assert r.returncode == 125 and "conflicting options" in r.stderr
    r = minke("run", "--rm", "--network", "name=x,colour=red", "busybox", "true")
    assert r.returncode == 125 and "unknown field" in r.stderr
    minke.ok("rm", "-f", cid)
