"""minke.network.rtnl against the kernel, inside a namespace of its own (nothing on the
host's links): a veth pair, addresses, a default route, a rename, a delete."""

from __future__ import annotations

import os
import subprocess

import pytest

from minke.network import netlink, netns
from minke.network.rtnl import Rtnl, index_of

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


def test_veth_address_route_rename_in_a_private_namespace(tmp_path):
    path = str(tmp_path / "ns")
    netns.create(path)
    try:
        def work():
            with Rtnl() as nl:
                nl.link_set(index_of("lo"), up=True)
                nl.veth_add("ta0", "tb0", mtu=1400)
                a, b = index_of("ta0"), index_of("tb0")
                nl.link_set(b, ifname="eth9", address="02:42:0a:00:00:09")
                nl.addr_add(a, "10.231.0.1", 24)
                nl.addr_add(b, "10.231.0.9", 24)
                with pytest.raises(FileExistsError):
                    nl.addr_add(a, "10.231.0.1", 24)
                nl.link_set(a, up=True)
                nl.link_set(b, up=True)
                nl.default_route_add("10.231.0.1", b)
            return (subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=True).stdout,
                    subprocess.run(["ip", "route"], capture_output=True, text=True, check=True).stdout,
                    subprocess.run(["ip", "-o", "link", "show", "eth9"], capture_output=True, text=True,
                                   check=True).stdout)

        addrs, routes, link = netlink.in_netns(path, work)
        assert "10.231.0.1/24" in addrs and "eth9" in addrs and "10.231.0.9/24" in addrs
        assert "default via 10.231.0.1 dev eth9" in routes
        assert "mtu 1400" in link and "02:42:0a:00:00:09" in link

        def delete():
            with Rtnl() as nl:
                nl.link_del(index_of("ta0"))  # takes its peer along
                with pytest.raises(OSError):
                    nl.link_del(999999)
            return index_of("ta0"), index_of("eth9")

        assert netlink.in_netns(path, delete) == (0, 0)
    finally:
        netns.delete(path)
