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


def test_veth_request_makes_the_peer_in_its_namespace_enslaved_and_up():
    sent = []

    class Recording(rtnl.Rtnl):
        def __init__(self) -> None:  # no socket: the request is only recorded
            pass

        def request(self, msg_type, payload, flags=0):
            sent.append((msg_type, payload, flags))

    Recording().veth_add("vm1", "eth1", 1400, master=9, up=True, peer_ns_fd=6, peer_mac="02:42:ac:11:00:02")
    ((kind, payload, flags),) = sent
    assert kind == rtnl.RTM_NEWLINK and flags == rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL
    _, _, _, up, change = struct.unpack_from("=BxHiII", payload)
    assert (up, change) == (rtnl.IFF_UP, rtnl.IFF_UP)
    top = dict(_attrs(payload[16:]))
    assert top[rtnl.IFLA_IFNAME] == b"vm1\0" and struct.unpack("=I", top[rtnl.IFLA_MASTER]) == (9,)
    info = dict(_attrs(top[rtnl.IFLA_LINKINFO]))
    assert info[rtnl.IFLA_INFO_KIND] == b"veth"
    peer = dict(_attrs(info[rtnl.IFLA_INFO_DATA]))[rtnl.VETH_INFO_PEER]
    assert struct.unpack_from("=BxHiII", peer)[3:] == (0, 0)  # down: up at birth elsewhere is ENOTCONN
    pa = dict(_attrs(peer[16:]))
    assert pa[rtnl.IFLA_IFNAME] == b"eth1\0" and struct.unpack("=I", pa[rtnl.IFLA_NET_NS_FD]) == (6,)
    assert pa[rtnl.IFLA_ADDRESS] == bytes([2, 0x42, 0xAC, 0x11, 0, 2]) and struct.unpack("=I", pa[rtnl.IFLA_MTU]) == (1400,)
