"""Where to reach a registry: endpoints, mirrors, HTTP or HTTPS, concurrency.

Configuration uses Docker's ``daemon.json`` key names so a user can copy theirs:
``registry-mirrors`` (mirrors of docker.io, tried in order before docker.io itself),
``insecure-registries`` (plain HTTP allowed, TLS not verified; hosts or CIDRs),
``max-concurrent-downloads`` (default 3) and ``max-concurrent-uploads`` (default 5);
and, like Podman's ``blocked`` registries, ``blocked-registries``: hosts minke must never
contact (the test suite blocks docker.io so no test can reach the internet).
Read from ``<config_dir>/registries.json`` then ``~/.config/minke/registries.json``
(later files win key by key).  As in Docker, loopback registries (localhost, 127.0.0.0/8,
::1) are insecure without being listed.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass, field

from minke.errors import InvalidArgument

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"


@dataclass(frozen=True)
class Endpoint:
    url: str  # "https://registry-1.docker.io" or "http://localhost:5000"
    host: str  # the registry's name as written in references ("docker.io")
    tls_verify: bool = True
    mirror: bool = False
    fallback_http: bool = False  # insecure registry: try HTTPS, then plain HTTP


@dataclass(frozen=True)
class RegistryConfig:
    mirrors: tuple[str, ...] = ()
    insecure: tuple[str, ...] = ()
    max_concurrent_downloads: int = 3
    max_concurrent_uploads: int = 5
    blocked: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)

    @classmethod
    def load(cls, config_dir: str, home: str | None = None) -> RegistryConfig:
        merged: dict = {}
        home = home if home is not None else os.path.expanduser("~")
        for path in (os.path.join(config_dir, "registries.json"),
                     os.path.join(home, ".config", "minke", "registries.json")):
            try:
                with open(path, "rb") as f:
                    data = json.load(f)
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as e:
                raise InvalidArgument(f"invalid registry config {path}: {e}") from None
            if not isinstance(data, dict):
                raise InvalidArgument(f"invalid registry config {path}: not a JSON object")
            merged.update(data)
        try:
            return cls(
                mirrors=tuple(str(m).rstrip("/") for m in merged.get("registry-mirrors", ())),
                insecure=tuple(str(h) for h in merged.get("insecure-registries", ())),
                max_concurrent_downloads=int(merged.get("max-concurrent-downloads", 3)),
                max_concurrent_uploads=int(merged.get("max-concurrent-uploads", 5)),
                blocked=tuple(str(h) for h in merged.get("blocked-registries", ())),
            )
        except (TypeError, ValueError) as e:
            raise InvalidArgument(f"invalid registry config: {e}") from None

    def is_insecure(self, host: str) -> bool:
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]")
        if name == "localhost":
            return True
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            ip = None
        if ip is not None and ip.is_loopback:
            return True
        for entry in self.insecure:
            if entry == host or entry == name:
                return True
            if ip is not None and "/" in entry:
                try:
                    if ip in ipaddress.ip_network(entry, strict=False):
                        return True
                except ValueError:
                    continue
        return False

    def endpoints(self, host: str, *, tls_verify: bool = True) -> list[Endpoint]:
        """The endpoints to try, in order, for a registry host from a reference."""
        if host in self.blocked:
            from minke.errors import PermissionDenied

            raise PermissionDenied(f"registry {host} is blocked by the registry configuration")
        out: list[Endpoint] = []
        if host == DOCKER_HUB:
            for m in self.mirrors:
                mhost = m.split("://", 1)[-1]
                insecure = m.startswith("http://") or self.is_insecure(mhost)
                url = m if "://" in m else f"https://{m}"
                out.append(Endpoint(url, host, tls_verify=tls_verify and not insecure, mirror=True,
                                    fallback_http=insecure and not m.startswith("https://")))
            out.append(Endpoint(f"https://{DOCKER_HUB_API}", host, tls_verify=tls_verify))
            return out
        insecure = self.is_insecure(host)
        if insecure or not tls_verify:
            # Docker tries HTTPS first and falls back to HTTP for insecure registries.
            out.append(Endpoint(f"https://{host}", host, tls_verify=False, fallback_http=True))
        else:
            out.append(Endpoint(f"https://{host}", host, tls_verify=True))
        return out
