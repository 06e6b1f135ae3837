"""Hooks for ContainerService: volumes at create time and mounts at start time.

- ``create_hook(volumes, host_config, image_volumes)`` -> a new HostConfig whose ``Mounts``
  holds every bind and volume mount, with named and anonymous volumes created and named
  (so ``rm -v``, ``volume rm``'s in-use check and ``inspect`` see them); ``Binds`` is
  folded in, ``Tmpfs`` kept (checked for clashes).  Call it in ``create`` before the row
  is written; ``build_spec`` then mounts the binds and tmpfs, ``start_hook`` the volumes.
- ``start_hook(volumes, host_config, rootfs, spec)`` fills empty volumes from the image
  (``rootfs`` is the container's mounted root) and puts the volume mounts in the spec,
  replacing a default mount at the same place, parents before children.
- ``remove_hook(volumes, host_config)`` removes the container's anonymous volumes
  (``rm -v``).
"""

from __future__ import annotations

from typing import Any

from minke.volumes.mounts import container_mounts, from_api, to_api


def create_hook(volumes: Any, host_config: dict[str, Any], image_volumes: dict[str, Any] | None = None) -> dict[str, Any]:
    hc = dict(host_config or {})
    specs = container_mounts(hc, image_volumes)
    resolved = volumes.resolve(specs) if any(m.type == "volume" for m in specs) else specs
    # --tmpfs stays in HostConfig.Tmpfs (its free-form options have no Mounts field);
    # -v binds and volumes join --mount in Mounts, as Docker's daemon records them.
    from_tmpfs = set((hc.get("Tmpfs") or {}).keys())
    hc["Mounts"] = [to_api(m) for m in resolved if not (m.type == "tmpfs" and m.target in from_tmpfs)]
    hc["Binds"] = None
    return hc


def start_hook(volumes: Any, host_config: dict[str, Any], rootfs: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Add the volume mounts (the ones ``build_spec`` cannot resolve) to ``spec``."""
    specs = [from_api(m) for m in (host_config or {}).get("Mounts") or [] if m.get("Type") == "volume"]
    if not specs:
        return []
    added = volumes.prepare(specs, rootfs)
    taken = {m["destination"].rstrip("/") for m in added}
    mounts = [m for m in spec.get("mounts") or [] if m["destination"].rstrip("/") not in taken]
    # Docker's order: the default mounts first, then user mounts by depth, so a volume
    # at /data/x lands on top of a bind at /data.
    etc = [i for i, m in enumerate(mounts) if m["destination"] in ("/etc/resolv.conf", "/etc/hostname", "/etc/hosts")]
    n_default = etc[-1] + 1 if etc else 0
    head, user = mounts[:n_default], mounts[n_default:]
    user = sorted(user + added, key=lambda m: m["destination"].rstrip("/").count("/"))
    spec["mounts"] = head + user
    return added


def remove_hook(volumes: Any, host_config: dict[str, Any]) -> list[str]:
    """``rm -v``: the anonymous volumes of the container, removed (forced: the
    container is going)."""
    from minke.volumes.mounts import anonymous_volumes

    anon = {v.name for v in volumes.list() if v.anonymous}
    out = []
    for name in anonymous_volumes(host_config, anon):
        volumes.remove(name, force=True)
        out.append(name)
    return out
