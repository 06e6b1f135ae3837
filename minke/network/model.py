"""The plain data of the network package: what crosses into the containers package.

Kept apart from ``service`` so that ``minke run --network none|host`` can build its plan
without importing the service, iptables or pyroute2.
"""

from __future__ import annotations

from minke.record import factory, record

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing: for mypy only (a short command saves its import)
    from typing import Any


@record
class Published:
    """A port mapping with its host port chosen."""

    protocol: str
    host_ip: str
    host_port: int
    container_ip: str
    container_port: int


@record
class Attachment:
    """What a container asks of one network (``--network``, ``--network-alias``, ``--ip``)."""

    network: str
    aliases: tuple[str, ...] = ()
    ip: str = ""
    mac: str = ""


@record
class Endpoint:
    network_id: str
    network_name: str
    container_id: str
    endpoint_id: str
    ip: str
    prefixlen: int
    gateway: str
    mac: str
    host_veth: str
    aliases: tuple[str, ...] = ()
    dns: bool = False
    ports: tuple[Published, ...] = ()


@record
class ContainerNetwork:
    """What the containers package needs after ``setup``: the namespace to join (None:
    let the runtime make a fresh one with loopback only; "" : the host's), and what goes
    in the container's resolv.conf and hosts file."""

    mode: str  # bridge (any bridge network), none, host, container
    netns_path: str | None
    endpoints: tuple[Endpoint, ...] = ()
    nameservers: tuple[str, ...] = ()
    extra: dict[str, Any] = factory(dict)


