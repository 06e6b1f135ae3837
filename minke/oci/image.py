"""Image manifests, indexes and configs, in both the OCI and Docker schema 2 forms.

Parsing is strict about shape (wrong JSON types raise InvalidArgument naming the field;
an unknown or schema 1 media type raises Unsupported) and lenient about extras (unknown
fields are allowed; an image config keeps its whole JSON in ``raw`` so they survive).

Bytes and digests: a blob's digest is over the bytes we were given.  Never re-encode a
manifest or config that came from elsewhere to digest it; keep the original bytes.
``canonical_bytes()`` is only for blobs minke itself creates.  It is compact JSON
(``separators=(",", ":")``), UTF-8 (no ``\\u`` escapes of non-ASCII), fields in the order
of the OCI Go types (what docker, containerd and skopeo emit), map keys (labels,
annotations, env order) as given, not sorted.  The same object always gives the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from minke.errors import InvalidArgument, Unsupported
from minke.oci import mediatypes as mt
from minke.oci.descriptor import Descriptor, string_map
from minke.oci.digest import digest_error
from minke.oci.platform import Platform, best_match


def _load(data: bytes | bytearray | str, what: str) -> dict[str, Any]:
    """Decode a JSON object, or raise InvalidArgument("invalid <what>: ...")."""
    try:
        # Decode ourselves: json.loads would also accept UTF-16/32; OCI JSON is UTF-8.
        text = bytes(data).decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        doc = json.loads(text)
    except UnicodeDecodeError:
        raise InvalidArgument(f"invalid {what}: not utf-8 text") from None
    except (json.JSONDecodeError, TypeError) as e:
        msg = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
        raise InvalidArgument(f"invalid {what}: malformed json: {msg.lower()}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"invalid {what}: expected a json object")
    return doc


def _dumps(d: dict[str, Any]) -> bytes:
    return json.dumps(d, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _check_schema_version(doc: dict[str, Any], what: str) -> None:
    version = doc.get("schemaVersion")
    if version == 1 and not isinstance(version, bool):
        raise Unsupported(f"unsupported {what}: docker schema 1 manifests are not supported")
    if version != 2 or isinstance(version, bool):
        raise InvalidArgument(f"invalid {what}: schemaVersion must be 2")


def _optional_str(doc: dict[str, Any], key: str, what: str) -> str | None:
    v = doc.get(key)
    if v is not None and not isinstance(v, str):
        raise InvalidArgument(f"invalid {what}: {key} must be a string")
    return v


def _descriptors(value: Any, key: str, what: str) -> tuple[Descriptor, ...]:
    if not isinstance(value, list):
        raise InvalidArgument(f"invalid {what}: {key} must be a list")
    return tuple(
        Descriptor.from_dict(item, what=f"{what}: {key}[{i}]") for i, item in enumerate(value)
    )


def _media_type(doc: dict[str, Any], hint: str | None, what: str) -> str | None:
    """The document's mediaType field, else the hint (e.g. a registry's Content-Type)."""
    value = doc.get("mediaType")
    if value is not None and not isinstance(value, str):
        raise InvalidArgument(f"invalid {what}: mediaType must be a string")
    return value or hint


@dataclass(frozen=True)
class Manifest:
    """An image manifest: one config and its layers (OCI or Docker schema 2).

    Build with keywords: ``Manifest(config=..., layers=(...), media_type=...)``.
    """

    config: Descriptor
    layers: tuple[Descriptor, ...] = ()
    media_type: str = mt.OCI_MANIFEST
    schema_version: int = 2
    annotations: dict[str, str] | None = None
    subject: Descriptor | None = None
    artifact_type: str | None = None

    @classmethod
    def from_json(cls, data: bytes | str, media_type_hint: str | None = None) -> Manifest:
        """Parse manifest JSON.  An OCI manifest may omit mediaType (then the hint, else
        OCI is assumed).  Raises InvalidArgument or Unsupported."""
        return cls._from_doc(_load(data, "manifest"), media_type_hint)

    @classmethod
    def _from_doc(cls, doc: dict[str, Any], hint: str | None) -> Manifest:
        what = "manifest"
        media_type = _media_type(doc, hint, what) or mt.OCI_MANIFEST
        if media_type in mt.SCHEMA1_TYPES:
            raise Unsupported(f"unsupported {what}: docker schema 1 manifests are not supported")
        if mt.is_index(media_type):
            raise InvalidArgument(f"invalid {what}: {media_type} is an index, not a manifest")
        if not mt.is_manifest(media_type):
            raise Unsupported(f"unsupported manifest media type {media_type!r}")
        _check_schema_version(doc, what)
        if "config" not in doc:
            raise InvalidArgument(f"invalid {what}: missing config")
        config = Descriptor.from_dict(doc["config"], what=f"{what}: config")
        if "layers" not in doc:
            raise InvalidArgument(f"invalid {what}: missing layers")
        layers = _descriptors(doc["layers"], "layers", what)
        annotations = doc.get("annotations")
        if annotations is not None:
            annotations = string_map(annotations, f"{what}: annotations")
        subject = doc.get("subject")
        if subject is not None:
            subject = Descriptor.from_dict(subject, what=f"{what}: subject")
        return cls(
            config=config,
            layers=layers,
            media_type=media_type,
            annotations=annotations,
            subject=subject,
            artifact_type=_optional_str(doc, "artifactType", what),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (OCI field order; mediaType always written)."""
        d: dict[str, Any] = {"schemaVersion": self.schema_version, "mediaType": self.media_type}
        if self.artifact_type:
            d["artifactType"] = self.artifact_type
        d["config"] = self.config.to_dict()
        d["layers"] = [layer.to_dict() for layer in self.layers]
        if self.subject is not None:
            d["subject"] = self.subject.to_dict()
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        return d

    def canonical_bytes(self) -> bytes:
        """The bytes minke writes (and digests) for a manifest it creates."""
        return _dumps(self.to_dict())

    @property
    def is_docker(self) -> bool:
        return self.media_type == mt.DOCKER_MANIFEST


@dataclass(frozen=True)
class Index:
    """An image index / Docker manifest list: manifests for several platforms."""

    manifests: tuple[Descriptor, ...] = ()
    media_type: str = mt.OCI_INDEX
    schema_version: int = 2
    annotations: dict[str, str] | None = None
    subject: Descriptor | None = None
    artifact_type: str | None = None

    @classmethod
    def from_json(cls, data: bytes | str, media_type_hint: str | None = None) -> Index:
        """Parse index JSON.  Raises InvalidArgument or Unsupported."""
        return cls._from_doc(_load(data, "index"), media_type_hint)

    @classmethod
    def _from_doc(cls, doc: dict[str, Any], hint: str | None) -> Index:
        what = "index"
        media_type = _media_type(doc, hint, what) or mt.OCI_INDEX
        if mt.is_manifest(media_type):
            raise InvalidArgument(f"invalid {what}: {media_type} is a manifest, not an index")
        if not mt.is_index(media_type):
            raise Unsupported(f"unsupported index media type {media_type!r}")
        _check_schema_version(doc, what)
        if "manifests" not in doc:
            raise InvalidArgument(f"invalid {what}: missing manifests")
        manifests = _descriptors(doc["manifests"], "manifests", what)
        annotations = doc.get("annotations")
        if annotations is not None:
            annotations = string_map(annotations, f"{what}: annotations")
        subject = doc.get("subject")
        if subject is not None:
            subject = Descriptor.from_dict(subject, what=f"{what}: subject")
        return cls(
            manifests=manifests,
            media_type=media_type,
            annotations=annotations,
            subject=subject,
            artifact_type=_optional_str(doc, "artifactType", what),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (OCI field order; mediaType always written)."""
        d: dict[str, Any] = {"schemaVersion": self.schema_version, "mediaType": self.media_type}
        if self.artifact_type:
            d["artifactType"] = self.artifact_type
        d["manifests"] = [m.to_dict() for m in self.manifests]
        if self.subject is not None:
            d["subject"] = self.subject.to_dict()
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        return d

    def canonical_bytes(self) -> bytes:
        """The bytes minke writes (and digests) for an index it creates."""
        return _dumps(self.to_dict())

    def select(self, want: Platform) -> Descriptor | None:
        """The entry to use on platform ``want``, as containerd picks it: the best
        platform match (see ``platform.best_match``), else the first entry that names no
        platform, else None.  Attestations (``unknown/unknown``) never match."""
        with_platform = [d for d in self.manifests if d.platform is not None]
        i = best_match(want, [d.platform for d in with_platform if d.platform is not None])
        if i is not None:
            return with_platform[i]
        for d in self.manifests:
            if d.platform is None and (mt.is_manifest(d.media_type) or mt.is_index(d.media_type)):
                return d
        return None


def parse_any(data: bytes | str, media_type_hint: str | None = None) -> Manifest | Index:
    """Parse a manifest or an index, telling which from the mediaType field, else the
    hint, else the shape (``manifests`` means an index, ``config`` a manifest)."""
    doc = _load(data, "manifest")
    media_type = _media_type(doc, media_type_hint, "manifest")
    if media_type is None:
        if doc.get("schemaVersion") == 1:
            raise Unsupported("unsupported manifest: docker schema 1 manifests are not supported")
        if "manifests" in doc:
            return Index._from_doc(doc, mt.OCI_INDEX)
        if "config" in doc:
            return Manifest._from_doc(doc, mt.OCI_MANIFEST)
        raise InvalidArgument("invalid manifest: neither a manifest nor an index")
    if mt.is_index(media_type):
        return Index._from_doc(doc, media_type_hint)
    if mt.is_manifest(media_type) or media_type in mt.SCHEMA1_TYPES:
        return Manifest._from_doc(doc, media_type_hint)
    raise Unsupported(f"unsupported manifest media type {media_type!r}")


# --- image config -------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    """One ``history`` entry of an image config (``docker history`` rows)."""

    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool = False

    @classmethod
    def from_dict(cls, d: Any, what: str = "history entry") -> History:
        if not isinstance(d, dict):
            raise InvalidArgument(f"invalid {what}: expected an object")
        empty = d.get("empty_layer", False)
        if empty is None:
            empty = False
        if not isinstance(empty, bool):
            raise InvalidArgument(f"invalid {what}: empty_layer must be a boolean")
        return cls(
            created=_optional_str(d, "created", what),
            created_by=_optional_str(d, "created_by", what),
            author=_optional_str(d, "author", what),
            comment=_optional_str(d, "comment", what),
            empty_layer=empty,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object; empty fields are left out (Go's omitempty)."""
        d: dict[str, Any] = {}
        if self.created:
            d["created"] = self.created
        if self.author:
            d["author"] = self.author
        if self.created_by:
            d["created_by"] = self.created_by
        if self.comment:
            d["comment"] = self.comment
        if self.empty_layer:
            d["empty_layer"] = True
        return d


# Fields of the container config ("config") whose type we check, and how.
_STR_FIELDS = ("User", "WorkingDir", "StopSignal", "Hostname", "Domainname", "Image")
_STR_LIST_FIELDS = ("Env", "OnBuild", "Shell")
_COMMAND_FIELDS = ("Entrypoint", "Cmd")  # Docker also accepts a bare string (StrSlice)
_OBJECT_FIELDS = ("ExposedPorts", "Volumes", "Healthcheck")
_CONFIG_KEYS = (
    "created",
    "author",
    "architecture",
    "variant",
    "os",
    "os.version",
    "os.features",
    "config",
    "rootfs",
    "history",
)


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _check_container_config(c: Any, what: str) -> dict[str, Any]:
    if c is None:
        return {}
    if not isinstance(c, dict):
        raise InvalidArgument(f"invalid {what}: config must be an object")
    for key in _STR_FIELDS:
        if c.get(key) is not None and not isinstance(c[key], str):
            raise InvalidArgument(f"invalid {what}: config.{key} must be a string")
    for key in _STR_LIST_FIELDS:
        if c.get(key) is not None and not _is_str_list(c[key]):
            raise InvalidArgument(f"invalid {what}: config.{key} must be a list of strings")
    for key in _COMMAND_FIELDS:
        v = c.get(key)
        if v is not None and not isinstance(v, str) and not _is_str_list(v):
            raise InvalidArgument(f"invalid {what}: config.{key} must be a list of strings")
    for key in _OBJECT_FIELDS:
        if c.get(key) is not None and not isinstance(c[key], dict):
            raise InvalidArgument(f"invalid {what}: config.{key} must be an object")
    if c.get("Labels") is not None:
        string_map(c["Labels"], f"{what}: config.Labels")
    health = c.get("Healthcheck")
    if health and health.get("Test") is not None and not _is_str_list(health["Test"]):
        raise InvalidArgument(f"invalid {what}: config.Healthcheck.Test must be a list of strings")
    return c


def _command(v: Any) -> tuple[str, ...] | None:
    if v is None:
        return None
    if isinstance(v, str):
        return (v,)
    return tuple(v)


@dataclass(frozen=True)
class ImageConfig:
    """An image config (OCI ``application/vnd.oci.image.config.v1+json`` or Docker's).

    ``config`` is the container config as a dict with Docker's keys (User, Env,
    Entrypoint, Cmd, WorkingDir, Labels, ExposedPorts, Volumes, StopSignal, Healthcheck,
    ...); the properties below read it with defaults.  ``raw`` is the whole parsed JSON:
    ``to_dict`` starts from the fields and adds back every key of ``raw`` it does not
    manage (``container_config``, ``docker_version``, ...).  Treat the dicts as read-only;
    use ``dataclasses.replace`` to change a field.
    """

    created: str | None = None
    author: str | None = None
    architecture: str = ""
    os: str = ""
    variant: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    diff_ids: tuple[str, ...] = ()
    history: tuple[History, ...] = ()
    os_version: str | None = None
    os_features: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: bytes | str) -> ImageConfig:
        """Parse config JSON.  Raises InvalidArgument naming the bad field.

        ``architecture`` and ``os`` may be missing (old or hand-made images); they read
        as ``""``.  ``rootfs`` is required and must be of type ``layers``.
        """
        what = "image config"
        doc = _load(data, what)
        architecture = _optional_str(doc, "architecture", what) or ""
        os_name = _optional_str(doc, "os", what) or ""
        features = doc.get("os.features")
        if features is not None and not _is_str_list(features):
            raise InvalidArgument(f"invalid {what}: os.features must be a list of strings")
        config = _check_container_config(doc.get("config"), what)
        rootfs = doc.get("rootfs")
        if not isinstance(rootfs, dict):
            raise InvalidArgument(f"invalid {what}: missing rootfs")
        if rootfs.get("type") != "layers":
            raise InvalidArgument(f"invalid {what}: rootfs.type must be \"layers\"")
        diff_ids = rootfs.get("diff_ids")
        if diff_ids is None:
            diff_ids = []
        if not _is_str_list(diff_ids):
            raise InvalidArgument(f"invalid {what}: rootfs.diff_ids must be a list of strings")
        for i, d in enumerate(diff_ids):
            problem = digest_error(d)
            if problem is not None:
                raise InvalidArgument(f"invalid {what}: rootfs.diff_ids[{i}] {d!r}: {problem}")
        history = doc.get("history")
        if history is None:
            history = []
        if not isinstance(history, list):
            raise InvalidArgument(f"invalid {what}: history must be a list")
        return cls(
            created=_optional_str(doc, "created", what),
            author=_optional_str(doc, "author", what),
            architecture=architecture,
            os=os_name,
            variant=_optional_str(doc, "variant", what) or None,
            config=config,
            diff_ids=tuple(diff_ids),
            history=tuple(
                History.from_dict(h, f"{what}: history[{i}]") for i, h in enumerate(history)
            ),
            os_version=_optional_str(doc, "os.version", what) or None,
            os_features=tuple(features or ()),
            raw=doc,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: managed fields in OCI order, then the rest of ``raw``."""
        raw = self.raw
        d: dict[str, Any] = {}
        if self.created is not None:
            d["created"] = self.created
        if self.author is not None:
            d["author"] = self.author
        d["architecture"] = self.architecture
        if self.variant:
            d["variant"] = self.variant
        d["os"] = self.os
        if self.os_version:
            d["os.version"] = self.os_version
        if self.os_features:
            d["os.features"] = list(self.os_features)
        if self.config:
            d["config"] = self.config
        elif "config" in raw:
            # Keep an input's null or {} as it was.
            d["config"] = raw["config"] if not raw["config"] else {}
        d["rootfs"] = {"type": "layers", "diff_ids": list(self.diff_ids)}
        if self.history or "history" in raw:
            d["history"] = [h.to_dict() for h in self.history]
        for key, value in raw.items():
            if key not in _CONFIG_KEYS:
                d[key] = value
        return d

    def canonical_bytes(self) -> bytes:
        """The bytes minke writes (and digests: the image id) for a config it creates."""
        return _dumps(self.to_dict())

    # --- the container config, read with Docker's defaults ---------------------------
    @property
    def platform(self) -> Platform:
        return Platform(
            os=self.os,
            architecture=self.architecture,
            variant=self.variant,
            os_version=self.os_version,
            os_features=self.os_features,
        )

    @property
    def env(self) -> tuple[str, ...]:
        return tuple(self.config.get("Env") or ())

    @property
    def entrypoint(self) -> tuple[str, ...] | None:
        return _command(self.config.get("Entrypoint"))

    @property
    def cmd(self) -> tuple[str, ...] | None:
        return _command(self.config.get("Cmd"))

    @property
    def user(self) -> str:
        return self.config.get("User") or ""

    @property
    def working_dir(self) -> str:
        return self.config.get("WorkingDir") or ""

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.config.get("Labels") or {})

    @property
    def exposed_ports(self) -> tuple[str, ...]:
        """``("80/tcp", "53/udp")`` in the config's order."""
        return tuple(self.config.get("ExposedPorts") or ())

    @property
    def volumes(self) -> tuple[str, ...]:
        return tuple(self.config.get("Volumes") or ())

    @property
    def stop_signal(self) -> str | None:
        return self.config.get("StopSignal") or None

    @property
    def healthcheck(self) -> dict[str, Any] | None:
        return self.config.get("Healthcheck") or None
