"""A minimal rtnetlink client: the few link, address and route requests a container's
network needs, over a raw NETLINK_ROUTE socket.

Why not pyroute2 here: importing it costs ~185 ms (it pulls in asyncio and much more),
on the path of every ``minke run`` on a bridge; these requests are a few structs each
(rtnetlink(7), netlink(7)).  pyroute2 stays for what is not on that path (conntrack).

Each request asks for an ACK and waits for it: an error comes back as ``OSError`` with
the kernel's errno.  A socket belongs to the network namespace of the thread that made
it, so ``Rtnl()`` made in a thread that ``setns``-ed acts inside that namespace.
"""

from __future__ import annotations

# _socket, not socket: socket.py's enum conversions and selectors cost ~4 ms per run, and
# these calls need nothing of it (the C module's socket has send, recv and bind).
import _socket as socket
import os
import struct

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 17, 20, 24
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
IFF_UP = 0x1
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 4, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_OIF, RTA_GATEWAY = 1, 4, 5
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
_RTATTR = struct.Struct("=HH")


def attr(kind: int, data: bytes) -> bytes:
    """One rtattr, padded to 4 bytes."""
    n = _RTATTR.size + len(data)
    return _RTATTR.pack(n, kind) + data + b"\0" * (-n % 4)


def _str(s: str) -> bytes:
    return s.encode() + b"\0"


def _u32(v: int) -> bytes:
    return struct.pack("=I", v)


def ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, flags, change)


def link_attrs(*, ifname: str | None = None, mtu: int | None = None, master: int | None = None,
               address: str | None = None, net_ns_fd: int | None = None) -> bytes:
    out = b""
    if ifname is not None:
        out += attr(IFLA_IFNAME, _str(ifname))
    if mtu is not None:
        out += attr(IFLA_MTU, _u32(mtu))
    if master is not None:
        out += attr(IFLA_MASTER, _u32(master))
    if address:
        out += attr(IFLA_ADDRESS, bytes(int(x, 16) for x in address.split(":")))
    if net_ns_fd is not None:
        out += attr(IFLA_NET_NS_FD, _u32(net_ns_fd))
    return out


class Rtnl:
    """One NETLINK_ROUTE socket; a context manager that closes it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def request(self, msg_type: int, payload: bytes, flags: int = 0) -> None:
        """Send a request and wait for its ACK; a NACK raises OSError(errno)."""
        self.seq += 1
        seq = self.seq
        msg = _NLMSGHDR.pack(_NLMSGHDR.size + len(payload), msg_type, NLM_F_REQUEST | NLM_F_ACK | flags, seq, 0)
        self.sock.send(msg + payload)
        while True:
            data = self.sock.recv(65536)
            off = 0
            while off + _NLMSGHDR.size <= len(data):
                length, typ, _flags, rseq, _pid = _NLMSGHDR.unpack_from(data, off)
                if typ == NLMSG_ERROR and rseq == seq:
                    (err,) = struct.unpack_from("=i", data, off + _NLMSGHDR.size)
                    if err:
                        raise OSError(-err, os.strerror(-err))
                    return
                off += max(length + (-length % 4), _NLMSGHDR.size)

    # --- links ---------------------------------------------------------------------------
    def link_add(self, name: str, kind: str, *, info_data: bytes = b"", mtu: int | None = None) -> None:
        info = attr(IFLA_INFO_KIND, kind.encode()) + (attr(IFLA_INFO_DATA, info_data) if info_data else b"")
        self.request(RTM_NEWLINK, ifinfo() + link_attrs(ifname=name, mtu=mtu) + attr(IFLA_LINKINFO, info),
                     NLM_F_CREATE | NLM_F_EXCL)

    def veth_add(self, name: str, peer: str, mtu: int | None = None, *, master: int | None = None, up: bool = False,
                 peer_ns_fd: int | None = None, peer_mac: str | None = None, peer_up: bool = False) -> None:
        """A veth pair in one request: this end enslaved to ``master`` and up when asked;
        the peer made directly in the namespace ``peer_ns_fd`` names (no move: moving a
        link between namespaces waits for RCU grace periods, ~10 ms each), with its MAC.  The kernel applies ifinfomsg flags and IFLA_MASTER at creation
        (rtnl_configure_link, do_set_master) as ``ip link add ... master B up`` relies on."""
        peer_msg = ifinfo(0, IFF_UP if peer_up else 0, IFF_UP if peer_up else 0)
        peer_msg += link_attrs(ifname=peer, mtu=mtu, address=peer_mac, net_ns_fd=peer_ns_fd)
        info = attr(IFLA_INFO_KIND, b"veth") + attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_msg))
        flags = IFF_UP if up else 0
        self.request(RTM_NEWLINK, ifinfo(0, flags, flags) + link_attrs(ifname=name, mtu=mtu, master=master)
                     + attr(IFLA_LINKINFO, info), NLM_F_CREATE | NLM_F_EXCL)

    def link_set(self, index: int, *, up: bool | None = None, **attrs: object) -> None:
        flags = change = 0
        if up is not None:
            flags, change = (IFF_UP if up else 0), IFF_UP
        self.request(RTM_NEWLINK, ifinfo(index, flags, change) + link_attrs(**attrs))  # type: ignore[arg-type]

    def link_del(self, index: int) -> None:
        self.request(RTM_DELLINK, ifinfo(index))

    # --- addresses and routes ------------------------------------------------------------
    def addr_add(self, index: int, address: str, prefixlen: int) -> None:
        raw = socket.inet_aton(address)
        payload = _IFADDRMSG.pack(socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index)
        payload += attr(IFA_LOCAL, raw) + attr(IFA_ADDRESS, raw)
        self.request(RTM_NEWADDR, payload, NLM_F_CREATE | NLM_F_EXCL)

    def default_route_add(self, gateway: str, oif: int) -> None:
        payload = _RTMSG.pack(socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
        payload += attr(RTA_GATEWAY, socket.inet_aton(gateway)) + attr(RTA_OIF, _u32(oif))
        self.request(RTM_NEWROUTE, payload, NLM_F_CREATE | NLM_F_EXCL)


def index_of(name: str) -> int:
    """The link's index in the calling thread's namespace; 0 when there is none."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return 0
