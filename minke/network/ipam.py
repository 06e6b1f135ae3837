"""IP address management: one address per container per network, kept in SQLite.

An allocation is the ``endpoints`` row of (network, container).  ``allocate`` runs inside
``BEGIN IMMEDIATE`` (``Database.transaction``), so two ``minke run`` at once are
serialised by SQLite's write lock and never pick the same address; ``UNIQUE(network_id,
ip)`` would refuse a duplicate even if they were not.  Addresses are handed out lowest
first from ``--ip-range`` (or the whole subnet), never the network address, the broadcast
address or the gateway.
"""

from __future__ import annotations

import ipaddress
import os
import time

from minke import fastjson
from minke.errors import AlreadyExists, InvalidArgument, Unavailable
from minke.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:  # for annotations only: typing costs a short command ~5 ms
    from typing import Any


@record
class Pool:
    """What IPAM needs of a network."""

    network_id: str
    subnet: str
    gateway: str
    ip_range: str = ""


def check_pool(subnet: str, gateway: str = "", ip_range: str = "") -> Pool:
    """Validate ``--subnet/--gateway/--ip-range``; fill the gateway (first host)."""
    try:
        net = ipaddress.IPv4Network(subnet)
    except ValueError:
        try:
            hint = ipaddress.IPv4Network(subnet, strict=False)
        except ValueError:
            raise InvalidArgument(f"invalid subnet {subnet}") from None
        raise InvalidArgument(f"invalid subnet {subnet}: it should be {hint}") from None
    if net.prefixlen > 30:
        raise InvalidArgument(f"invalid subnet {subnet}: too small for a network")
    if gateway:
        try:
            gw = ipaddress.IPv4Address(gateway)
        except ValueError:
            raise InvalidArgument(f"invalid gateway {gateway}") from None
        if gw not in net or gw in (net.network_address, net.broadcast_address):
            raise InvalidArgument(f"invalid gateway {gateway}: not a host address of subnet {net}")
    else:
        gw = net.network_address + 1
    if ip_range:
        try:
            rng = ipaddress.IPv4Network(ip_range, strict=False)
        except ValueError:
            raise InvalidArgument(f"invalid ip range {ip_range}") from None
        if not rng.subnet_of(net):
            raise InvalidArgument(f"invalid ip range {ip_range}: not within subnet {net}")
        ip_range = str(rng)
    return Pool("", str(net), str(gw), ip_range)


def _candidates(pool: Pool):
    net = ipaddress.IPv4Network(pool.subnet)
    rng = ipaddress.IPv4Network(pool.ip_range) if pool.ip_range else net
    skip = {net.network_address, net.broadcast_address, ipaddress.IPv4Address(pool.gateway)}
    first, last = int(rng.network_address), int(rng.broadcast_address)
    for n in range(first, last + 1):
        a = ipaddress.IPv4Address(n)
        if a not in skip:
            yield a


def mac_for(ip: str) -> str:
    """Docker's rule: 02:42 followed by the four bytes of the IPv4 address."""
    b = ipaddress.IPv4Address(ip).packed
    return "02:42:" + ":".join(f"{x:02x}" for x in b)


class Ipam:
    def __init__(self, db: Any) -> None:
        self.db = db

    def allocate(self, pool: Pool, container_id: str, *, requested: str = "", name: str = "",
                 aliases: tuple[str, ...] = (), mac: str = "") -> tuple[str, str, str]:
        """Reserve an address for ``container_id``; returns (ip, mac, endpoint id).
        ``requested`` is ``--ip``: it must lie in the subnet and be free."""
        net = ipaddress.IPv4Network(pool.subnet)
        if requested:
            try:
                want = ipaddress.IPv4Address(requested)
            except ValueError:
                raise InvalidArgument(f"invalid ip address: {requested}") from None
            if want not in net or want in (net.network_address, net.broadcast_address) or str(want) == pool.gateway:
                raise InvalidArgument(f"invalid ip address {requested}: not an assignable address of subnet {net}")
        with self.db.transaction():
            row = self.db.query_one("SELECT ip FROM endpoints WHERE network_id = ? AND container_id = ?", (pool.network_id, container_id))
            if row is not None:
                raise AlreadyExists(f"container {container_id[:12]} is already attached to network {pool.network_id[:12]}")
            used = {r["ip"] for r in self.db.query("SELECT ip FROM endpoints WHERE network_id = ?", (pool.network_id,))}
            if requested:
                if str(want) in used:
                    raise AlreadyExists(f"address {requested} is already in use on the network")
                ip = str(want)
            else:
                ip = next((str(a) for a in _candidates(pool) if str(a) not in used), "")
                if not ip:
                    raise Unavailable(f"no available ip addresses on network {pool.network_id[:12]}")
            mac = mac or mac_for(ip)
            eid = os.urandom(32).hex()  # secrets.token_hex, without hmac and random
            self.db.execute(
                "INSERT INTO endpoints (network_id, container_id, id, name, aliases, ip, mac, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (pool.network_id, container_id, eid, name, fastjson.dumps(list(aliases)), ip, mac, time.time()),
            )
        return ip, mac, eid

    def release(self, network_id: str, container_id: str) -> bool:
        cur = self.db.execute("DELETE FROM endpoints WHERE network_id = ? AND container_id = ?", (network_id, container_id))
        return cur.rowcount > 0

    def allocated(self, network_id: str) -> dict[str, str]:
        """container id -> ip."""
        return {r["container_id"]: r["ip"] for r in self.db.query("SELECT container_id, ip FROM endpoints WHERE network_id = ?", (network_id,))}
