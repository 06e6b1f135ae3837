"""Glue for the containers package: from Docker's HostConfig to a network plan, from a
``ContainerNetwork`` to the OCI spec, the container's resolv.conf / hosts, and Docker's
``NetworkSettings``.  Pure functions; importing this module loads neither the service nor
netlink, so ``--network none|host`` stay off the netlink path.

The hook, in the order ``start`` runs it::

    from minke.network.container import plan, apply_to_spec, needs_service, ...
    atts, ports = plan(host_config, networking_config, config.get("ExposedPorts"))
    atts = resolve_container_mode(atts, lambda ref: f"/proc/{pid_of(ref)}/ns/net")
    cn = engine.networks.setup(cid, name, atts, ports) if needs_service(atts) \\
         else static_network(atts)
    apply_to_spec(spec, cn)                       # linux.namespaces network path
    write resolv_conf_text(host_resolv, cn, dns=..., search=..., options=...)
    write hosts_text(hostname, cn, extra_hosts)
    ... after the container's last exit (no restart follows) and in rm:
    engine.networks.teardown(cid)
"""

from __future__ import annotations

from minke.errors import InvalidArgument
from minke.network.model import Attachment, ContainerNetwork
from minke.network.ports import PortMapping, from_port_bindings

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing: for mypy only (a short command saves its import)
    from collections.abc import Callable
    from typing import Any


def plan(host_config: dict[str, Any], networking_config: dict[str, Any] | None = None,
         exposed_ports: dict[str, Any] | None = None) -> tuple[list[Attachment], list[PortMapping]]:
    """The networks to join (first = NetworkMode) and the ports to publish.

    ``networking_config`` is Docker's NetworkingConfig (``--network-alias``, ``--ip``,
    ``--mac-address`` land in ``EndpointsConfig[network]``); ``exposed_ports`` the
    Config.ExposedPorts, published on random host ports by ``-P``.
    """
    hc = host_config or {}
    mode = hc.get("NetworkMode") or "default"
    if mode == "default":
        mode = "bridge"
    eps = dict((networking_config or {}).get("EndpointsConfig") or {})
    first = _attachment(mode, eps.pop(mode, None) or eps.pop("default", None) or {})
    atts = [first] + [_attachment(name, cfg or {}) for name, cfg in eps.items()]
    ports = from_port_bindings(hc.get("PortBindings"))
    if hc.get("PublishAllPorts"):
        bound = {m.key for m in ports}
        for key in sorted(exposed_ports or {}):
            port_s, _, proto = key.partition("/")
            if key not in bound:
                ports.append(PortMapping(int(port_s), proto or "tcp"))
    if mode in ("none", "host") or mode.startswith("container:"):
        if len(atts) > 1:
            raise InvalidArgument(f"conflicting options: cannot attach both user-defined and non-user-defined network-modes ({mode})")
        if mode != "host" and (first.aliases or first.ip):
            raise InvalidArgument(f"conflicting options: --network-alias and --ip need a bridge network, not {mode}")
        ports = []  # Docker ignores published ports outside bridge networks
    return atts, ports


def _attachment(network: str, cfg: dict[str, Any]) -> Attachment:
    ipam = cfg.get("IPAMConfig") or {}
    return Attachment(network, tuple(cfg.get("Aliases") or ()), ipam.get("IPv4Address") or "", cfg.get("MacAddress") or "")


def needs_service(atts: list[Attachment]) -> bool:
    """False for none / host / container:…, which need no bridge, netlink or DB rows."""
    n = atts[0].network if atts else "bridge"
    return n not in ("none", "host") and not n.startswith("container:")


def resolve_container_mode(atts: list[Attachment], netns_of: Callable[[str], str]) -> list[Attachment]:
    """``container:NAME`` -> ``container:/proc/PID/ns/net`` through the caller's lookup."""
    if atts and atts[0].network.startswith("container:"):
        ref = atts[0].network.split(":", 1)[1]
        if not ref.startswith("/"):
            return [Attachment("container:" + netns_of(ref))]
    return atts


def static_network(atts: list[Attachment]) -> ContainerNetwork:
    n = atts[0].network if atts else "none"
    if n == "host":
        return ContainerNetwork("host", "")
    if n.startswith("container:"):
        return ContainerNetwork("container", n.split(":", 1)[1])
    return ContainerNetwork("none", None)


def apply_to_spec(spec: dict[str, Any], cn: ContainerNetwork) -> dict[str, Any]:
    """Point the spec's network namespace at ``cn``: a path to join (bridge, container),
    none at all (host: the runtime stays in the host's), or a new empty one (none)."""
    linux = spec.setdefault("linux", {})
    nss = [ns for ns in linux.get("namespaces") or [] if ns.get("type") != "network"]
    if cn.mode != "host":
        entry: dict[str, Any] = {"type": "network"}
        if cn.netns_path:
            entry["path"] = cn.netns_path
        nss.append(entry)
    linux["namespaces"] = nss
    return spec


def resolv_conf_text(host_text: str, cn: ContainerNetwork, dns: list[str] | None = None,
                     search: list[str] | None = None, options: list[str] | None = None) -> str:
    """The container's /etc/resolv.conf: ``--dns`` wins; a user network's resolver next;
    otherwise the host's (loopback resolvers dropped, as Docker does, except on the host
    network, where they are reachable)."""
    lines: list[str] = []
    host_ns = [ln.split()[1] for ln in host_text.splitlines() if ln.split()[:1] == ["nameserver"] and len(ln.split()) > 1]
    host_search: list[str] = []
    host_opts: list[str] = []
    for ln in host_text.splitlines():
        parts = ln.split()
        if parts[:1] in (["search"], ["domain"]):
            host_search = parts[1:]
        elif parts[:1] == ["options"]:
            host_opts += parts[1:]
    if dns:
        servers = list(dns)
    elif cn.nameservers:
        servers = list(cn.nameservers)
    elif cn.mode == "host":
        servers = host_ns
    else:
        servers = [s for s in host_ns if not (s.startswith("127.") or s == "::1")] or ["8.8.8.8", "8.8.4.4"]
    lines += [f"nameserver {s}" for s in servers]
    if search if search is not None else host_search:
        lines.append("search " + " ".join(search if search is not None else host_search))
    opts = list(options) if options is not None else host_opts
    if opts:
        lines.append("options " + " ".join(opts))
    return "\n".join(lines) + "\n"


def hosts_text(hostname: str, cn: ContainerNetwork, extra_hosts: list[str] | None = None) -> str:
    """/etc/hosts: Docker's localhost lines, ``--add-host`` entries, then the container's
    own address with its hostname (127.0.1.1 when it has none)."""
    lines = [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "ff00::0\tip6-mcastprefix",
        "ff02::1\tip6-allnodes",
        "ff02::2\tip6-allrouters",
    ]
    for h in extra_hosts or []:
        name, sep, ip = h.partition(":")
        if not sep or not name or not ip:
            raise InvalidArgument(f"invalid argument {h!r} for --add-host: must be HOST:IP")
        if ip == "host-gateway":
            if not cn.endpoints:
                raise InvalidArgument("--add-host host-gateway needs a bridge network")
            ip = cn.endpoints[0].gateway
        lines.append(f"{ip}\t{name}")
    if cn.endpoints:
        lines.append(f"{cn.endpoints[0].ip}\t{hostname}")
    elif cn.mode != "host":
        lines.append(f"127.0.1.1\t{hostname}")
    return "\n".join(lines) + "\n"


def network_settings(cn: ContainerNetwork | None, mode: str = "default") -> dict[str, Any]:
    """Docker's NetworkSettings for ``inspect`` (running container; an empty shape with
    ``cn`` None)."""
    nets: dict[str, Any] = {}
    ports: dict[str, Any] = {}
    for ep in cn.endpoints if cn else ():
        nets[ep.network_name] = {
            "IPAMConfig": None, "Links": None, "Aliases": list(ep.aliases) or None, "MacAddress": ep.mac,
            "NetworkID": ep.network_id, "EndpointID": ep.endpoint_id, "Gateway": ep.gateway, "IPAddress": ep.ip,
            "IPPrefixLen": ep.prefixlen, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "DriverOpts": None, "DNSNames": None,
        }
        for p in ep.ports:
            ports.setdefault(f"{p.container_port}/{p.protocol}", []).append({"HostIp": p.host_ip, "HostPort": str(p.host_port)})
    if cn is not None and cn.mode in ("host", "none"):
        nets[cn.mode] = {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "NetworkID": "",
                         "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                         "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DriverOpts": None, "DNSNames": None}
    first = cn.endpoints[0] if cn and cn.endpoints else None
    default_bridge = first is not None and first.network_name == "bridge"
    return {
        "Bridge": "", "SandboxID": "", "SandboxKey": (cn.netns_path or "") if cn else "",
        "Ports": ports, "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
        "EndpointID": first.endpoint_id if default_bridge and first else "",
        "Gateway": first.gateway if default_bridge and first else "",
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "IPAddress": first.ip if default_bridge and first else "",
        "IPPrefixLen": first.prefixlen if default_bridge and first else 0,
        "IPv6Gateway": "", "MacAddress": first.mac if default_bridge and first else "",
        "Networks": nets,
    }


def port_lines(cn: ContainerNetwork) -> list[str]:
    """``minke port`` output: ``80/tcp -> 0.0.0.0:32768``."""
    out = []
    for ep in cn.endpoints:
        for p in ep.ports:
            out.append(f"{p.container_port}/{p.protocol} -> {p.host_ip}:{p.host_port}")
    return out


# --- the start/stop hooks, for ContainerService ----------------------------------------------------


def start_hook(networks: Callable[[], Any], *, container_id: str, name: str, hostname: str,
               host_config: dict[str, Any], spec: dict[str, Any], container_dir: str,
               networking_config: dict[str, Any] | None = None, exposed_ports: dict[str, Any] | None = None,
               netns_of: Callable[[str], str] | None = None, host_resolv: str | None = None) -> ContainerNetwork:
    """Everything ``start`` needs, in one call: plan the networks from HostConfig, set
    them up (bridge modes only: ``networks()`` is not even called for none/host), point
    the spec's network namespace at the result, and write the container's resolv.conf and
    hosts into ``container_dir`` (the files the spec bind-mounts).  Undone on failure.

    ``netns_of(ref)`` gives the netns path of another container for ``container:REF``
    (``/proc/PID/ns/net`` of its init).
    """
    import os

    hc = host_config or {}
    atts, ports = plan(hc, networking_config, exposed_ports)
    if netns_of is not None:
        atts = resolve_container_mode(atts, netns_of)
    elif atts[0].network.startswith("container:") and not atts[0].network.split(":", 1)[1].startswith("/"):
        raise InvalidArgument(f"network mode {atts[0].network} needs the other container's namespace")
    svc = networks() if needs_service(atts) else None
    cn = svc.setup(container_id, name, atts, ports) if svc is not None else static_network(atts)
    try:
        apply_to_spec(spec, cn)
        if host_resolv is None:
            try:
                with open("/etc/resolv.conf") as f:
                    host_resolv = f.read()
            except OSError:
                host_resolv = ""
        files = {
            "resolv.conf": resolv_conf_text(host_resolv, cn, hc.get("Dns") or None,
                                            hc.get("DnsSearch") if hc.get("DnsSearch") else None,
                                            hc.get("DnsOptions") if hc.get("DnsOptions") else None),
            "hosts": hosts_text(hostname, cn, list(hc.get("ExtraHosts") or [])),
        }
        for fname, text in files.items():
            tmp = os.path.join(container_dir, f".{fname}.tmp")
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, os.path.join(container_dir, fname))
    except BaseException:
        if svc is not None:
            svc.teardown(container_id)
        raise
    return cn


def stop_hook(networks: Callable[[], Any], container_id: str, host_config: dict[str, Any] | None = None) -> None:
    """After the container's last exit (no restart follows) and in ``rm``: remove its
    ports, veths, addresses and netns.  Idempotent; a no-op for none/host containers."""
    atts, _ = plan(host_config or {})
    if needs_service(atts):
        networks().teardown(container_id)
