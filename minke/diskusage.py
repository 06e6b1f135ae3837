"""What the store holds on disk, as Docker's ``GET /system/df`` tells it (``minke system df``).

Sizes are measured on disk: a layer is its snapshot's directory (regular files' bytes,
each inode once), counted once however many images share it; a container is its writable
layer; a volume its directory.  An image's ``SharedSize`` is what it shares with other
images, its ``Size`` all its layers.
"""

from __future__ import annotations

from typing import Any

ACTIVE_STATES = ("running", "paused", "restarting")


def disk_usage(engine: Any) -> dict[str, Any]:
    """Docker's /system/df body: LayersSize, Images, Containers, Volumes.  BuildCache is
    None: the build cache (its steps' layer blobs) is not measured yet."""
    snaps = engine.snapshots
    parent: dict[str, str | None] = {}
    for info in snaps.walk():
        if info.kind == "committed":
            parent[info.key] = info.parent
    sizes: dict[str, int] = {}

    def layer_size(key: str) -> int:
        if key not in sizes:
            try:
                sizes[key] = int(snaps.usage(key))
            except Exception:  # noqa: BLE001 - a layer gone meanwhile counts nothing
                sizes[key] = 0
        return sizes[key]

    def chain(key: str | None) -> list[str]:
        out = []
        while key and key in parent and key not in out:
            out.append(key)
            key = parent[key]
        return out

    containers = engine.containers.list(all=True)
    users: dict[str, int] = {}
    for c in containers:
        users[c.image_id] = users.get(c.image_id, 0) + 1
    images = engine.images.list(all=True)
    chains = {i.id: chain(i.chain_id) for i in images}
    holders: dict[str, int] = {}
    for keys in chains.values():
        for k in keys:
            holders[k] = holders.get(k, 0) + 1
    out_images = []
    for i in images:
        keys = chains[i.id]
        out_images.append({
            "Id": i.id,
            "ParentId": "",
            "RepoTags": list(i.tags),
            "RepoDigests": list(i.repo_digests),
            "Created": int(i.created_ts),
            "Size": sum(layer_size(k) for k in keys),
            "SharedSize": sum(layer_size(k) for k in keys if holders[k] > 1),
            "VirtualSize": sum(layer_size(k) for k in keys),
            "Labels": {},
            "Containers": users.get(i.id, 0),
        })
    layers = set(holders)
    out_containers = []
    for c in containers:
        try:
            rw = int(engine.containers.usage(c.id))
        except Exception:  # noqa: BLE001 - its layer gone meanwhile
            rw = 0
        out_containers.append({
            "Id": c.id,
            "Names": ["/" + c.name],
            "Image": c.image_ref,
            "ImageID": c.image_id,
            "Created": int(c.created),
            "State": str(c.status),
            "SizeRw": rw,
            "SizeRootFs": rw + sum(layer_size(k) for k in chains.get(c.image_id, [])),
        })
    out_volumes = []
    for v in engine.volumes.list():
        info = engine.volumes.inspect(v.name)
        info["UsageData"] = {"Size": engine.volumes.size(v.name), "RefCount": len(engine.volumes.users(v.name))}
        out_volumes.append(info)
    return {
        "LayersSize": sum(layer_size(k) for k in layers),
        "Images": out_images,
        "Containers": out_containers,
        "Volumes": out_volumes,
        "BuildCache": None,
    }


def summary(df: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of ``docker system df`` but its Build Cache (not measured yet): Type,
    TotalCount, Active, Size, Reclaimable in bytes, ``Percent`` of Size the reclaimable
    part is (None when Size is 0)."""
    total = df["LayersSize"]
    used = 0
    active = 0
    for i in df["Images"]:
        if i["Containers"]:
            active += 1
            used += i["Size"] - i["SharedSize"]
    # As Docker's formatter counts it: all layers, less what the images in use hold
    # alone (a layer they share with another image counts as reclaimable).
    rows = [_row("Images", len(df["Images"]), active, total, max(total - used, 0))]
    rw = sum(c["SizeRw"] for c in df["Containers"])
    idle = sum(c["SizeRw"] for c in df["Containers"] if c["State"] not in ACTIVE_STATES)
    rows.append(_row("Containers", len(df["Containers"]),
                     sum(1 for c in df["Containers"] if c["State"] in ACTIVE_STATES), rw, idle))
    vsize = sum(v["UsageData"]["Size"] for v in df["Volumes"])
    vidle = sum(v["UsageData"]["Size"] for v in df["Volumes"] if not v["UsageData"]["RefCount"])
    rows.append(_row("Local Volumes", len(df["Volumes"]),
                     sum(1 for v in df["Volumes"] if v["UsageData"]["RefCount"]), vsize, vidle))
    return rows


def _row(kind: str, count: int, active: int, size: int, reclaimable: int) -> dict[str, Any]:
    return {"Type": kind, "TotalCount": count, "Active": active, "Size": size, "Reclaimable": reclaimable,
            "Percent": (reclaimable * 100 // size) if size > 0 else None}
