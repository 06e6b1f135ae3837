from __future__ import annotations

import pytest

from minke.errors import InvalidArgument
from minke.network.container import (
    apply_to_spec,
    hosts_text,
    network_settings,
    plan,
    port_lines,
    resolv_conf_text,
    resolve_container_mode,
    static_network,
)
from minke.network.model import Attachment, ContainerNetwork, Endpoint, Published
from minke.network.ports import PortMapping

EP = Endpoint("n" * 64, "front", "c" * 64, "e" * 64, "10.9.0.2", 24, "10.9.0.1", "02:42:0a:09:00:02", "vmx",
              ("web",), True, (Published("tcp", "0.0.0.0", 32768, "10.9.0.2", 80),))
CN = ContainerNetwork("bridge", "/run/minke/netns/c", (EP,), ("10.9.0.1",))


def test_plan_modes_aliases_and_publish_all():
    atts, ports = plan({"NetworkMode": "front", "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                        "PublishAllPorts": True},
                       {"EndpointsConfig": {"front": {"Aliases": ["w"], "IPAMConfig": {"IPv4Address": "10.9.0.9"}},
                                            "back": {}}},
                       {"80/tcp": {}, "53/udp": {}})
    assert atts == [Attachment("front", ("w",), "10.9.0.9"), Attachment("back")]
    assert ports == [PortMapping(80, "tcp", "", 8080), PortMapping(53, "udp")]
    assert plan({})[0] == [Attachment("bridge")]
    assert plan({"NetworkMode": "host", "PortBindings": {"80/tcp": [{}]}}) == ([Attachment("host")], [])
    with pytest.raises(InvalidArgument):
        plan({"NetworkMode": "none"}, {"EndpointsConfig": {"front": {}}})
    with pytest.raises(InvalidArgument):
        plan({"NetworkMode": "none"}, {"EndpointsConfig": {"none": {"Aliases": ["x"]}}})


def test_container_mode_and_spec():
    atts = resolve_container_mode([Attachment("container:db")], lambda ref: f"/proc/42/ns/net#{ref}")
    assert atts == [Attachment("container:/proc/42/ns/net#db")]
    spec = {"linux": {"namespaces": [{"type": "pid"}, {"type": "network"}]}}
    assert apply_to_spec(spec, static_network(atts))["linux"]["namespaces"] == [{"type": "pid"}, {"type": "network", "path": "/proc/42/ns/net#db"}]
    assert apply_to_spec(spec, static_network([Attachment("host")]))["linux"]["namespaces"] == [{"type": "pid"}]
    assert apply_to_spec(spec, static_network([Attachment("none")]))["linux"]["namespaces"] == [{"type": "pid"}, {"type": "network"}]
    assert apply_to_spec(spec, CN)["linux"]["namespaces"][-1] == {"type": "network", "path": CN.netns_path}


def test_resolv_conf_and_hosts():
    host = "nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0\n"
    assert resolv_conf_text(host, CN) == "nameserver 10.9.0.1\nsearch corp.example\noptions edns0\n"
    assert resolv_conf_text(host, static_network([Attachment("none")])).startswith("nameserver 192.0.2.53\nsearch")
    assert resolv_conf_text("nameserver 127.0.0.1\n", static_network([Attachment("none")])) == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    assert resolv_conf_text(host, static_network([Attachment("host")])).startswith("nameserver 127.0.0.53\n")
    assert resolv_conf_text(host, CN, dns=["1.1.1.1"], search=[], options=["ndots:2"]) == "nameserver 1.1.1.1\noptions ndots:2\n"
    h = hosts_text("box", CN, ["db:10.0.0.5", "gw:host-gateway"])
    assert h.endswith("10.0.0.5\tdb\n10.9.0.1\tgw\n10.9.0.2\tbox\n")
    assert hosts_text("box", static_network([Attachment("none")])).endswith("127.0.1.1\tbox\n")
    with pytest.raises(InvalidArgument):
        hosts_text("box", CN, ["nocolon"])


def test_network_settings_and_port_lines():
    ns = network_settings(CN)
    assert ns["Networks"]["front"]["IPAddress"] == "10.9.0.2" and ns["Networks"]["front"]["Aliases"] == ["web"]
    assert ns["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}]}
    assert ns["IPAddress"] == ""  # top-level fields are the default bridge's only
    assert ns["SandboxKey"] == CN.netns_path
    assert port_lines(CN) == ["80/tcp -> 0.0.0.0:32768"]
    assert "host" in network_settings(static_network([Attachment("host")]))["Networks"]
