from __future__ import annotations

import pytest

from minke.errors import InvalidArgument
from minke.network.ports import (
    PortMapping,
    from_port_bindings,
    parse_expose,
    parse_publish,
    to_port_bindings,
)


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("80", [PortMapping(80)]),
        ("8080:80", [PortMapping(80, "tcp", "", 8080)]),
        ("127.0.0.1:8080:80/udp", [PortMapping(80, "udp", "127.0.0.1", 8080)]),
        ("127.0.0.1::80", [PortMapping(80, "tcp", "127.0.0.1", 0)]),
        ("[::1]:8080:80", [PortMapping(80, "tcp", "::1", 8080)]),
        ("53/UDP", [PortMapping(53, "udp")]),
        ("8000-8002:9000-9002", [PortMapping(9000 + i, "tcp", "", 8000 + i) for i in range(3)]),
        ("9000-9001", [PortMapping(9000), PortMapping(9001)]),
        ("8000-8010:80", [PortMapping(80, "tcp", "", 8000, 8010)]),
    ],
)
def test_parse_publish(spec, want):
    assert parse_publish(spec) == want


@pytest.mark.parametrize(
    "spec",
    ["", "abc", "8080:abc", "0", "70000", "8080:80/sctpx", "1.2.3:80:80", "8000-8002:9000-9001",
     "9002-9000", "8080:", "a:b:c:d", "[::1:80:80", "/tcp", "x:8080:80"],
)
def test_parse_publish_invalid(spec):
    with pytest.raises(InvalidArgument):
        parse_publish(spec)


def test_port_bindings_round_trip():
    ms = parse_publish("127.0.0.1:8080:80/udp") + parse_publish("443") + parse_publish("8000-8005:22")
    b = to_port_bindings(ms)
    assert b == {
        "80/udp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
        "443/tcp": [{"HostIp": "", "HostPort": ""}],
        "22/tcp": [{"HostIp": "", "HostPort": "8000-8005"}],
    }
    assert from_port_bindings(b) == ms


def test_expose():
    assert parse_expose("80") == ["80/tcp"]
    assert parse_expose("53-54/udp") == ["53/udp", "54/udp"]
    with pytest.raises(InvalidArgument):
        parse_expose("80/bogus")
