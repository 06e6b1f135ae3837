"""hello-whale: the built-in first image, made by minke itself with no network.

Its rootfs is one file, ``/hello``: a tiny static executable for the host's architecture
(``minke.images.whale_elf.build_elf``) that explains image vs container and greets by the
container's hostname.  Everything that goes into the image is fixed (tar headers, created
time, JSON key order), so the image ID is the same on every machine of one architecture.

Resolving ``hello-whale`` (``hello-whale``, ``hello-whale:latest``,
``docker.io/library/hello-whale:latest``, ...) when it is missing builds it and tags it
``docker.io/library/hello-whale:latest``, the way ``docker run hello-world`` pulls.
"""

from __future__ import annotations

import io
from typing import Any

from minke.images.model import OCI_LAYER, OCI_MANIFEST, oci_config_bytes, parse_time, sha256_of

NAME = "docker.io/library/hello-whale:latest"
CREATED = "2026-01-01T00:00:00Z"
_MTIME = int(parse_time(CREATED) or 0)
DESCRIPTION = (
    "An image is the application packaged to run; a container is a running instance of it."
)


def rootfs_tar(elf: bytes) -> bytes:
    """The layer: a deterministic tar holding /hello (0755, root-owned, fixed mtime)."""
    buf = io.BytesIO()
    import tarfile  # only when the image is built: resolving the name stays light

    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("hello")
        info.size = len(elf)
        info.mode = 0o755
        info.mtime = _MTIME
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        tar.addfile(info, io.BytesIO(elf))
    return buf.getvalue()


def image_config(arch: str, diff_id: str) -> bytes:
    return oci_config_bytes(
        created=CREATED,
        architecture=arch,
        os="linux",
        config={
            "Cmd": ["/hello"],
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Labels": {
                "org.opencontainers.image.title": "hello-whale",
                "org.opencontainers.image.description": DESCRIPTION,
                "org.opencontainers.image.vendor": "minke",
            },
        },
        diff_ids=[diff_id],
        history=[
            {
                "created": CREATED,
                "created_by": "COPY hello /hello # minke built-in",
                "comment": "hello-whale, built by minke",
            },
            {"created": CREATED, "created_by": 'CMD ["/hello"]', "empty_layer": True},
        ],
    )


def ensure_hello_whale(service: Any) -> str:
    """Build and store hello-whale for the host architecture; return its image ID."""
    from minke.images.importer import build_manifest
    from minke.images.staging import staging
    from minke.images.unpack import LayerRef
    from minke.images.whale_elf import build_elf, host_arch

    arch = host_arch()
    layer = rootfs_tar(build_elf(arch))
    diff_id = sha256_of(layer)
    config = image_config(arch, diff_id)
    with staging(service) as st:
        st.put(layer)
        _, sizes = st.unpack([LayerRef(diff_id, diff_id)])
        config_digest = st.put(config)
        manifest = build_manifest(config_digest, len(config), [(OCI_LAYER, diff_id, len(layer))])
        st.put(manifest)
        image_id, _ = service.store_image(
            config_bytes=config,
            manifest_bytes=manifest,
            manifest_media_type=OCI_MANIFEST,
            layers=[(diff_id, diff_id, OCI_LAYER, len(layer))],
            chain_id=diff_id,
            size=sum(sizes),
            tags=[NAME],
        )
    return image_id
