"""Media types of the OCI image spec and Docker's image manifest v2 schema 2.

A registry, an OCI layout and a docker-archive may hand us either family; both are read,
and the helpers below treat them alike (a Docker manifest list is an index, a Docker
``rootfs.diff.tar.gzip`` is a gzip layer).
"""

from __future__ import annotations

from minke.errors import Unsupported

# --- OCI image spec ---------------------------------------------------------------------
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"

OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
# Deprecated by OCI 1.1, still found in the wild (Windows base layers).
OCI_LAYER_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDISTRIBUTABLE_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDISTRIBUTABLE_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

# The OCI image layout on disk: the "oci-layout" file and its version, the index file.
OCI_LAYOUT_FILE = "oci-layout"
OCI_LAYOUT_VERSION = "1.0.0"
OCI_LAYOUT_INDEX = "index.json"

# Well-known annotations.
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CREATED = "org.opencontainers.image.created"
ANNOTATION_CONTAINERD_IMAGE_NAME = "io.containerd.image.name"

# --- Docker image manifest v2, schema 2 ---------------------------------------------------
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
# Not in Docker's spec, but containerd and BuildKit write it for zstd layers.
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar"
DOCKER_FOREIGN_LAYER_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_PLUGIN_CONFIG = "application/vnd.docker.plugin.v1+json"

# Schema 1 is gone from Docker Hub and Docker itself; recognised only to refuse it clearly.
DOCKER_SCHEMA1_MANIFEST = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED_MANIFEST = "application/vnd.docker.distribution.manifest.v1+prettyjws"

MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})
SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1_MANIFEST, DOCKER_SCHEMA1_SIGNED_MANIFEST})

# Layer media type -> compression (None: plain tar).
_LAYER_COMPRESSION: dict[str, str | None] = {
    OCI_LAYER: None,
    OCI_LAYER_GZIP: "gzip",
    OCI_LAYER_ZSTD: "zstd",
    OCI_LAYER_NONDISTRIBUTABLE: None,
    OCI_LAYER_NONDISTRIBUTABLE_GZIP: "gzip",
    OCI_LAYER_NONDISTRIBUTABLE_ZSTD: "zstd",
    DOCKER_LAYER: None,
    DOCKER_LAYER_GZIP: "gzip",
    DOCKER_LAYER_ZSTD: "zstd",
    DOCKER_FOREIGN_LAYER: None,
    DOCKER_FOREIGN_LAYER_GZIP: "gzip",
}
LAYER_TYPES = frozenset(_LAYER_COMPRESSION)
# Layers a registry need not serve (they carry "urls" instead): skip them on push.
NONDISTRIBUTABLE_LAYER_TYPES = frozenset(
    {
        OCI_LAYER_NONDISTRIBUTABLE,
        OCI_LAYER_NONDISTRIBUTABLE_GZIP,
        OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
        DOCKER_FOREIGN_LAYER,
        DOCKER_FOREIGN_LAYER_GZIP,
    }
)

# The layer type to write for each compression, per manifest family.
_OCI_LAYER_FOR = {None: OCI_LAYER, "gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD}
_DOCKER_LAYER_FOR = {None: DOCKER_LAYER, "gzip": DOCKER_LAYER_GZIP, "zstd": DOCKER_LAYER_ZSTD}


def is_manifest(mt: str | None) -> bool:
    """True for an image manifest (OCI or Docker schema 2)."""
    return mt in MANIFEST_TYPES


def is_index(mt: str | None) -> bool:
    """True for an index / manifest list (OCI or Docker)."""
    return mt in INDEX_TYPES


def is_config(mt: str | None) -> bool:
    """True for an image config (OCI or Docker)."""
    return mt in CONFIG_TYPES


def is_layer(mt: str | None) -> bool:
    """True for a layer we can unpack (tar, gzip or zstd; OCI or Docker)."""
    return mt in _LAYER_COMPRESSION


def is_docker(mt: str | None) -> bool:
    """True for a media type of the Docker family (``application/vnd.docker.``)."""
    return isinstance(mt, str) and mt.startswith("application/vnd.docker.")


def is_nondistributable(mt: str | None) -> bool:
    """True for foreign / non-distributable layers (fetched from their ``urls``)."""
    return mt in NONDISTRIBUTABLE_LAYER_TYPES


def layer_compression(mt: str) -> str | None:
    """``"gzip"``, ``"zstd"`` or None (plain tar) for a layer media type.

    Raises Unsupported for anything that is not a known layer type (encrypted layers,
    artifacts, typos): guessing the compression would unpack garbage.
    """
    try:
        return _LAYER_COMPRESSION[mt]
    except (KeyError, TypeError):
        raise Unsupported(f"unsupported layer media type {mt!r}") from None


def layer_media_type(compression: str | None, *, docker: bool = False) -> str:
    """The layer media type for ``compression`` (None, "gzip", "zstd") in either family."""
    table = _DOCKER_LAYER_FOR if docker else _OCI_LAYER_FOR
    try:
        return table[compression]
    except KeyError:
        raise Unsupported(f"unsupported layer compression {compression!r}") from None
