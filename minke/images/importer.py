"""``minke import``: a rootfs tar (plain or compressed, file or stdin) becomes a one-layer
image, Docker's way: the layer is the uncompressed tar (its digest is the diff_id), the
config gets the host platform, ``--change`` instructions, and one history entry whose
comment is ``-m`` or "Imported from <source>".  The image ID is printed by the CLI.
"""

from __future__ import annotations

from typing import Any, BinaryIO

from minke.errors import CorruptData
from minke.images.changes import apply_changes
from minke.images.model import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    canonical_json,
    format_time,
    oci_config_bytes,
)
from minke.images.staging import staging
from minke.images.unpack import LayerRef


def host_arch() -> tuple[str, str | None]:
    from minke.oci.platform import host_platform

    p = host_platform()
    return p.architecture, p.variant


def build_manifest(config_digest: str, config_size: int, layers: list[tuple[str, str, int]]) -> bytes:
    """An OCI manifest for a config and (media type, digest, size) layers."""
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": m, "digest": d, "size": s} for m, d, s in layers],
        }
    )


def import_rootfs(
    service: Any,
    stream: BinaryIO,
    *,
    ref: str | None,
    changes: list[str],
    message: str,
    source: str,
) -> str:
    # Everything that can be refused without reading the stream is checked first.
    tag = service.normalise_tag(ref) if ref else None
    container_config = apply_changes({}, changes)
    from minke.archive.compression import decompressed

    with staging(service) as st:
        diff_id, size = st.ingest(decompressed(stream))
        if size == 0:
            raise CorruptData(f"invalid rootfs tar {source}: the input is empty")
        _, sizes = st.unpack([LayerRef(diff_id, diff_id)])
        now = format_time()
        arch, variant = host_arch()
        comment = message or f"Imported from {source}"
        config_bytes = oci_config_bytes(
            created=now,
            architecture=arch,
            variant=variant,
            os="linux",
            config=container_config,
            diff_ids=[diff_id],
            history=[{"created": now, "comment": comment}],
        )
        config_digest = st.put(config_bytes)
        manifest = build_manifest(config_digest, len(config_bytes), [(OCI_LAYER, diff_id, size)])
        st.put(manifest)
        image_id, _ = service.store_image(
            config_bytes=config_bytes,
            manifest_bytes=manifest,
            manifest_media_type=OCI_MANIFEST,
            layers=[(diff_id, diff_id, OCI_LAYER, size)],
            chain_id=diff_id,
            size=sum(sizes),
            tags=[tag] if tag else [],
        )
    return image_id
