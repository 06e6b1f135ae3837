"""``-p`` / ``--publish`` values, parsed as Docker's client does (nat.ParsePortSpec).

Forms: ``80``, ``8080:80``, ``127.0.0.1:8080:80``, ``127.0.0.1::80`` (random host port),
``[::1]:8080:80``, ``8000-8002:9000-9002``, ``8000-8010:80`` (one host port from the
range), each with an optional ``/tcp`` or ``/udp``.  Ranges are expanded into one
``PortMapping`` per container port.
"""

from __future__ import annotations

from minke.errors import InvalidArgument
from minke.record import record

PROTOCOLS = ("tcp", "udp", "sctp")


@record
class PortMapping:
    """One published container port.  ``host_port`` 0: any free port; with
    ``host_port_end`` set, any free port in ``host_port..host_port_end``."""

    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""
    host_port: int = 0
    host_port_end: int = 0

    @property
    def key(self) -> str:
        """Docker's NetworkSettings.Ports key: ``"80/tcp"``."""
        return f"{self.container_port}/{self.protocol}"


def _port_range(text: str, what: str) -> tuple[int, int]:
    lo_s, dash, hi_s = text.partition("-")
    try:
        lo = int(lo_s)
        hi = int(hi_s) if dash else lo
    except ValueError:
        raise InvalidArgument(f"invalid {what}: {text}") from None
    if not (0 < lo <= 65535 and 0 < hi <= 65535) or hi < lo:
        raise InvalidArgument(f"invalid {what}: {text}")
    return lo, hi


def _split_ip(spec: str) -> tuple[str, str]:
    """('ip', 'rest') for ``ip:host:ctr``; IPv6 in brackets."""
    if spec.startswith("["):
        end = spec.find("]")
        if end < 0 or spec[end + 1 : end + 2] != ":":
            raise InvalidArgument(f"invalid ip address in port spec: {spec}")
        return spec[1:end], spec[end + 2 :]
    parts = spec.split(":")
    if len(parts) == 3:
        return parts[0], parts[1] + ":" + parts[2]
    if len(parts) > 3:
        raise InvalidArgument(f"invalid port spec: {spec}")
    return "", spec


def parse_publish(spec: str) -> list[PortMapping]:
    """One ``-p`` value to its mappings; bad input raises ``InvalidArgument``."""
    import ipaddress

    body, slash, proto = spec.partition("/")
    proto = proto.lower() if slash else "tcp"
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}")
    if not body:
        raise InvalidArgument(f"no port specified: {spec}")
    host_ip, rest = _split_ip(body)
    if host_ip:
        try:
            host_ip = str(ipaddress.ip_address(host_ip))
        except ValueError:
            raise InvalidArgument(f"invalid ip address: {host_ip}") from None
    host_part, colon, ctr_part = rest.rpartition(":")
    if not colon:
        host_part, ctr_part = "", rest
    if not ctr_part:
        raise InvalidArgument(f"no port specified: {spec}")
    c_lo, c_hi = _port_range(ctr_part, "containerPort")
    if not host_part:
        return [PortMapping(p, proto, host_ip) for p in range(c_lo, c_hi + 1)]
    h_lo, h_hi = _port_range(host_part, "hostPort")
    n_ctr, n_host = c_hi - c_lo + 1, h_hi - h_lo + 1
    if n_ctr == n_host:
        return [PortMapping(c_lo + i, proto, host_ip, h_lo + i) for i in range(n_ctr)]
    if n_ctr == 1:
        return [PortMapping(c_lo, proto, host_ip, h_lo, h_hi)]
    raise InvalidArgument(f"invalid ranges specified for container and host ports: {spec}")


def parse_publish_all(specs: list[str]) -> list[PortMapping]:
    out: list[PortMapping] = []
    for s in specs:
        out.extend(parse_publish(s))
    return out


def parse_expose(spec: str) -> list[str]:
    """``--expose 80`` / ``8000-8002/udp`` -> ExposedPorts keys."""
    body, slash, proto = spec.partition("/")
    proto = proto.lower() if slash else "tcp"
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}")
    lo, hi = _port_range(body, "range for expose")
    return [f"{p}/{proto}" for p in range(lo, hi + 1)]


def to_port_bindings(mappings: list[PortMapping]) -> dict[str, list[dict[str, str]]]:
    """Docker's HostConfig.PortBindings shape."""
    out: dict[str, list[dict[str, str]]] = {}
    for m in mappings:
        hp = "" if not m.host_port else (f"{m.host_port}-{m.host_port_end}" if m.host_port_end else str(m.host_port))
        out.setdefault(m.key, []).append({"HostIp": m.host_ip, "HostPort": hp})
    return out


def from_port_bindings(bindings: dict[str, list[dict[str, str]]] | None) -> list[PortMapping]:
    """HostConfig.PortBindings back to mappings (what the API server receives)."""
    out: list[PortMapping] = []
    for key, binds in (bindings or {}).items():
        port_s, _, proto = key.partition("/")
        proto = proto or "tcp"
        c_lo, _ = _port_range(port_s, "containerPort")
        for b in binds or [{}]:
            hp = (b or {}).get("HostPort") or ""
            h_lo, h_hi = _port_range(hp, "hostPort") if hp else (0, 0)
            out.append(PortMapping(c_lo, proto, (b or {}).get("HostIp") or "", h_lo, h_hi if h_hi != h_lo else 0))
    return out
