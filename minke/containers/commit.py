"""A container's filesystem changes: ``diff`` (A/C/D), ``commit`` (a new image whose top
layer is the container's overlay upperdir) and ``export`` (the whole merged root as a tar).

The changes are read from the overlay upperdir the snapshotter mounted for the container:
a 0/0 character device there is a whiteout (D), a path also present in a lower layer is
changed (C), else added (A).  Mount points the runtime created for the container's own
mounts (/etc/hosts, /dev/..., volumes) are left out, as Docker's init layer hides them.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from typing import IO, Any

from minke.errors import Unsupported


def overlay_dirs(svc: Any, c: Any) -> tuple[str, list[str]]:
    """(upperdir, lowerdirs) of the container's snapshot."""
    ms = svc.snapshots.mounts(c.snapshot_key)
    if not ms or ms[0].type != "overlay":
        raise Unsupported(f"container {c.id} has no overlay upper layer: diff and commit need the overlay snapshotter")
    opts = dict(o.split("=", 1) for o in ms[0].options if "=" in o)
    lowers = [d for d in opts.get("lowerdir", "").split(":") if d]
    return opts["upperdir"], lowers


def _mount_points(svc: Any, c: Any) -> set[str]:
    try:
        with open(os.path.join(svc.run_dir(c.id), "config.json")) as f:
            spec = json.load(f)
    except (OSError, ValueError):
        spec = {}
    pts = {"/" + m["destination"].strip("/") for m in spec.get("mounts") or [] if m.get("destination")}
    pts |= {"/" + (m.get("Target") or "").strip("/") for m in c.host_config.get("Mounts") or []}
    pts |= {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/dev", "/proc", "/sys", "/dev/shm", "/dev/pts", "/dev/mqueue"}
    return pts


def changes(svc: Any, c: Any) -> list[tuple[str, str]]:
    """Docker's (kind, path) list, sorted by path: kind A added, C changed, D deleted."""
    upper, lowers = overlay_dirs(svc, c)
    hidden = _mount_points(svc, c)
    out: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(upper):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            host = os.path.join(dirpath, name)
            rel = "/" + os.path.relpath(host, upper)
            if rel in hidden or any(rel.startswith(p + "/") for p in hidden if p in ("/dev", "/proc", "/sys")):
                continue
            st = os.lstat(host)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out.append(("D", rel))
                continue
            in_lower = any(os.path.lexists(os.path.join(low, rel.lstrip("/"))) for low in lowers)
            if in_lower and stat.S_ISDIR(st.st_mode):
                # A directory only holding hidden mount points is not a change.
                own = [n for n in os.listdir(host) if os.path.join(rel, n) not in hidden]
                if not own and rel not in ("/",):
                    try:
                        opaque = os.getxattr(host, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
                    except OSError:
                        opaque = False
                    if not opaque:
                        continue
            out.append(("C" if in_lower else "A", rel))
    return sorted(out, key=lambda t: t[1])


def export(svc: Any, ref: str, out: IO[bytes]) -> None:
    """The container's whole filesystem as a tar (its image layers and its changes)."""
    from minke.archive.create import write_tar
    from minke.containers.copy import mounted_root

    c = svc.get(ref)
    with mounted_root(svc, c) as root:
        write_tar(root, out)
    svc._event("export", c)


def commit(svc: Any, ref: str, repo: str | None, *, changes_: list[str] = (), message: str = "",
           author: str = "", pause: bool = True) -> str:
    """A new image: the container's image plus one layer of its changes; the config is the
    container's, with ``-c`` changes applied; history gets an entry for the commit."""
    from minke.archive.create import write_diff
    from minke.containers.exec import pause as pause_c
    from minke.containers.exec import unpause as unpause_c
    from minke.containers.state import Status
    from minke.images.changes import apply_changes
    from minke.images.importer import build_manifest, host_arch
    from minke.images.model import OCI_LAYER, OCI_MANIFEST, format_time, oci_config_bytes
    from minke.images.staging import staging
    from minke.images.unpack import LayerRef

    c = svc.get(ref)
    images = svc.images
    tag = images.normalise_tag(repo) if repo else None
    config = apply_changes({k: v for k, v in c.config.items() if k not in ("Hostname", "Domainname", "Image")}, list(changes_))
    upper, _ = overlay_dirs(svc, c)
    base = images.get(c.image_id)
    base_cfg = images.image_config(base.id)
    manifest = images.manifest(base)
    layers = [(d, m["digest"], m["mediaType"], m["size"]) for d, m in zip(base_cfg["rootfs"]["diff_ids"], manifest["layers"], strict=True)]
    paused = False
    if pause and c.status is Status.RUNNING:
        pause_c(svc, c.id)
        paused = True
    try:
        with staging(images) as st, tempfile.TemporaryFile() as buf:
            write_diff(upper, buf)
            buf.seek(0)
            diff_id, size = st.ingest(buf)
            layers.append((diff_id, diff_id, OCI_LAYER, size))
            chain, sizes = st.unpack([LayerRef(lay[0], lay[1]) for lay in layers])
            now = format_time()
            arch, variant = host_arch()
            entry: dict[str, Any] = {"created": now, "created_by": " ".join(c.command)}
            if author:
                entry["author"] = author
            if message:
                entry["comment"] = message
            config_bytes = oci_config_bytes(
                created=now, architecture=arch, variant=variant, os="linux", config=config,
                diff_ids=[lay[0] for lay in layers], history=list(base_cfg.get("history") or []) + [entry],
                author=author or None,
            )
            digest = st.put(config_bytes)
            man = build_manifest(digest, len(config_bytes), [(lay[2], lay[1], lay[3]) for lay in layers])
            st.put(man)
            image_id, _ = images.store_image(
                config_bytes=config_bytes, manifest_bytes=man, manifest_media_type=OCI_MANIFEST,
                layers=list(layers), chain_id=chain, size=sum(sizes), tags=[tag] if tag else [],
            )
    finally:
        if paused:
            unpause_c(svc, c.id)
    svc._event("commit", c, comment=message, imageID=str(image_id), imageRef=tag or "")
    return str(image_id)
