"""NetworkService logic without root: a fake kernel (links, namespaces, sysctls, resolver
processes as data) and the fake iptables of test_network_iptables."""

from __future__ import annotations

import os

import pytest
from test_network_iptables import FakeIptables

from minke.config import Config
from minke.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from minke.network.iptables import Iptables, ctr_tag, net_tag
from minke.network.ports import parse_publish
from minke.network.service import Attachment, NetworkService
from minke.store.db import Database


class FakeKernel:
    def __init__(self) -> None:
        self.links: dict[str, dict] = {}
        self.namespaces: set[str] = set()
        self.sysctls = {"net.ipv4.ip_forward": "0"}
        self.conf: dict[tuple[str, str], str] = {}
        self.dns: dict[int, int] = {}  # pid -> start
        self.next_pid = 1000
        self.flushed: list[str] = []

    def link_exists(self, name):
        return name in self.links

    def link_key(self, name):
        return f"boot/{id(self.links[name])}" if name in self.links else ""

    def create_bridge(self, name, address, prefixlen, mtu):
        self.links.setdefault(name, {"kind": "bridge", "addr": f"{address}/{prefixlen}", "mtu": mtu})

    def delete_link(self, name):
        link = self.links.pop(name, None)
        if link and link.get("peer"):
            self.links.pop(link["peer"], None)
        return link is not None

    def create_veth(self, host_name, peer_name, bridge, mtu, netns_path, mac=""):
        assert bridge in self.links and netns_path in self.namespaces
        self.links[host_name] = {"kind": "veth", "master": bridge, "peer": None, "ns": netns_path}

    def configure_in_netns(self, netns_path, cfg):
        assert netns_path in self.namespaces
        if cfg is not None:
            self.links[cfg.ifname + "@" + netns_path] = {"kind": "veth-peer", "cfg": cfg}

    def set_interface_conf(self, ifname, key, value):
        self.conf[(ifname, key)] = value

    def get_sysctl(self, key):
        return self.sysctls[key]

    def set_sysctl(self, key, value):
        self.sysctls[key] = value

    def flush_udp_conntrack(self, container_ip):
        self.flushed.append(container_ip)
        return 0

    def netns_create(self, path):
        assert path not in self.namespaces
        self.namespaces.add(path)

    def netns_delete(self, path):
        self.namespaces.discard(path)
        for k in [k for k in self.links if k.endswith("@" + path)]:
            del self.links[k]

    def netns_exists(self, path):
        return path in self.namespaces

    def is_host_netns(self, path):
        if not (path in self.namespaces or path == "/proc/self/ns/net"):
            raise FileNotFoundError(path)
        return path == "/proc/self/ns/net"

    def start_dns(self, db_path, network_id, address, port, resolv_conf, log):
        self.next_pid += 1
        self.dns[self.next_pid] = 7
        return self.next_pid, 7

    def dns_alive(self, pid, start):
        return self.dns.get(pid) == start

    def stop_dns(self, pid, start):
        self.dns.pop(pid, None)


@pytest.fixture
def env(tmp_path, monkeypatch):
    # The fake routes: the host has 10.88.0.0/16 on its LAN, so pools start at 172.17.
    import minke.network.subnets as subnets

    monkeypatch.setattr(subnets, "host_networks", lambda: [subnets.Net("10.88.0.0/16")])
    cfg = Config(root=str(tmp_path / "root"), run_root=str(tmp_path / "run"), extra={"default_bridge": "mk0"})
    os.makedirs(cfg.root)
    db = Database(cfg.db_path)
    k, ipt = FakeKernel(), FakeIptables()
    svc = NetworkService(cfg, db, iptables=Iptables(ipt), kernel=k)
    yield svc, k, ipt
    db.close()


def test_predefined_networks_and_default_subnet(env):
    svc, k, _ = env
    nets = {n.name: n for n in svc.list()}
    assert set(nets) == {"bridge", "host", "none"}
    assert (nets["bridge"].subnet, nets["bridge"].gateway, nets["bridge"].bridge) == ("172.17.0.0/16", "172.17.0.1", "mk0")
    assert nets["host"].driver == "host" and nets["none"].driver == "null"
    assert not k.links  # the default bridge is made on first use
    with pytest.raises(Conflict):
        svc.remove("bridge")
    with pytest.raises(Conflict):
        svc.create("host")


def test_create_inspect_remove(env):
    svc, k, ipt = env
    n = svc.create("front", labels={"a": "b"}, options={"com.docker.network.bridge.name": "brf"})
    assert n.subnet == "172.18.0.0/16"  # 10.88 is the host's, 172.17 the default bridge's
    assert k.links["brf"]["addr"] == "172.18.0.1/16" and k.conf[("brf", "route_localnet")] == "1"
    assert k.sysctls["net.ipv4.ip_forward"] == "1"
    assert len(Iptables(ipt).rules_of(net_tag(n.id))) == 6
    info = svc.inspect("front")
    assert info["IPAM"]["Config"] == [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]
    assert (info["Labels"], info["Scope"], info["Driver"]) == ({"a": "b"}, "local", "bridge")
    assert svc.get(n.id[:6]).name == "front"
    with pytest.raises(AlreadyExists):
        svc.create("front")
    with pytest.raises(AlreadyExists):
        svc.create("other", options={"com.docker.network.bridge.name": "brf"})
    with pytest.raises(Conflict):
        svc.create("other", subnet="172.18.5.0/24")
    with pytest.raises(InvalidArgument):
        svc.create("bad name")
    svc.remove("front")
    assert "brf" not in k.links and not Iptables(ipt).rules_of(net_tag(n.id))
    assert "MINKE" not in ipt.chains["nat"]  # the last network took the chains with it
    with pytest.raises(NotFound):
        svc.get("front")


def test_setup_publish_teardown(env):
    svc, k, ipt = env
    svc.create("app", subnet="192.168.50.0/24", options={"com.docker.network.bridge.name": "bra"})
    cn = svc.setup("c" * 64, "web", [Attachment("app", ("www",))], parse_publish("127.0.0.1::80") + parse_publish("53/udp"))
    (ep,) = cn.endpoints
    assert (ep.ip, ep.gateway, ep.aliases, cn.nameservers) == ("192.168.50.2", "192.168.50.1", ("www",), ("192.168.50.1",))
    assert cn.netns_path in k.namespaces and ep.host_veth in k.links
    assert ep.ports[0].host_port > 0 and len(Iptables(ipt).rules_of(ctr_tag("c" * 64))) == 6
    assert len(k.dns) == 1  # the resolver of the network
    assert svc.setup("c" * 64, "web", [Attachment("app")]) == cn  # a restart reuses it
    with pytest.raises(Conflict, match="active endpoints"):
        svc.remove("app")
    svc.teardown("c" * 64)
    assert not k.namespaces and ep.host_veth not in k.links and not k.dns
    assert not Iptables(ipt).rules_of(ctr_tag("c" * 64)) and svc.endpoints() == []
    assert k.flushed == [ep.ip]  # UDP flows to the gone address forgotten


def test_bridge_work_once_then_no_iptables_on_the_run_path(env):
    svc, k, ipt = env
    svc.setup("a" * 64, "a", [Attachment("bridge")])
    bridge = svc.get("bridge")
    assert Iptables(ipt).rules_of(net_tag(bridge.id))  # the first run made the rules
    svc.teardown("a" * 64)
    ipt.calls.clear()
    svc.setup("b" * 64, "b", [Attachment("bridge")])
    assert ipt.calls == []  # the marker and the bridge's key say all is there
    svc.teardown("b" * 64)
    # The bridge deleted and remade behind our back (a reboot, by hand): another key, so
    # the next run checks and adds what is missing.
    k.links.pop(bridge.bridge)
    ipt.chains = {t: {c: [] for c in cs} for t, cs in type(ipt)().chains.items()}
    svc.setup("c" * 64, "c", [Attachment("bridge")])
    assert bridge.bridge in k.links and Iptables(ipt).rules_of(net_tag(bridge.id))
    svc.teardown("c" * 64)
    svc.teardown_all()
    assert not Iptables(ipt).rules_of(net_tag(bridge.id)) and not os.path.exists(svc._marker_path(bridge))


def test_failed_setup_leaves_nothing(env):
    svc, k, ipt = env
    svc.create("app", options={"com.docker.network.bridge.name": "bra"})

    def boom(netns_path, cfg):
        raise RuntimeError("no such device")

    k.configure_in_netns = boom
    with pytest.raises(RuntimeError):
        svc.setup("d" * 64, "x", [Attachment("app")], parse_publish("8080:80"))
    assert not k.namespaces and svc.endpoints() == [] and not k.dns
    assert [name for name, link in k.links.items() if link["kind"] != "bridge"] == []


def test_modes_and_bad_requests(env):
    svc, k, _ = env
    assert svc.setup("e" * 64, "x", [Attachment("none")]).netns_path is None
    assert svc.setup("e" * 64, "x", [Attachment("host")]).netns_path == ""
    assert svc.setup("e" * 64, "x", [Attachment("container:/proc/1/ns/net")]).netns_path == "/proc/1/ns/net"
    assert not k.namespaces
    with pytest.raises(InvalidArgument):
        svc.setup("e" * 64, "x", [Attachment("none"), Attachment("bridge")])
    with pytest.raises(InvalidArgument, match="user defined networks"):
        svc.setup("e" * 64, "x", [Attachment("default", ip="172.17.0.9")])
    with pytest.raises(NotFound):
        svc.setup("e" * 64, "x", [Attachment("nosuch")])
    with pytest.raises(InvalidArgument, match="host's network namespace"):
        svc.connect("bridge", "e" * 64, "/proc/self/ns/net")
    assert not k.namespaces and svc.endpoints() == []
    # The default network: no resolver, no aliases.
    cn = svc.setup("f" * 64, "y", [Attachment("default")])
    assert cn.nameservers == () and not k.dns and "mk0" in k.links
    with pytest.raises(InvalidArgument, match="alias"):
        svc.setup("g" * 64, "z", [Attachment("bridge", ("al",))])


def test_dead_endpoints_are_released(env):
    svc, k, _ = env
    svc.create("app", options={"com.docker.network.bridge.name": "bra"})
    k.namespaces.add("/proc/42/ns/net")
    ep = svc.connect("app", "h" * 64, "/proc/42/ns/net", name="gone")
    del k.links[ep.host_veth]  # the container exited: its namespace took the veth
    assert svc.prune() == ["app"]
    assert svc.endpoints() == []
