from __future__ import annotations

import pytest

from minke.errors import Unavailable
from minke.network.subnets import Net, choose_subnet, parse_fib_trie_locals, parse_proc_route

# /proc/net/route of a host with a default route, its LAN 10.88.5.0/24 and a docker0 on
# 172.17.0.0/16 (destinations and masks are little-endian hex).
ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0105580A\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t0005580A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
"""

FIB = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.88.5.0/24 2 0 2
        |-- 10.88.5.7
           /32 host LOCAL
Local:
  +-- 127.0.0.0/8 2 0 2
     |-- 127.0.0.1
        /32 host LOCAL
"""


def test_parse_proc_route_skips_default():
    assert parse_proc_route(ROUTES) == [Net("10.88.5.0/24"), Net("172.17.0.0/16")]


def test_parse_fib_trie_locals():
    assert parse_fib_trie_locals(FIB) == [Net("10.88.5.7/32"), Net("127.0.0.1/32")]


def test_choose_avoids_every_routed_subnet():
    used = parse_proc_route(ROUTES)
    assert choose_subnet(used) == Net("172.18.0.0/16")
    assert choose_subnet([]) == Net("10.88.0.0/16")


def test_choose_ignores_default_route_and_sees_host_addresses():
    assert choose_subnet([Net("0.0.0.0/0")]) == Net("10.88.0.0/16")
    assert choose_subnet([Net("10.88.200.1/32")]) == Net("172.17.0.0/16")


def test_choose_exhausted():
    with pytest.raises(Unavailable):
        choose_subnet([Net("0.0.0.0/1"), Net("128.0.0.0/1")])
    assert choose_subnet([Net("10.0.0.0/8")], [Net("10.1.0.0/16"), Net("192.168.7.0/24")]) == Net("192.168.7.0/24")
