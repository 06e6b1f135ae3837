"""NetworkService: networks (create, ls, inspect, rm, prune), and a container's networking
(setup before its start, teardown after its stop).

Lifecycle::

    create      row (name UNIQUE; subnet chosen or checked inside BEGIN IMMEDIATE so two
                creates never take the same one), then the bridge, its address, route_localnet
                and the network's iptables rules; a failure undoes all of it
    setup       for a container: a kept netns under RUN_ROOT/netns/ID, then for each network
                ``connect``: IPAM address, veth pair (host end on the bridge, peer moved in and
                renamed eth0 with address, MAC, MTU, default route), the resolver started on
                a user network's first container; then the published ports (DNAT) on the
                first network
    teardown    published-port rules, veths, addresses, resolver when the last container
                leaves, the netns
    rm          refused while containers are attached; resolver, rules, bridge, row; the
                chains when no rule is left in them

The predefined networks are ``bridge`` (the default: bridge ``minke0`` or
``Config.extra["default_bridge"]``, subnet chosen to avoid the host's; its kernel state is
made on first use and kept, as Docker keeps docker0), ``host`` and ``none``.  Names resolve
on user networks only.  Commands on one network are serialised by a file lock
(RUN_ROOT/locks/net-ID.lock).
"""

from __future__ import annotations

import os
import time

from minke import fastjson
from minke.errors import AlreadyExists, Conflict, InvalidArgument, MinkeError, NotFound
from minke.network.model import Attachment, ContainerNetwork, Endpoint, Published
from minke.record import record
from minke.sha256 import hexdigest

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing for annotations only: its import costs a short command ~5 ms
    from typing import Any

PREDEFINED = ("bridge", "host", "none")
DEFAULT_MTU = 1500
BRIDGE_NAME_OPT = "com.docker.network.bridge.name"
MTU_OPT = "com.docker.network.driver.mtu"
_KNOWN_OPTS = (BRIDGE_NAME_OPT, MTU_OPT, "com.docker.network.bridge.enable_ip_masquerade",
               "com.docker.network.bridge.enable_icc", "com.docker.network.bridge.host_binding_ipv4",
               "com.docker.network.bridge.default_bridge")


@record
class Network:
    id: str
    name: str
    driver: str
    bridge: str | None
    subnet: str
    gateway: str
    ip_range: str
    internal: bool
    dns: bool
    labels: dict[str, str]
    options: dict[str, str]
    created: float
    dns_pid: int = 0
    dns_start: int = 0

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def prefixlen(self) -> int:
        return int(self.subnet.rpartition("/")[2])  # stored as ipaddress wrote it: a.b.c.d/N

    @property
    def mtu(self) -> int:
        try:
            return int(self.options.get(MTU_OPT) or DEFAULT_MTU)
        except ValueError:
            return DEFAULT_MTU

    @classmethod
    def from_row(cls, r: Any) -> Network:
        return cls(r["id"], r["name"], r["driver"], r["bridge"], r["subnet"], r["gateway"], r["ip_range"],
                   bool(r["internal"]), bool(r["dns"]), fastjson.loads(r["labels"]), fastjson.loads(r["options"]),
                   r["created"], r["dns_pid"], r["dns_start"])


def _veth_names(container_id: str, network_id: str) -> tuple[str, str]:
    h = hexdigest((container_id + network_id).encode())[:10]
    return "vm" + h, "vp" + h



class NetworkService:
    def __init__(self, config: Any, db: Any, *, iptables: Any = None, kernel: Any = None) -> None:
        self.config = config
        self.db = db
        self._iptables = iptables
        if kernel is None:
            from minke.network.host import HostKernel

            kernel = HostKernel()
        self.kernel = kernel

    # --- small helpers --------------------------------------------------------------------
    @property
    def iptables(self) -> Any:
        if self._iptables is None:
            from minke.network.iptables import Iptables

            self._iptables = Iptables()
        return self._iptables

    @property
    def default_bridge(self) -> str:
        return (getattr(self.config, "extra", None) or {}).get("default_bridge", "minke0")

    def netns_path(self, container_id: str) -> str:
        return os.path.join(self.config.run_root, "netns", container_id)

    def _lock(self, network_id: str) -> Any:
        from minke.store.locks import FileLock

        d = os.path.join(self.config.run_root, "locks")
        os.makedirs(d, mode=0o700, exist_ok=True)
        return FileLock(os.path.join(d, f"net-{network_id}.lock"))

    # --- lookup ---------------------------------------------------------------------------
    def ensure_predefined(self) -> None:
        if self.db.query_one("SELECT 1 FROM networks WHERE name = 'none'") is not None:
            return
        with self.db.transaction():
            if self.db.query_one("SELECT 1 FROM networks WHERE name = 'none'") is not None:
                return
            now = time.time()
            for name, driver in (("host", "host"), ("none", "null")):
                self.db.execute("INSERT OR IGNORE INTO networks (id, name, driver, created) VALUES (?, ?, ?, ?)",
                                (os.urandom(32).hex(), name, driver, now))
            if self.db.query_one("SELECT 1 FROM networks WHERE name = 'bridge'") is None:
                subnet = self._choose_subnet()
                opts = {"com.docker.network.bridge.default_bridge": "true", "com.docker.network.bridge.enable_icc": "true",
                        "com.docker.network.bridge.enable_ip_masquerade": "true",
                        "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                        BRIDGE_NAME_OPT: self.default_bridge, MTU_OPT: str(DEFAULT_MTU)}
                self.db.execute(
                    "INSERT INTO networks (id, name, driver, bridge, subnet, gateway, dns, options, created)"
                    " VALUES (?, 'bridge', 'bridge', ?, ?, ?, 0, ?, ?)",
                    (os.urandom(32).hex(), self.default_bridge, str(subnet), str(subnet.network_address + 1), fastjson.dumps(opts), now),
                )

    def _choose_subnet(self, exclude: str = "") -> Any:
        from minke.network.subnets import Net, choose_subnet, host_networks

        used = host_networks() + [Net(r["subnet"]) for r in self.db.query(
            "SELECT subnet FROM networks WHERE subnet != '' AND id != ?", (exclude,))]
        return choose_subnet(used)

    def get(self, ref: str) -> Network:
        self.ensure_predefined()
        if not ref:
            raise NotFound("network  not found")
        row = self.db.query_one("SELECT * FROM networks WHERE id = ?", (ref,))
        if row is None:
            row = self.db.query_one("SELECT * FROM networks WHERE name = ?", (ref,))
        if row is None and all(c in "0123456789abcdef" for c in ref):
            rows = self.db.query("SELECT * FROM networks WHERE id LIKE ? LIMIT 2", (ref + "%",))
            if len(rows) > 1:
                raise InvalidArgument(f"network {ref} is ambiguous ({len(rows)} matches found based on ID prefix)")
            row = rows[0] if rows else None
        if row is None:
            raise NotFound(f"network {ref} not found")
        return Network.from_row(row)

    def list(self) -> list[Network]:
        self.ensure_predefined()
        return [Network.from_row(r) for r in self.db.query("SELECT * FROM networks ORDER BY created, name")]

    def endpoints(self, network_id: str | None = None, container_id: str | None = None) -> list[Endpoint]:
        sql = "SELECT e.*, n.name AS nname, n.subnet, n.gateway, n.dns FROM endpoints e JOIN networks n ON n.id = e.network_id WHERE 1"
        params: list[str] = []
        if network_id:
            sql += " AND e.network_id = ?"
            params.append(network_id)
        if container_id:
            sql += " AND e.container_id = ?"
            params.append(container_id)
        out = []
        for r in self.db.query(sql + " ORDER BY e.created", params):
            ports = tuple(Published(**p) for p in fastjson.loads(r["ports"]))
            out.append(Endpoint(r["network_id"], r["nname"], r["container_id"], r["id"], r["ip"],
                                int(r["subnet"].rpartition("/")[2]), r["gateway"], r["mac"], r["host_veth"],
                                tuple(fastjson.loads(r["aliases"])), bool(r["dns"]), ports))
        return out

    # --- create / remove ------------------------------------------------------------------
    def create(self, name: str, *, driver: str = "bridge", subnet: str = "", gateway: str = "", ip_range: str = "",
               internal: bool = False, labels: dict[str, str] | None = None, options: dict[str, str] | None = None,
               check_duplicate: bool = True) -> Network:
        from minke.network.ipam import check_pool
        from minke.network.netlink import check_ifname
        from minke.network.subnets import Net, host_networks, overlaps

        self.ensure_predefined()
        if not name or not all(c.isalnum() or c in "_.-" for c in name) or not name[0].isalnum():
            raise InvalidArgument(f"invalid network name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        if driver != "bridge":
            raise InvalidArgument(f"unsupported network driver {driver!r}: only bridge networks can be created")
        if name in PREDEFINED:
            raise Conflict(f"operation is not permitted on predefined {name} network")
        if (gateway or ip_range) and not subnet:
            raise InvalidArgument("--gateway and --ip-range need --subnet")
        opts = dict(options or {})
        for k in opts:
            if k.startswith("com.docker.network.") and k not in _KNOWN_OPTS:
                raise InvalidArgument(f"unknown bridge network option {k}")
        if MTU_OPT in opts:
            try:
                mtu = int(opts[MTU_OPT])
                if not 68 <= mtu <= 65535:
                    raise ValueError
            except ValueError:
                raise InvalidArgument(f"invalid mtu {opts[MTU_OPT]!r}") from None
        nid = os.urandom(32).hex()
        bridge = opts.get(BRIDGE_NAME_OPT) or f"br-{nid[:12]}"
        check_ifname(bridge)
        pool = check_pool(subnet, gateway, ip_range) if subnet else None
        # The host lock spans the choice of the subnet and the bridge that takes it: two
        # stores (two roots, or a test run beside a real engine) must not pick the same one.
        with self._host_lock():
            with self.db.transaction():
                if self.db.query_one("SELECT 1 FROM networks WHERE name = ?", (name,)) is not None:
                    raise AlreadyExists(f"network with name {name} already exists")
                if self.db.query_one("SELECT 1 FROM networks WHERE bridge = ?", (bridge,)) is not None or self.kernel.link_exists(bridge):
                    raise AlreadyExists(f"bridge name {bridge} is already in use")
                mine = [Net(r["subnet"]) for r in self.db.query("SELECT subnet FROM networks WHERE subnet != ''")]
                if pool is None:
                    net = self._choose_subnet()
                    pool = check_pool(str(net))
                else:
                    clash = overlaps(Net(pool.subnet), mine + host_networks())
                    if clash is not None:
                        raise Conflict(f"invalid pool request: pool {pool.subnet} overlaps with {clash}, which is in use")
                self.db.execute(
                    "INSERT INTO networks (id, name, driver, bridge, subnet, gateway, ip_range, internal, dns, labels, options, created)"
                    " VALUES (?, ?, 'bridge', ?, ?, ?, ?, ?, 1, ?, ?, ?)",
                    (nid, name, bridge, pool.subnet, pool.gateway, pool.ip_range, int(internal),
                     fastjson.dumps(labels or {}), fastjson.dumps(opts), time.time()),
                )
            network = self.get(nid)
            try:
                self._ensure_kernel(network, host_locked=True)
            except BaseException:
                self._remove_kernel(network, host_locked=True)
                self.db.execute("DELETE FROM networks WHERE id = ?", (nid,))
                raise
        self._event("create", network)
        return network

    def _event(self, action: str, net: Any, **extra: str) -> None:
        """Record a network event (``minke events``): Docker's name and type attributes."""
        from minke import events

        events.record(self.config.root, "network", action, net.id, {"name": net.name, "type": net.driver, **extra})

    def _host_lock(self) -> Any:
        """A host-wide lock for host-wide things (routes, bridges): /run/lock, which no
        --run-root moves, since every store on the host shares one routing table."""
        from minke.store.locks import FileLock

        path = "/run/lock/minke-network.lock"
        if not os.access(path if os.path.exists(path) else os.path.dirname(path), os.R_OK | os.W_OK):
            # Not root (unit tests on fakes): nothing host-wide is touched anyway.
            os.makedirs(self.config.run_root, exist_ok=True)
            path = os.path.join(self.config.run_root, "minke-network.lock")
        return FileLock(path)

    def _ensure_kernel(self, net: Network, host_locked: bool = False) -> Network:
        """The bridge, its address, route_localnet, ip_forward and the network's rules;
        nothing is done twice.  A bridge that is missing (first use of the default
        network, or after a reboot) is made under the host lock, after checking that its
        subnet is still free; the default network moves to a free one if not."""
        if net.driver != "bridge" or not net.bridge:
            return net
        if not host_locked:
            # The usual case, on every run: the bridge this store made is still there (same
            # boot, same ifindex, so nobody deleted and remade it), hence so are its rules,
            # which only _remove_kernel takes away.  Two file reads: no iptables process,
            # no lock (an `iptables -S` pair cost ~30 ms per run).
            key = self.kernel.link_key(net.bridge)
            if key and self._kernel_marker(net) == key:
                return net
            # Locked: chains are made and removed (by the last network of any store)
            # under this lock, so a removal can never take a chain we are filling.
            with self._host_lock():
                return self._ensure_kernel(self._check_free(net), host_locked=True)
        from minke.network.iptables import net_tag, network_rules

        tag = net_tag(net.id)
        ipt = self.iptables
        self.kernel.create_bridge(net.bridge, net.gateway, net.prefixlen, net.mtu)
        self.kernel.set_interface_conf(net.bridge, "route_localnet", "1")
        ipt.ensure_chains()
        if not ipt.rules_of(tag):
            ipt.add(network_rules(net.bridge, net.subnet, net.internal), tag)
        if not net.internal and self.kernel.get_sysctl("net.ipv4.ip_forward") != "1":
            self.kernel.set_sysctl("net.ipv4.ip_forward", "1")
        self._write_kernel_marker(net, self.kernel.link_key(net.bridge))
        return net

    def _marker_path(self, net: Network) -> str:
        return os.path.join(self.config.run_root, "networks", net.id, "kernel")

    def _kernel_marker(self, net: Network) -> str:
        try:
            with open(self._marker_path(net)) as f:
                return f.read()
        except OSError:
            return ""

    def _write_kernel_marker(self, net: Network, key: str) -> None:
        """Record that the bridge ``key`` names has this network's rules (atomically: a
        reader never sees half a key)."""
        path = self._marker_path(net)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(key)
        os.replace(tmp, path)

    def _drop_kernel_marker(self, net: Network) -> None:
        try:
            os.unlink(self._marker_path(net))
        except FileNotFoundError:
            pass

    def _check_free(self, net: Network) -> Network:
        from minke.network.subnets import Net, host_networks, overlaps

        if self.kernel.link_exists(net.bridge or ""):
            return net
        clash = overlaps(Net(net.subnet), host_networks())
        if clash is None:
            return net
        if net.name != "bridge" or self.endpoints(net.id):
            raise Conflict(f"network {net.name}: subnet {net.subnet} overlaps with {clash}, which the host now routes")
        subnet = self._choose_subnet(exclude=net.id)
        self.db.execute("UPDATE networks SET subnet = ?, gateway = ? WHERE id = ?",
                        (str(subnet), str(subnet.network_address + 1), net.id))
        return self.get(net.id)

    def _remove_kernel(self, net: Network, host_locked: bool = False) -> None:
        from minke.network.iptables import net_tag

        self._stop_dns(net)
        if net.driver != "bridge" or not net.bridge:
            return
        from contextlib import nullcontext

        with nullcontext() if host_locked else self._host_lock():
            self._drop_kernel_marker(net)
            self.iptables.remove_tagged(net_tag(net.id))
            self.kernel.delete_link(net.bridge)
            self.iptables.remove_chains_if_empty()

    def remove(self, ref: str) -> str:
        net = self.get(ref)
        if net.name in PREDEFINED:
            raise Conflict(f"{net.name} is a pre-defined network and cannot be removed")
        self.release_dead(net.id)
        with self._lock(net.id):
            n = self.db.query_one("SELECT COUNT(*) FROM endpoints WHERE network_id = ?", (net.id,))[0]
            if n:
                raise Conflict(f"error while removing network: network {net.name} id {net.id} has active endpoints")
            net = self.get(net.id)
            self._remove_kernel(net)
            self.db.execute("DELETE FROM networks WHERE id = ?", (net.id,))
        self._event("destroy", net)
        return net.name

    def release_dead(self, network_id: str | None = None, *, locked: bool = False) -> list[Endpoint]:
        """Release endpoints whose host veth is gone: the namespace at its other end
        died (a container joined by /proc/PID/ns/net exited, or the host rebooted), so the
        endpoint carries nothing and its address and name must be free again."""

        if locked:
            # The caller holds ``network_id``'s lock: nothing on it is being wired now.
            dead = [ep for ep in self.endpoints(network_id) if ep.host_veth and not self.kernel.link_exists(ep.host_veth)]
            for ep in dead:
                self._disconnect_locked(self.get(ep.network_id), ep.container_id, force=True)
            return dead
        gone = []
        suspects = {ep.network_id for ep in self.endpoints(network_id)
                    if ep.host_veth and not self.kernel.link_exists(ep.host_veth)}
        for nid in sorted(suspects):
            # Re-check under the network's lock: a veth recorded but not yet created
            # belongs to a connect still in progress, not to a dead namespace.
            with self._lock(nid):
                for ep in self.endpoints(nid):
                    if ep.host_veth and not self.kernel.link_exists(ep.host_veth):
                        self._disconnect_locked(self.get(nid), ep.container_id, force=True)
                        gone.append(ep)
        return gone

    def prune(self, labels: list[str] | None = None, until: float | None = None) -> list[str]:
        """Custom networks no container uses (created before ``until``, with ``labels``)."""
        self.release_dead()
        out = []
        for net in self.list():
            if net.name in PREDEFINED or self.endpoints(net.id):
                continue
            if until is not None and not net.created < until:
                continue
            if labels and not all(_label_match(net.labels, lab) for lab in labels):
                continue
            try:
                out.append(self.remove(net.id))
            except (Conflict, NotFound):
                pass
        return out

    def teardown_all(self) -> None:
        """Undo every kernel object of this store's networks (bridges, rules, resolvers,
        container namespaces), keeping the rows: for tests and ``system reset``."""
        for ep in self.endpoints():
            self.disconnect(ep.network_id, ep.container_id)
        for net in self.list():
            self._remove_kernel(net)
        d = os.path.join(self.config.run_root, "netns")
        if os.path.isdir(d):
            for name in os.listdir(d):
                self.kernel.netns_delete(os.path.join(d, name))

    # --- inspect --------------------------------------------------------------------------
    def inspect(self, ref: str) -> dict[str, Any]:
        from minke.containers.service import format_time

        net = self.get(ref)
        names = {}
        try:
            names = {r["id"]: r["name"] for r in self.db.query("SELECT id, name FROM containers")}
        except Exception:  # noqa: BLE001 - no containers table in a store without them
            names = {}
        containers = {}
        for ep in self.endpoints(net.id):
            containers[ep.container_id] = {
                "Name": names.get(ep.container_id, ""),
                "EndpointID": ep.endpoint_id,
                "MacAddress": ep.mac,
                "IPv4Address": f"{ep.ip}/{ep.prefixlen}",
                "IPv6Address": "",
            }
        ipam_cfg = []
        if net.subnet:
            c = {"Subnet": net.subnet, "Gateway": net.gateway}
            if net.ip_range:
                c["IPRange"] = net.ip_range
            ipam_cfg.append(c)
        return {
            "Name": net.name,
            "Id": net.id,
            "Created": format_time(net.created),
            "Scope": "local",
            "Driver": net.driver,
            "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None if net.name in PREDEFINED else {}, "Config": ipam_cfg},
            "Internal": net.internal,
            "Attachable": False,
            "Ingress": False,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": False,
            "Containers": containers,
            "Options": net.options,
            "Labels": net.labels,
        }

    # --- a container's endpoints ------------------------------------------------------------
    def connect(self, ref: str, container_id: str, netns_path: str, *, name: str = "", aliases: tuple[str, ...] = (),
                ip: str = "", mac: str = "") -> Endpoint:
        """Attach the container whose network namespace is ``netns_path`` to a bridge
        network: address, veth pair, interface in the namespace, resolver."""
        from minke.network import netlink
        from minke.network.ipam import Ipam, Pool

        net = self.get(ref)
        if net.driver != "bridge":
            raise InvalidArgument(f"container cannot be connected to network {net.name}: only bridge networks take endpoints")
        if ip and net.name == "bridge":
            raise InvalidArgument("user specified IP address is supported on user defined networks only")
        if aliases and not net.dns:
            raise InvalidArgument("network-scoped alias is supported only for containers in user defined networks")

        try:
            if self.kernel.is_host_netns(netns_path):
                raise InvalidArgument("container sharing the host's network namespace cannot be connected to a network")
        except FileNotFoundError:
            raise NotFound(f"network namespace {netns_path} not found: is the container running?") from None
        host_veth, _ = _veth_names(container_id, net.id)
        ifname = f"eth{len(self.endpoints(container_id=container_id))}"
        with self._lock(net.id):
            # Under the lock: an endpoint another process is still wiring has its veth name
            # recorded but no link yet, and must not be taken for dead.
            self.release_dead(net.id, locked=True)
            net = self._ensure_kernel(self.get(net.id))
            got_ip, got_mac, _ = Ipam(self.db).allocate(Pool(net.id, net.subnet, net.gateway, net.ip_range), container_id,
                                                        requested=ip, name=name, aliases=tuple(aliases), mac=mac)
            try:
                self.kernel.delete_link(host_veth)  # a leftover of a crash
                self.db.execute("UPDATE endpoints SET host_veth = ? WHERE network_id = ? AND container_id = ?",
                                (host_veth, net.id, container_id))
                # The peer is born in the container's namespace as eth<N>, with its MAC:
                # left to do there are the address, up and the route.
                self.kernel.create_veth(host_veth, ifname, net.bridge or "", net.mtu, netns_path, got_mac)
                self.kernel.configure_in_netns(netns_path, netlink.InterfaceConfig(
                    ifname=ifname, name=ifname, address=got_ip, prefixlen=net.prefixlen,
                    gateway=net.gateway if ifname == "eth0" else "", mac=got_mac, mtu=net.mtu, ready=True))
                if net.dns:
                    self._ensure_dns(net)
            except BaseException:
                self.kernel.delete_link(host_veth)
                Ipam(self.db).release(net.id, container_id)
                if net.dns and not self.endpoints(net.id):
                    self._stop_dns(self.get(net.id))
                raise
        self._event("connect", net, container=container_id)
        return next(e for e in self.endpoints(net.id, container_id))

    def disconnect(self, ref: str, container_id: str, *, force: bool = False) -> None:
        """Remove the container's endpoint: its published ports, veth, address; the
        resolver when it was the last on the network."""
        net = self.get(ref)
        with self._lock(net.id):
            self._disconnect_locked(net, container_id, force=force)
        self._event("disconnect", net, container=container_id)

    def _disconnect_locked(self, net: Any, container_id: str, *, force: bool = False) -> None:
        eps = self.endpoints(net.id, container_id)
        if not eps:
            if force:
                return
            raise NotFound(f"container {container_id[:12]} is not connected to network {net.name}")
        ep = eps[0]
        if ep.ports:
            from minke.network.iptables import ctr_tag

            self.iptables.remove_tagged(ctr_tag(container_id) + ":" + net.id[:12])
            if any(p.protocol == "udp" for p in ep.ports):
                try:
                    self.kernel.flush_udp_conntrack(ep.ip)
                except Exception as e:  # noqa: BLE001 - no conntrack support: nothing to flush
                    import logging  # not at the top: its import costs every run on a bridge

                    logging.getLogger(__name__).debug("conntrack flush for %s failed: %s", ep.ip, e)
        if ep.host_veth:
            self.kernel.delete_link(ep.host_veth)
        self.db.execute("DELETE FROM endpoints WHERE network_id = ? AND container_id = ?", (net.id, container_id))
        if net.dns and not self.endpoints(net.id):
            self._stop_dns(self.get(net.id))

    # --- publishing -------------------------------------------------------------------------
    def publish(self, ep: Endpoint, mappings: list[Any]) -> tuple[Published, ...]:
        """DNAT the mappings (``minke.network.ports.PortMapping``) to the endpoint; host
        ports are checked against other containers' and the host's sockets and chosen for
        ``-p 80`` (kernel's ephemeral range).  Recorded on the endpoint row."""
        from minke.network.iptables import ctr_tag, publish_rules

        net = self.get(ep.network_id)
        if net.internal and mappings:
            raise InvalidArgument(f"ports cannot be published on internal network {net.name}")
        tag = ctr_tag(ep.container_id) + ":" + net.id[:12]
        with self.db.transaction():
            taken = []
            for r in self.db.query("SELECT ports FROM endpoints"):
                taken += [Published(**p) for p in fastjson.loads(r["ports"])]
            chosen: list[Published] = []
            for m in mappings:
                host_ip = m.host_ip or "0.0.0.0"
                if ":" in host_ip:
                    continue  # IPv4-only networks: an IPv6 host address has nothing to reach
                port = _pick_port(m, host_ip, taken + chosen)
                chosen.append(Published(m.protocol, host_ip, port, ep.ip, m.container_port))
            self.db.execute("UPDATE endpoints SET ports = ? WHERE network_id = ? AND container_id = ?",
                            (fastjson.dumps([p.__dict__ for p in chosen]), ep.network_id, ep.container_id))
        try:
            rules = [r for p in chosen for r in publish_rules(net.bridge or "", p)]
            self.iptables.add(rules, tag)
        except BaseException:
            self.db.execute("UPDATE endpoints SET ports = '[]' WHERE network_id = ? AND container_id = ?", (ep.network_id, ep.container_id))
            raise
        return tuple(chosen)

    # --- the container's whole networking ------------------------------------------------------
    def setup(self, container_id: str, name: str, attachments: list[Attachment], ports: list[Any] | None = None,
              netns_path: str | None = None) -> ContainerNetwork:
        """Make the container's networking before its start.  ``attachments[0].network`` may
        be ``none``, ``host``, ``container:<netns path>`` (the caller resolves the other
        container to its /proc/PID/ns/net) or a bridge network (``default`` = ``bridge``).
        With a bridge network, a kept netns is created (or ``netns_path`` joined)."""

        if not attachments:
            attachments = [Attachment("bridge")]
        existing = self.current(container_id) if netns_path is None else None
        if existing is not None:
            return existing  # a restart (monitor's restart policy): the kept netns stays
        first = attachments[0].network
        if first == "default":
            a0 = attachments[0]
            attachments = [Attachment("bridge", a0.aliases, a0.ip, a0.mac), *attachments[1:]]
            first = "bridge"
        if first in ("none", "host") or first.startswith("container:"):
            if len(attachments) > 1:
                raise InvalidArgument(f"container cannot be connected to multiple networks with one of the networks in {first.split(':')[0]} mode")
            if first == "none":
                return ContainerNetwork("none", None)
            if first == "host":
                return ContainerNetwork("host", "")
            return ContainerNetwork("container", first.split(":", 1)[1])
        path = netns_path or self.netns_path(container_id)
        made = False
        if netns_path is None:
            if os.path.exists(path):
                self.kernel.netns_delete(path)
            self.kernel.netns_create(path)
            made = True
        eps: list[Endpoint] = []
        try:
            for i, att in enumerate(attachments):
                ep = self.connect(att.network, container_id, path, name=name, aliases=att.aliases, ip=att.ip, mac=att.mac)
                if i == 0 and ports:
                    pub = self.publish(ep, ports)
                    ep = Endpoint(**{**ep.__dict__, "ports": pub})
                eps.append(ep)
            if not eps:

                self.kernel.configure_in_netns(path, None)
        except BaseException:
            self.teardown(container_id, delete_netns=made)
            raise
        ns = tuple([eps[0].gateway] if eps and eps[0].dns else [])
        return ContainerNetwork("bridge", path, tuple(eps), ns)

    def current(self, container_id: str) -> ContainerNetwork | None:
        """The container's bridge networking when it is set up (netns kept, endpoints)."""

        path = self.netns_path(container_id)
        eps = tuple(self.endpoints(container_id=container_id))
        if not eps or not self.kernel.netns_exists(path):
            return None
        return ContainerNetwork("bridge", path, eps, tuple([eps[0].gateway] if eps[0].dns else []))

    def teardown(self, container_id: str, delete_netns: bool = True) -> None:
        """Undo ``setup``: idempotent, so a monitor, ``rm`` and a crash recovery may all call it."""

        # disconnect removes an endpoint's rules before its row, so no rule outlives it.
        for ep in self.endpoints(container_id=container_id):
            self.disconnect(ep.network_id, container_id, force=True)
        if delete_netns:
            self.kernel.netns_delete(self.netns_path(container_id))

    # --- resolver -------------------------------------------------------------------------------
    def _dns_alive(self, net: Network) -> bool:
        return bool(self.kernel.dns_alive(net.dns_pid, net.dns_start))

    def _ensure_dns(self, net: Network) -> None:
        if self._dns_alive(net):
            return
        d = os.path.join(self.config.run_root, "networks", net.id)
        os.makedirs(d, mode=0o700, exist_ok=True)
        extra = getattr(self.config, "extra", None) or {}
        pid, start = self.kernel.start_dns(self.config.db_path, net.id, net.gateway, int(extra.get("dns_port", 53)),
                                           extra.get("resolv_conf", "/etc/resolv.conf"), os.path.join(d, "dns.log"))
        self.db.execute("UPDATE networks SET dns_pid = ?, dns_start = ? WHERE id = ?", (pid, start, net.id))

    def _stop_dns(self, net: Network) -> None:
        if net.dns_pid:
            self.kernel.stop_dns(net.dns_pid, net.dns_start)
            self.db.execute("UPDATE networks SET dns_pid = 0, dns_start = 0 WHERE id = ?", (net.id,))


def resolv_conf(host_text: str, nameservers: tuple[str, ...]) -> str:
    """A user network's container: our resolver, with the host's search and options."""
    lines = [f"nameserver {ns}" for ns in nameservers]
    for line in host_text.splitlines():
        parts = line.split()
        if parts and parts[0] in ("search", "domain", "options"):
            lines.append(line)
    return "\n".join(lines) + "\n"


def hosts_entries(endpoints: tuple[Endpoint, ...], hostname: str) -> str:
    """The container's own addresses for its /etc/hosts (Docker adds ``IP hostname``)."""
    return "".join(f"{ep.ip}\t{hostname}\n" for ep in endpoints)


def _label_match(labels: dict[str, str], spec: str) -> bool:
    k, eq, v = spec.partition("=")
    return k in labels and (not eq or labels[k] == v)


def _pick_port(m: Any, host_ip: str, taken: list[Published]) -> int:
    import socket

    def clash(port: int) -> bool:
        return any(t.protocol == m.protocol and t.host_port == port and
                   (t.host_ip == host_ip or "0.0.0.0" in (t.host_ip, host_ip)) for t in taken)

    def host_busy(port: int) -> bool:
        kind = socket.SOCK_DGRAM if m.protocol == "udp" else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((host_ip, port))
            except OSError:
                return True
        return False

    if m.host_port and not m.host_port_end:
        if clash(m.host_port) or host_busy(m.host_port):
            raise Conflict(f"Bind for {host_ip}:{m.host_port} failed: port is already allocated")
        return int(m.host_port)
    if m.host_port_end:
        for p in range(m.host_port, m.host_port_end + 1):
            if not clash(p) and not host_busy(p):
                return p
        raise Conflict(f"Bind for {host_ip}:{m.host_port}-{m.host_port_end} failed: all ports are already allocated")
    for _ in range(50):
        kind = socket.SOCK_DGRAM if m.protocol == "udp" else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((host_ip, 0))
            p = int(s.getsockname()[1])
        if not clash(p):
            return p
    raise MinkeError("no free host port to publish on")
