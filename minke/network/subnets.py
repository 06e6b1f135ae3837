"""The subnets the host already routes, and the choice of a free one for a bridge.

A new bridge must not shadow a network the host can already reach (the LAN, a VPN, another
engine's bridge), or traffic to it would vanish into the bridge.  Like Docker's default
address pools, candidates are tried in order and the first that overlaps no route and no
address of the host (and no other minke network) wins.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable, Iterator

from minke.errors import Unavailable

Net = ipaddress.IPv4Network


def default_candidates() -> Iterator[Net]:
    """10.88.0.0/16 (Podman's), then 172.17-31.0.0/16 (Docker's), then 192.168.x.0/20."""
    yield Net("10.88.0.0/16")
    for b in range(17, 32):
        yield Net(f"172.{b}.0.0/16")
    for c in range(0, 256, 16):
        yield Net(f"192.168.{c}.0/20")


def parse_proc_route(text: str) -> list[Net]:
    """Destinations of /proc/net/route (little-endian hex), without the default route."""
    nets = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 8:
            continue
        dest = socket.inet_ntoa(struct.pack("<I", int(f[1], 16)))
        mask = socket.inet_ntoa(struct.pack("<I", int(f[7], 16)))
        net = Net(f"{dest}/{mask}", strict=False)
        if net.prefixlen:
            nets.append(net)
    return nets


def parse_fib_trie_locals(text: str) -> list[Net]:
    """The host's own IPv4 addresses (/32 LOCAL entries of /proc/net/fib_trie)."""
    out = []
    last = ""
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("|--") or s.startswith("+--"):
            last = s[3:].split()[0]
        elif s == "/32 host LOCAL" and last:
            out.append(Net(last + "/32"))
    return out


def host_networks() -> list[Net]:
    """Every IPv4 route and address of the host (main and local tables)."""
    nets: list[Net] = []
    try:
        with open("/proc/net/route") as f:
            nets += parse_proc_route(f.read())
        with open("/proc/net/fib_trie") as f:
            nets += [n for n in parse_fib_trie_locals(f.read()) if not n.network_address.is_loopback]
    except OSError as e:
        raise Unavailable(f"cannot read the host's routes: {e}") from None
    return nets


def overlaps(net: Net, used: Iterable[Net]) -> Net | None:
    for u in used:
        if net.overlaps(u):
            return u
    return None


def choose_subnet(used: Iterable[Net], candidates: Iterable[Net] | None = None) -> Net:
    used = [u for u in used if u.prefixlen]
    for cand in candidates if candidates is not None else default_candidates():
        if overlaps(cand, used) is None:
            return cand
    raise Unavailable("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")
