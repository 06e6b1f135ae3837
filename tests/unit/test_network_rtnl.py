"""rtnetlink message encoding (minke.network.rtnl): attributes padded to 4 bytes, the
veth request nests the peer's ifinfomsg, MACs and names as the kernel reads them."""

from __future__ import annotations

import struct

from minke.network import rtnl


def _attrs(data: bytes) -> list[tuple[int, bytes]]:
    out, off = [], 0
    while off < len(data):
        n, kind = struct.unpack_from("=HH", data, off)
        out.append((kind, data[off + 4 : off + n]))
        off += n + (-n % 4)
    return out


def test_attributes_are_padded_to_four_bytes():
    a = rtnl.attr(rtnl.IFLA_IFNAME, b"eth0\0")
    assert len(a) == 12 and struct.unpack_from("=HH", a) == (9, rtnl.IFLA_IFNAME)
    assert a[4:9] == b"eth0\0" and a[9:] == b"\0\0\0"


def test_link_attributes():
    got = dict(_attrs(rtnl.link_attrs(ifname="eth0", mtu=1400, master=7, address="02:42:0a:58:00:02", net_ns_fd=5)))
    assert got[rtnl.IFLA_IFNAME] == b"eth0\0"
    assert struct.unpack("=I", got[rtnl.IFLA_MTU]) == (1400,)
    assert struct.unpack("=I", got[rtnl.IFLA_MASTER]) == (7,)
    assert got[rtnl.IFLA_ADDRESS] == bytes([2, 0x42, 10, 0x58, 0, 2])
    assert struct.unpack("=I", got[rtnl.IFLA_NET_NS_FD]) == (5,)
    assert rtnl.link_attrs() == b""


def test_ifinfomsg_carries_index_and_up_flag():
    family, kind, index, flags, change = struct.unpack("=BxHiII", rtnl.ifinfo(3, rtnl.IFF_UP, rtnl.IFF_UP))
    assert (family, kind, index, flags, change) == (0, 0, 3, 1, 1)


def test_index_of_an_unknown_link_is_zero():
    assert rtnl.index_of("lo") > 0
    assert rtnl.index_of("no-such-link0") == 0
