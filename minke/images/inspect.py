"""Docker's ``image inspect`` document and ``history`` items for an image."""

from __future__ import annotations

import os
from typing import Any

from minke.errors import MinkeError
from minke.images.model import (
    Image,
    chain_ids,
    familiar_digested,
    familiar_tagged,
    format_time,
    parse_time,
)
from minke.images.unpack import snapshot_size

ZERO_TIME = "0001-01-01T00:00:00Z"

# The image's "Config" as Docker shows it: the container Config struct, null when unset.
_CONFIG_FIELDS: list[tuple[str, Any, bool]] = [
    # (field, default, omit when empty)
    ("Hostname", "", False),
    ("Domainname", "", False),
    ("User", "", False),
    ("AttachStdin", False, False),
    ("AttachStdout", False, False),
    ("AttachStderr", False, False),
    ("ExposedPorts", None, True),
    ("Tty", False, False),
    ("OpenStdin", False, False),
    ("StdinOnce", False, False),
    ("Env", None, False),
    ("Cmd", None, False),
    ("Healthcheck", None, True),
    ("ArgsEscaped", None, True),
    ("Image", "", False),
    ("Volumes", None, False),
    ("WorkingDir", "", False),
    ("Entrypoint", None, False),
    ("NetworkDisabled", None, True),
    ("MacAddress", None, True),
    ("OnBuild", None, False),
    ("Labels", None, False),
    ("StopSignal", None, True),
    ("StopTimeout", None, True),
    ("Shell", None, True),
]


def docker_config(cfg: dict[str, Any] | None) -> dict[str, Any]:
    cfg = cfg if isinstance(cfg, dict) else {}
    out: dict[str, Any] = {}
    for name, default, omit in _CONFIG_FIELDS:
        value = cfg.get(name, default)
        if omit and not value:
            continue
        out[name] = value
    return out


def _graph_driver(service: Any, image: Image) -> dict[str, Any]:
    """Where the image's layers live, named like Docker's drivers: overlay layers as
    overlay2's LowerDir/UpperDir (top layer upper, the rest lower, nearest first); a
    native (copy) snapshot as vfs's one full directory."""
    snaps = service.snapshots
    kind = getattr(snaps, "name", "") or type(snaps).__name__.lower()
    name = {"overlay": "overlay2", "native": "vfs"}.get(kind, kind)
    data: dict[str, str] | None = None
    chain = getattr(snaps, "chain", None)
    if image.chain_id and chain is not None and hasattr(snaps, "dir"):
        try:
            infos = chain(image.chain_id)
        except MinkeError:
            infos = []
        if infos:
            top = snaps.dir(infos[0].id)
            data = {}
            if kind == "overlay" and len(infos) > 1:
                data["LowerDir"] = ":".join(os.path.join(snaps.dir(i.id), "fs") for i in infos[1:])
            data["UpperDir"] = os.path.join(top, "fs")
            if kind == "overlay":
                data["WorkDir"] = os.path.join(top, "work")
    return {"Data": data, "Name": name}


def inspect_image(service: Any, image: Image) -> dict[str, Any]:
    cfg = service.image_config(image.id)
    rootfs = cfg.get("rootfs") if isinstance(cfg.get("rootfs"), dict) else {}
    diff_ids = [d for d in (rootfs.get("diff_ids") or []) if isinstance(d, str)]
    row = service.db.query_one("SELECT max(tagged_at) AS t FROM tags WHERE image_id = ?", (image.id,))
    last_tag = row["t"] if row is not None else None
    doc: dict[str, Any] = {
        "Id": image.id,
        "RepoTags": [familiar_tagged(t) for t in image.tags],
        "RepoDigests": [familiar_digested(d) for d in image.repo_digests],
        "Parent": cfg.get("parent") or "",
        "Comment": cfg.get("comment") or "",
        "Created": cfg.get("created") or ZERO_TIME,
        "DockerVersion": cfg.get("docker_version") or "",
        "Author": cfg.get("author") or "",
        "Config": docker_config(cfg.get("config")),
        "Architecture": cfg.get("architecture") or "",
    }
    if cfg.get("variant"):
        doc["Variant"] = cfg["variant"]
    doc["Os"] = cfg.get("os") or ""
    if cfg.get("os.version"):
        doc["OsVersion"] = cfg["os.version"]
    doc["Size"] = image.size
    doc["GraphDriver"] = _graph_driver(service, image)
    doc["RootFS"] = {"Type": rootfs.get("type") or "layers", "Layers": diff_ids}
    doc["Metadata"] = {"LastTagTime": format_time(last_tag) if last_tag else ZERO_TIME}
    return doc


def image_history(service: Any, image: Image) -> list[dict[str, Any]]:
    """Docker's history items, newest first: Id ("<missing>" below the top), Created
    (unix seconds), CreatedBy, Tags, Size, Comment."""
    cfg = service.image_config(image.id)
    rootfs = cfg.get("rootfs") if isinstance(cfg.get("rootfs"), dict) else {}
    diff_ids = [d for d in (rootfs.get("diff_ids") or []) if isinstance(d, str)]
    chains = chain_ids(diff_ids)
    items: list[dict[str, Any]] = []
    layer = 0
    for h in cfg.get("history") or []:
        if not isinstance(h, dict):
            continue
        size = 0
        if not h.get("empty_layer"):
            if layer < len(chains):
                try:
                    size = snapshot_size(service.snapshots, chains[layer])
                except MinkeError:
                    size = 0
            layer += 1
        created = parse_time(h.get("created"))
        items.append(
            {
                "Id": "<missing>",
                "Created": int(created) if created is not None else 0,
                "CreatedBy": h.get("created_by") or "",
                "Tags": None,
                "Size": size,
                "Comment": h.get("comment") or "",
            }
        )
    items.reverse()
    if items:
        items[0]["Id"] = image.id
        items[0]["Tags"] = [familiar_tagged(t) for t in image.tags] or None
    return items
