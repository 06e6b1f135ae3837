"""``save`` and ``load``: docker-archive and OCI image layouts.

Save
----
``docker-archive`` is what Docker 25+ writes: an OCI image layout (``oci-layout``,
``index.json``, ``blobs/sha256/...``) plus Docker's ``manifest.json``
(``[{"Config": "blobs/sha256/<hex>", "RepoTags": [...], "Layers": [...]}]``) and
``repositories``.  Layers are uncompressed tars (their digest is the diff_id): a layer the
store holds compressed is decompressed into a temp file under the root's tmp dir first,
and the image then gets a new OCI manifest for those layers.  Each tag gets an index
entry annotated ``io.containerd.image.name`` (full name) and
``org.opencontainers.image.ref.name`` (the tag), as Docker writes them.

``oci-archive`` is an OCI image layout in a tar, with the blobs as stored and the same
annotations.  A repository name with no tag (``save busybox``) saves every tag of it.
Tar headers are fixed (mtime 0, root), so saving the same images twice gives the same
bytes.

Load
----
Accepted: a docker-archive (the classic ``<id>.json`` + ``<dir>/layer.tar`` layout that
skopeo and old Docker write, or the Docker 25 layout), an OCI archive, each optionally
gzip/zstd/bzip2/xz compressed, or an OCI layout directory.  A stream is read once: every
file is copied into the blob store as it goes by (blobs named ``blobs/sha256/<hex>`` are
verified against their name), small JSON files are kept in memory.  Manifests, configs
and media types are then validated, layers unpacked (each checked against its diff_id),
and all images recorded in one transaction.  Everything runs under a lease; on any error
the blobs and snapshots this load created are removed again (staging.py), so a bad
archive leaves the store as it was.  Blobs of the archive that no loaded image uses are
not kept.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from minke.errors import (
    CorruptData,
    InvalidArgument,
    InvalidReference,
    MinkeError,
    NotFound,
    Unsupported,
)
from minke.images.model import (
    ANNOTATION_IMAGE_NAME,
    ANNOTATION_REF_NAME,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    Image,
    canonical_json,
    familiar_name,
    familiar_tagged,
    is_digest,
    sha256_of,
    split_tagged,
)
from minke.images.unpack import LayerRef

FORMATS = ("docker-archive", "oci-archive")
_JSON_MAX = 32 << 20  # metadata files are small; refuse to hold anything bigger in memory
_CHUNK = 1 << 20


# ====================================================================================
# save
# ====================================================================================
@dataclass
class _SaveItem:
    image: Image
    tags: list[str] = field(default_factory=list)  # normalised names


def _collect(service: Any, refs: list[str]) -> list[_SaveItem]:
    from minke.images.resolve import lookup_id, parse_query
    from minke.oci.reference import Reference, parse_any_reference

    items: dict[str, _SaveItem] = {}

    def add(image: Image, tag: str | None) -> None:
        item = items.setdefault(image.id, _SaveItem(image))
        if tag and tag not in item.tags:
            item.tags.append(tag)

    for text in refs:
        parsed = parse_any_reference(text)
        if isinstance(parsed, Reference) and parsed.is_name_only:
            rows = service.db.query(
                "SELECT name, image_id FROM tags WHERE name >= ? AND name < ? ORDER BY name",
                (parsed.name + ":", parsed.name + ";"),
            )
            if rows:
                for r in rows:
                    add(service._image(r["image_id"]), r["name"])
                continue
        q = parse_query(text)
        by_name = q.ref is not None and lookup_id(service.db, q) is not None
        image = service.get(text)
        tag = None
        if q.ref is not None and not q.ref.digest and (by_name or q.is_hello_whale):
            tag = f"{q.ref.name}:{q.ref.tag}"
            if tag not in image.tags:
                tag = None
        add(image, tag)
    return list(items.values())


class _TarOut:
    """Writes tar entries with fixed headers into a (possibly unseekable) stream."""

    def __init__(self, out: BinaryIO) -> None:
        self.tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)
        self.dirs: set[str] = set()

    def _info(self, name: str, size: int = 0, dir: bool = False) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size = size
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o755 if dir else 0o644
        if dir:
            info.type = tarfile.DIRTYPE
        return info

    def mkdirs(self, path: str) -> None:
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.dirs:
                self.dirs.add(d)
                self.tar.addfile(self._info(d, dir=True))

    def add_bytes(self, name: str, data: bytes) -> None:
        self.tar.addfile(self._info(name, len(data)), io.BytesIO(data))

    def add_file(self, name: str, f: BinaryIO, size: int) -> None:
        self.tar.addfile(self._info(name, size), f)

    def close(self) -> None:
        self.tar.close()


def _blob_name(digest: str) -> str:
    return "blobs/" + digest.replace(":", "/", 1)


def _layers_of(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise CorruptData("stored manifest has no layers list")
    return layers


def save(service: Any, refs: list[str], out: BinaryIO, format: str = "docker-archive") -> None:
    """Write the images ``refs`` name to ``out`` as one archive."""
    if format in ("docker", "docker-archive", ""):
        docker = True
    elif format in ("oci", "oci-archive"):
        docker = False
    else:
        raise InvalidArgument(f"invalid save format {format!r}: want docker-archive or oci-archive")
    if not refs:
        raise InvalidArgument("save needs at least one image")
    items = _collect(service, refs)
    tmp_files: list[str] = []
    try:
        plans = [_plan(service, item, docker, tmp_files) for item in items]
        _write(service, plans, out, docker)
    finally:
        for p in tmp_files:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass


@dataclass
class _Plan:
    item: _SaveItem
    manifest_bytes: bytes
    manifest_media_type: str
    config_digest: str
    # (digest in the archive, open() for its bytes, size)
    layers: list[tuple[str, Any, int]]


def _plan(service: Any, item: _SaveItem, docker: bool, tmp_files: list[str]) -> _Plan:
    from minke.archive.compression import decompressed

    image = item.image
    blobs = service.blobs
    manifest_bytes = blobs.read(image.manifest_digest)
    manifest = json.loads(manifest_bytes)
    cfg = service.image_config(image.id)
    diff_ids = list((cfg.get("rootfs") or {}).get("diff_ids") or [])
    layers = _layers_of(manifest)
    if len(layers) != len(diff_ids):
        raise CorruptData(f"image {image.id} has {len(layers)} layers but {len(diff_ids)} diff_ids")
    media_type = image.manifest_media_type
    plan_layers: list[tuple[str, Any, int]] = []
    if not docker:
        for layer in layers:
            d = layer["digest"]
            if not blobs.exists(d):
                raise NotFound(f"blob {d} of image {image.short_id} not found")
            plan_layers.append((d, lambda d=d: blobs.open(d), blobs.size(d)))
        return _Plan(item, manifest_bytes, media_type, image.id, plan_layers)
    rebuilt = False
    for layer, diff_id in zip(layers, diff_ids, strict=True):
        d = layer["digest"]
        if d == diff_id and blobs.exists(d):
            plan_layers.append((d, lambda d=d: blobs.open(d), blobs.size(d)))
            continue
        # Stored compressed: Docker's archive wants the plain tar.
        rebuilt = True
        os.makedirs(service.config.tmp_dir, mode=0o700, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix="save-layer-", dir=service.config.tmp_dir)
        tmp_files.append(path)
        import hashlib

        h = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as tmp, blobs.open(d) as src:
            plain = decompressed(src)
            while True:
                chunk = plain.read(_CHUNK)
                if not chunk:
                    break
                h.update(chunk)
                size += len(chunk)
                tmp.write(chunk)
        if "sha256:" + h.hexdigest() != diff_id:
            raise CorruptData(f"layer {d} of image {image.short_id} does not match its diff_id {diff_id}")
        plan_layers.append((diff_id, lambda path=path: open(path, "rb"), size))
    if rebuilt or media_type != OCI_MANIFEST:
        config_size = blobs.size(image.id)
        manifest_bytes = canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": image.id, "size": config_size},
                "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": s} for d, _, s in plan_layers],
            }
        )
        media_type = OCI_MANIFEST
    return _Plan(item, manifest_bytes, media_type, image.id, plan_layers)


def _write(service: Any, plans: list[_Plan], out: BinaryIO, docker: bool) -> None:
    tar = _TarOut(out)
    tar.add_bytes("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    tar.mkdirs("blobs/sha256")
    written: set[str] = set()
    index_entries: list[dict[str, Any]] = []
    docker_manifest: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    for plan in plans:
        config_bytes = service.blobs.read(plan.config_digest)
        for digest, opener, size in plan.layers:
            if digest in written:
                continue
            written.add(digest)
            with opener() as f:
                tar.add_file(_blob_name(digest), f, size)
        if plan.config_digest not in written:
            written.add(plan.config_digest)
            tar.add_bytes(_blob_name(plan.config_digest), config_bytes)
        manifest_digest = sha256_of(plan.manifest_bytes)
        if manifest_digest not in written:
            written.add(manifest_digest)
            tar.add_bytes(_blob_name(manifest_digest), plan.manifest_bytes)
        desc = {"mediaType": plan.manifest_media_type, "digest": manifest_digest, "size": len(plan.manifest_bytes)}
        if plan.item.tags:
            for t in plan.item.tags:
                _, tag = split_tagged(t)
                index_entries.append({**desc, "annotations": {ANNOTATION_IMAGE_NAME: t, ANNOTATION_REF_NAME: tag}})
        else:
            index_entries.append(desc)
        layer_names = [_blob_name(d) for d, _, _ in plan.layers]
        docker_manifest.append(
            {
                "Config": _blob_name(plan.config_digest),
                "RepoTags": [familiar_tagged(t) for t in plan.item.tags] or None,
                "Layers": layer_names,
            }
        )
        if plan.layers:
            top = plan.layers[-1][0].split(":", 1)[1]
            for t in plan.item.tags:
                name, tag = split_tagged(t)
                repositories.setdefault(familiar_name(name), {})[tag] = top
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index_entries}
    tar.add_bytes("index.json", json.dumps(index, separators=(",", ":")).encode())
    if docker:
        tar.add_bytes("manifest.json", json.dumps(docker_manifest, separators=(",", ":")).encode())
        if repositories:
            tar.add_bytes("repositories", json.dumps(repositories, separators=(",", ":")).encode())
    tar.close()


# ====================================================================================
# load
# ====================================================================================
def _clean_name(name: str) -> str:
    """An archive member name, normalised; names that would escape are refused."""
    if name.startswith("/"):
        raise CorruptData(f"invalid archive entry {name!r}: absolute path")
    n = posixpath.normpath(name) if name else ""
    if n == ".." or n.startswith("../"):
        raise CorruptData(f"invalid archive entry {name!r}: path escapes the archive")
    return "" if n == "." else n


class _Source:
    """The files of an archive: small JSON kept in memory, the rest as stored blobs."""

    def __init__(self, staging: Any) -> None:
        self.st = staging
        self.files: dict[str, bytes] = {}
        self.blobs: dict[str, tuple[str, int]] = {}
        self.links: dict[str, str] = {}

    def _resolve(self, name: str) -> str:
        seen = 0
        name = _clean_name(name)
        while name in self.links and seen < 40:
            name = self.links[name]
            seen += 1
        return name

    def has(self, name: str) -> bool:
        name = self._resolve(name)
        return name in self.files or name in self.blobs or self._exists_lazy(name)

    def _exists_lazy(self, name: str) -> bool:
        return False

    def read(self, name: str, what: str) -> bytes:
        name = self._resolve(name)
        if name in self.files:
            return self.files[name]
        if name in self.blobs:
            digest, size = self.blobs[name]
            if size > _JSON_MAX:
                raise CorruptData(f"{what} {name} is too large ({size} bytes)")
            return self.st.blobs.read(digest)
        data = self._read_lazy(name)
        if data is None:
            raise CorruptData(f"{what} {name} is missing from the archive")
        return data

    def _read_lazy(self, name: str) -> bytes | None:
        return None

    def blob(self, name: str, what: str) -> tuple[str, int]:
        """(digest, size) of a file, copied into the blob store if it is not yet."""
        name = self._resolve(name)
        if name in self.blobs:
            return self.blobs[name]
        if name in self.files:
            data = self.files[name]
            digest = self.st.put(data, _expected(name))
            self.blobs[name] = (digest, len(data))
            return self.blobs[name]
        got = self._blob_lazy(name)
        if got is None:
            raise CorruptData(f"{what} {name} is missing from the archive")
        self.blobs[name] = got
        return got

    def _blob_lazy(self, name: str) -> tuple[str, int] | None:
        return None


def _expected(name: str) -> str | None:
    """``blobs/sha256/<hex>`` must hold the bytes with that digest."""
    parts = name.split("/")
    if len(parts) == 3 and parts[0] == "blobs":
        digest = f"{parts[1]}:{parts[2]}"
        if parts[1] != "sha256":
            raise Unsupported(f"unsupported digest algorithm {parts[1]!r} in archive entry {name}")
        if not is_digest(digest):
            raise CorruptData(f"invalid archive entry {name}: not a sha256 digest")
        return digest
    return None


def _is_meta(name: str) -> bool:
    return name in ("manifest.json", "index.json", "oci-layout", "repositories") or (
        "/" not in name and name.endswith(".json")
    ) or name.endswith("/json") or name.endswith("/VERSION")


class _TarSource(_Source):
    """Reads a (maybe compressed) tar stream once, storing its files as it goes."""

    def __init__(self, staging: Any, stream: BinaryIO) -> None:
        super().__init__(staging)
        from minke.archive.compression import decompressed

        try:
            tar = tarfile.open(fileobj=decompressed(stream), mode="r|")
            for m in tar:
                self._member(tar, m)
            tar.close()
        except (tarfile.TarError, EOFError) as e:
            msg = str(e) or type(e).__name__
            raise CorruptData(f"invalid archive: {msg.lower()}") from None
        except (OSError, ValueError) as e:
            if isinstance(e, MinkeError):
                raise
            raise CorruptData(f"invalid archive: {e}") from None
        if not (self.files or self.blobs):
            raise CorruptData("invalid archive: it holds no files")

    def _member(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        name = _clean_name(m.name)
        if not name or m.isdir():
            return
        if m.issym():
            target = m.linkname
            if not target.startswith("/"):
                target = posixpath.join(posixpath.dirname(name), target)
            self.links[name] = _clean_name(target)
            return
        if m.islnk():
            self.links[name] = _clean_name(m.linkname)
            return
        if not m.isreg():
            raise CorruptData(f"invalid archive entry {m.name!r}: not a regular file")
        f = tar.extractfile(m)
        assert f is not None
        expected = _expected(name)
        if expected is None and _is_meta(name) and m.size <= _JSON_MAX:
            data = f.read()
            if len(data) != m.size:
                raise CorruptData(f"invalid archive: {name} is truncated")
            self.files[name] = data
            return
        self.blobs[name] = self.st.ingest(f, expected, m.size)


class _DirSource(_Source):
    """An OCI layout directory: files are read (and blobs stored) only when used."""

    def __init__(self, staging: Any, root: str) -> None:
        super().__init__(staging)
        self.root = os.path.realpath(root)

    def _path(self, name: str) -> str | None:
        path = os.path.realpath(os.path.join(self.root, name))
        if not path.startswith(self.root + os.sep):
            raise CorruptData(f"invalid layout entry {name!r}: path escapes the directory")
        return path if os.path.isfile(path) else None

    def _exists_lazy(self, name: str) -> bool:
        return self._path(name) is not None

    def _read_lazy(self, name: str) -> bytes | None:
        path = self._path(name)
        if path is None:
            return None
        if os.path.getsize(path) > _JSON_MAX:
            raise CorruptData(f"{name} is too large")
        with open(path, "rb") as f:
            data = f.read()
        expected = _expected(name)
        if expected is not None and sha256_of(data) != expected:
            raise CorruptData(f"blob digest mismatch: expected {expected} got {sha256_of(data)}")
        return data

    def _blob_lazy(self, name: str) -> tuple[str, int] | None:
        path = self._path(name)
        if path is None:
            return None
        with open(path, "rb") as f:
            return self.st.ingest(f, _expected(name), os.path.getsize(path))


@dataclass
class _Pending:
    config_bytes: bytes
    manifest_bytes: bytes
    manifest_media_type: str
    layers: list[tuple[str, str, str, int]]  # diff_id, blob digest, media type, size
    tags: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return sha256_of(self.config_bytes)


def _tag_of(text: str, what: str) -> str:
    from minke.oci.reference import parse_reference

    try:
        ref = parse_reference(text, default_tag=False).docker_ref()
    except InvalidReference as e:
        raise InvalidReference(f"invalid reference {text!r} in {what}: {e}") from None
    if ref.digest:
        raise InvalidReference(f"invalid reference {text!r} in {what}: digest references cannot be tags")
    return f"{ref.name}:{ref.tag}"


def _config(data: bytes, what: str) -> list[str]:
    """Validate an image config; return its diff_ids."""
    from minke.oci.image import ImageConfig

    try:
        cfg = ImageConfig.from_json(data)
    except InvalidArgument as e:
        raise CorruptData(f"{what}: {e}") from None
    return list(cfg.diff_ids)


def _sniff_layer_type(service: Any, digest: str) -> str:
    from minke.archive.compression import detect

    with service.blobs.open(digest) as f:
        head = f.read(16)
    kind = detect(head)
    if kind == "gzip":
        return OCI_LAYER_GZIP
    if kind == "zstd":
        return OCI_LAYER_ZSTD
    if kind is not None:
        raise Unsupported(f"unsupported layer compression {kind} in blob {digest}")
    return OCI_LAYER


def _oci_manifests(src: _Source, service: Any) -> Iterator[tuple[dict[str, str], str, bytes]]:
    """(annotations, media type, manifest bytes) of every image the layout's index names
    (an index inside picks the host platform)."""
    from minke.oci.image import Index
    from minke.oci.platform import host_platform

    index_bytes = src.read("index.json", "index")
    try:
        index = Index.from_json(index_bytes)
    except InvalidArgument as e:
        raise CorruptData(f"index.json: {e}") from None

    def walk(desc: Any, annotations: dict[str, str], depth: int) -> Iterator[tuple[dict[str, str], str, bytes]]:
        from minke.oci import mediatypes as mt

        if depth > 4:
            raise CorruptData("index.json: indexes nested too deep")
        name = _blob_name(desc.digest)
        if mt.is_index(desc.media_type):
            data = src.read(name, "index")
            _check_desc(desc, data, name)
            try:
                sub = Index.from_json(data, desc.media_type)
            except InvalidArgument as e:
                raise CorruptData(f"index {desc.digest}: {e}") from None
            chosen = sub.select(host_platform())
            if chosen is None:
                raise NotFound(f"no image for platform {host_platform()} in index {desc.digest}")
            yield from walk(chosen, {**(sub.annotations or {}), **annotations}, depth + 1)
        elif mt.is_manifest(desc.media_type):
            data = src.read(name, "manifest")
            _check_desc(desc, data, name)
            yield annotations, desc.media_type, data
        else:
            raise Unsupported(f"unsupported media type {desc.media_type!r} in index.json")

    for desc in index.manifests:
        yield from walk(desc, dict(desc.annotations or {}), 0)


def _check_desc(desc: Any, data: bytes, name: str) -> None:
    if sha256_of(data) != desc.digest:
        raise CorruptData(f"blob digest mismatch: expected {desc.digest} got {sha256_of(data)}")
    if len(data) != desc.size:
        raise CorruptData(f"blob size mismatch for {desc.digest}: expected {desc.size} bytes got {len(data)}")


def _from_manifest(src: _Source, service: Any, media_type: str, data: bytes, what: str) -> _Pending:
    from minke.oci import mediatypes as mt
    from minke.oci.image import Manifest

    try:
        manifest = Manifest.from_json(data, media_type)
    except InvalidArgument as e:
        raise CorruptData(f"{what}: {e}") from None
    if not mt.is_config(manifest.config.media_type):
        raise Unsupported(f"unsupported media type {manifest.config.media_type!r} for the config of {what}")
    config_name = _blob_name(manifest.config.digest)
    config_bytes = src.read(config_name, "config")
    _check_desc(manifest.config, config_bytes, config_name)
    src.blob(config_name, "config")
    diff_ids = _config(config_bytes, f"config {manifest.config.digest}")
    if len(diff_ids) != len(manifest.layers):
        raise CorruptData(
            f"{what} lists {len(manifest.layers)} layers but its config has {len(diff_ids)} diff_ids"
        )
    layers = []
    for layer, diff_id in zip(manifest.layers, diff_ids, strict=True):
        if not mt.is_layer(layer.media_type):
            raise Unsupported(f"unsupported media type {layer.media_type!r} for a layer of {what}")
        digest, size = src.blob(_blob_name(layer.digest), "layer")
        if size != layer.size:
            raise CorruptData(f"blob size mismatch for {layer.digest}: expected {layer.size} bytes got {size}")
        layers.append((diff_id, digest, layer.media_type, size))
    return _Pending(config_bytes, data, manifest.media_type, layers)


def _docker_archive(src: _Source, service: Any) -> list[_Pending]:
    raw = src.read("manifest.json", "manifest.json")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptData(f"manifest.json: malformed json: {e}") from None
    if not isinstance(doc, list) or not doc:
        raise CorruptData("manifest.json: expected a non-empty list of images")
    # Manifests of the Docker 25 layout, by config digest, to keep their digests.
    oci_by_config: dict[str, tuple[str, bytes]] = {}
    if src.has("index.json"):
        try:
            for _, media_type, data in _oci_manifests(src, service):
                cfg = json.loads(data).get("config") or {}
                if isinstance(cfg, dict) and isinstance(cfg.get("digest"), str):
                    oci_by_config.setdefault(cfg["digest"], (media_type, data))
        except (MinkeError, ValueError, AttributeError):
            oci_by_config = {}
    out: list[_Pending] = []
    for i, entry in enumerate(doc):
        what = f"manifest.json entry {i}"
        if not isinstance(entry, dict):
            raise CorruptData(f"{what}: expected an object")
        config_name = entry.get("Config")
        layer_names = entry.get("Layers")
        repo_tags = entry.get("RepoTags") or []
        if not isinstance(config_name, str) or not config_name:
            raise CorruptData(f"{what}: Config must be a file name")
        if not isinstance(layer_names, list) or not all(isinstance(x, str) for x in layer_names):
            raise CorruptData(f"{what}: Layers must be a list of file names")
        if not isinstance(repo_tags, list) or not all(isinstance(x, str) for x in repo_tags):
            raise CorruptData(f"{what}: RepoTags must be a list of names")
        config_bytes = src.read(config_name, "config")
        image_id = sha256_of(config_bytes)
        stem = posixpath.basename(config_name)
        if stem.endswith(".json") and len(stem) == 69 and image_id != "sha256:" + stem[:-5]:
            raise CorruptData(f"config {config_name} does not match its digest: got {image_id}")
        src.blob(config_name, "config")
        diff_ids = _config(config_bytes, f"config {config_name}")
        if len(diff_ids) != len(layer_names):
            raise CorruptData(f"{what} lists {len(layer_names)} layers but its config has {len(diff_ids)} diff_ids")
        layers = []
        for name, diff_id in zip(layer_names, diff_ids, strict=True):
            digest, size = src.blob(name, "layer")
            layers.append((diff_id, digest, _sniff_layer_type(service, digest), size))
        tags = [_tag_of(t, what) for t in repo_tags]
        found = oci_by_config.get(image_id)
        manifest_ok = False
        if found is not None:
            media_type, data = found
            try:
                m_layers = json.loads(data).get("layers") or []
                manifest_ok = [x.get("digest") for x in m_layers] == [d for _, d, _, _ in layers]
            except (ValueError, AttributeError):
                manifest_ok = False
        if manifest_ok and found is not None:
            media_type, manifest_bytes = found
        else:
            from minke.images.importer import build_manifest

            media_type = OCI_MANIFEST
            manifest_bytes = build_manifest(image_id, len(config_bytes), [(m, d, s) for _, d, m, s in layers])
        out.append(_Pending(config_bytes, manifest_bytes, media_type, layers, tags))
    return out


def _oci_layout(src: _Source, service: Any) -> list[_Pending]:
    if src.has("oci-layout"):
        try:
            layout = json.loads(src.read("oci-layout", "oci-layout"))
        except (ValueError, UnicodeDecodeError) as e:
            raise CorruptData(f"oci-layout: malformed json: {e}") from None
        if not isinstance(layout, dict) or not isinstance(layout.get("imageLayoutVersion"), str):
            raise CorruptData("oci-layout: imageLayoutVersion missing")
    out: list[_Pending] = []
    for annots, media_type, data in _oci_manifests(src, service):
        pending = _from_manifest(src, service, media_type, data, f"manifest {sha256_of(data)}")
        name = annots.get(ANNOTATION_IMAGE_NAME)
        ref_name = annots.get(ANNOTATION_REF_NAME)
        if name:
            pending.tags.append(_tag_of(name, "index.json"))
        elif ref_name and ("/" in ref_name or ":" in ref_name):
            # A full reference as ref.name (podman, skopeo oci:DIR:name:tag).
            try:
                pending.tags.append(_tag_of(ref_name, "index.json"))
            except InvalidReference:
                pass
        out.append(pending)
    return out


def _merge(pendings: list[_Pending]) -> list[_Pending]:
    merged: dict[str, _Pending] = {}
    for p in pendings:
        have = merged.get(p.id)
        if have is None:
            merged[p.id] = p
        else:
            have.tags.extend(t for t in p.tags if t not in have.tags)
    return list(merged.values())


def load(service: Any, source: BinaryIO | str) -> list[str]:
    """Load every image of an archive (stream or file path) or OCI layout directory."""
    from minke.images.staging import staging

    lines: list[str] = []
    with staging(service) as st:
        if isinstance(source, str):
            if os.path.isdir(source):
                src: _Source = _DirSource(st, source)
            else:
                try:
                    f = open(source, "rb")  # noqa: SIM115 - closed below
                except FileNotFoundError:
                    raise NotFound(f"open {source}: no such file or directory") from None
                with f:
                    src = _TarSource(st, f)
        else:
            src = _TarSource(st, source)
        if src.has("manifest.json"):
            pendings = _docker_archive(src, service)
        elif src.has("index.json"):
            pendings = _oci_layout(src, service)
        else:
            raise CorruptData("invalid archive: no manifest.json or index.json found")
        pendings = _merge(pendings)
        if not pendings:
            raise CorruptData("invalid archive: it names no images")
        unpacked = []
        for p in pendings:
            for d in (p.id, sha256_of(p.manifest_bytes)):
                st.lease.add_blob(d)
            st.put(p.config_bytes)
            st.put(p.manifest_bytes)
            chain, sizes = st.unpack([LayerRef(diff_id, blob) for diff_id, blob, _, _ in p.layers])
            unpacked.append((p, chain, sum(sizes)))
        results = []
        with service.db.transaction():
            for p, chain, size in unpacked:
                image_id, moved = service.store_image(
                    config_bytes=p.config_bytes,
                    manifest_bytes=p.manifest_bytes,
                    manifest_media_type=p.manifest_media_type,
                    layers=p.layers,
                    chain_id=chain,
                    size=size,
                    tags=p.tags,
                )
                results.append((p, image_id, moved))
        # Blobs of the archive no image uses (other platforms, stray files) are not kept.
        used = set()
        for p in pendings:
            used |= {p.id, sha256_of(p.manifest_bytes)} | {b for _, b, _, _ in p.layers}
        st.new_blobs = [d for d in st.new_blobs if d not in used]
        st.rollback_blobs_only()
    for p, image_id, moved in results:
        moved_from = dict(moved)
        if not p.tags:
            lines.append(f"Loaded image ID: {image_id}")
        for t in p.tags:
            if t in moved_from:
                lines.append(
                    f"The image {familiar_tagged(t)} already exists, renaming the old one with ID "
                    f"{moved_from[t]} to empty string"
                )
            lines.append(f"Loaded image: {familiar_tagged(t)}")
    return lines
