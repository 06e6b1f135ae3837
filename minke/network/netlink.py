"""Links, addresses and routes through netlink (``minke.network.rtnl``, a few structs
over a raw socket: pyroute2's import alone would cost every ``run`` ~185 ms).

Nothing here is imported by ``minke run --network none|host``.  Functions act on the caller's network namespace, except ``configure_in_netns``,
which runs in a short-lived thread that ``setns`` into the target namespace first:
``setns`` moves only the calling thread, so the engine's other threads (and every socket
they open later) stay in the host's namespace.
"""

from __future__ import annotations

import errno
import os

from minke.errors import AlreadyExists, MinkeError, NotFound
from minke.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:  # for annotations only: typing costs a short command ~5 ms
    from typing import Any


@record
class InterfaceConfig:
    """What a container's interface gets inside its namespace."""

    ifname: str  # the name it has when it arrives (the veth peer)
    name: str  # the name it is renamed to ("eth0")
    address: str  # "10.88.0.2"
    prefixlen: int
    gateway: str = ""  # default route via this, when set
    mac: str = ""
    mtu: int = 1500
    # The link arrived named ``name``, with its MAC and MTU (create_veth made it so in
    # the namespace): only the address, up and the route are left to do.
    ready: bool = False


def _rtnl() -> Any:
    from minke.network.rtnl import Rtnl

    return Rtnl()


def _index(name: str) -> int:
    from minke.network.rtnl import index_of

    idx = index_of(name)
    if not idx:
        raise NotFound(f"no such link: {name}")
    return idx


def _err(what: str, e: Exception) -> MinkeError:
    return MinkeError(f"{what}: {e.strerror if isinstance(e, OSError) and e.strerror else e}")


def link_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def check_ifname(name: str) -> str:
    from minke.errors import InvalidArgument

    if not name or len(name) > 15 or "/" in name or any(c.isspace() for c in name) or name in (".", ".."):
        raise InvalidArgument(f"invalid interface name {name!r}: at most 15 characters, no '/' or spaces")
    return name


def create_bridge(name: str, address: str, prefixlen: int, mtu: int = 1500) -> None:
    """A bridge with ``address/prefixlen`` on it, up.  An existing bridge of that name is
    reused when it already holds the address (a second engine root, a crash)."""
    check_ifname(name)
    with _rtnl() as nl:
        if link_exists(name):
            if not os.path.isdir(f"/sys/class/net/{name}/bridge"):
                raise AlreadyExists(f"link {name} already exists and is not a bridge")
        else:
            try:
                nl.link_add(name, "bridge")
            except OSError as e:
                raise _err(f"cannot create bridge {name}", e) from None
        idx = _index(name)
        try:
            try:
                nl.addr_add(idx, address, prefixlen)
            except FileExistsError:
                pass  # it holds the address already
            nl.link_set(idx, up=True, mtu=mtu)
        except OSError as e:
            raise _err(f"cannot configure bridge {name}", e) from None


def delete_link(name: str) -> bool:
    """Remove a link (a veth takes its peer with it); False when it was not there."""
    from minke.network.rtnl import index_of

    idx = index_of(name)
    if not idx:
        return False
    with _rtnl() as nl:
        try:
            nl.link_del(idx)
        except OSError as e:
            if e.errno == errno.ENODEV:
                return False
            raise _err(f"cannot delete link {name}", e) from None
        return True


def create_veth(host_name: str, peer_name: str, bridge: str, mtu: int = 1500, netns_path: str = "",
                mac: str = "") -> None:
    """A veth pair in one netlink request: the host end enslaved to ``bridge`` and up;
    the peer made directly inside the namespace at ``netns_path`` (else in ours, for
    ``move_to_netns``), named ``peer_name``, with ``mac``."""
    check_ifname(host_name)
    check_ifname(peer_name)
    br = _index(bridge)
    fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC) if netns_path else None
    try:
        with _rtnl() as nl:
            # The peer stays down here: up at creation in another namespace gets ENOTCONN
            # (6.1); it goes up inside, with its address (configure_in_netns).
            nl.veth_add(host_name, peer_name, mtu=mtu, master=br, up=True, peer_ns_fd=fd, peer_mac=mac or None)
    except OSError as e:
        raise _err(f"cannot create veth {host_name}", e) from None
    finally:
        if fd is not None:
            os.close(fd)


def move_to_netns(ifname: str, netns_path: str) -> None:
    """Move a link into the namespace named by a file (/proc/PID/ns/net or a kept one)."""
    fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        idx = _index(ifname)
        with _rtnl() as nl:
            try:
                nl.link_set(idx, net_ns_fd=fd)
            except OSError as e:
                raise _err(f"cannot move {ifname} into {netns_path}", e) from None
    finally:
        os.close(fd)


def _configure_here(cfg: InterfaceConfig | None, loopback: bool) -> None:
    with _rtnl() as nl:
        if loopback:
            nl.link_set(_index("lo"), up=True)
        if cfg is None:
            return
        idx = _index(cfg.ifname)
        if not cfg.ready:
            # Renaming needs the link down; it arrives down from the other namespace.
            nl.link_set(idx, up=False, mtu=cfg.mtu, ifname=cfg.name if cfg.name != cfg.ifname else None,
                        address=cfg.mac or None)
        nl.addr_add(idx, cfg.address, cfg.prefixlen)
        nl.link_set(idx, up=True)
        if cfg.gateway:
            nl.default_route_add(cfg.gateway, idx)


def in_netns(netns_path: str, fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)`` inside the namespace and return its result.

    It runs in a new thread that ``setns`` into the namespace and then ends: a network
    namespace belongs to a thread, not a process (setns(2)), so the caller's own threads
    stay where they are, and it costs a thread start instead of a fork (4 ms, not 40).
    Netlink sockets the thread opens are bound to the namespace for their lifetime.
    """
    import threading

    from minke.runtime import libc

    fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            libc.setns(fd, libc.CLONE_NEWNET)
            box["result"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = e

    try:
        t = threading.Thread(target=run, name="minke-netns", daemon=True)
        t.start()
        t.join()
    finally:
        os.close(fd)
    if "error" in box:
        e = box["error"]
        if isinstance(e, MinkeError):
            raise e
        raise MinkeError(f"cannot configure network namespace {netns_path}: {e}") from None
    return box.get("result")


def configure_in_netns(netns_path: str, cfg: InterfaceConfig | None, loopback: bool = True) -> None:
    """Inside the namespace: ``lo`` up; the interface renamed, given its MAC, MTU and
    address, up, and the default route through the gateway."""
    in_netns(netns_path, _configure_here, cfg, loopback)


def set_sysctl(key: str, value: str) -> None:
    """``net.ipv4.ip_forward`` style key, written under /proc/sys."""
    path = "/proc/sys/" + key.replace(".", "/")
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise MinkeError(f"cannot set {key}={value}: {e.strerror or e}") from None


def get_sysctl(key: str) -> str:
    with open("/proc/sys/" + key.replace(".", "/")) as f:
        return f.read().strip()


def set_interface_conf(ifname: str, key: str, value: str) -> None:
    """/proc/sys/net/ipv4/conf/IFNAME/KEY (an interface name may hold dots)."""
    path = f"/proc/sys/net/ipv4/conf/{ifname}/{key}"
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise MinkeError(f"cannot set {key}={value} on {ifname}: {e.strerror or e}") from None
