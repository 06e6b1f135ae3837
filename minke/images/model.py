"""Plain data shared by the image modules: the Image record, media types, time helpers,
chain IDs.

An image is identified by the digest of its config blob ("sha256:<64 hex>"), as in Docker.
"""

from __future__ import annotations

import time

from minke.errors import CorruptData

# Media types and annotations come from minke.oci.mediatypes; re-exported for brevity.
from minke.oci.mediatypes import (
    ANNOTATION_CONTAINERD_IMAGE_NAME as ANNOTATION_IMAGE_NAME,
)
from minke.oci.mediatypes import (
    ANNOTATION_REF_NAME,
    CONFIG_TYPES,
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    INDEX_TYPES,
    LAYER_TYPES,
    MANIFEST_TYPES,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
)
from minke.record import factory, record

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing: for mypy only (its import costs a short command ~5 ms)
    from typing import Any

__all__ = [
    "ANNOTATION_IMAGE_NAME",
    "ANNOTATION_REF_NAME",
    "CONFIG_TYPES",
    "DOCKER_CONFIG",
    "DOCKER_LAYER",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "INDEX_TYPES",
    "LAYER_TYPES",
    "MANIFEST_TYPES",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_ZSTD",
    "OCI_MANIFEST",
]

# Snapshot label holding the bytes a layer unpacked to (image Size is their sum).
SIZE_LABEL = "minke.io/unpacked-size"

_HEX = frozenset("0123456789abcdef")


@record  # frozen, without dataclasses' import (minke.record)
class Image:
    """One image in the store, as the images/tags/repo_digests rows describe it."""

    id: str  # "sha256:<hex>", the config digest
    manifest_digest: str
    manifest_media_type: str
    created: str | None  # RFC 3339 from the config
    added_at: float
    size: int
    chain_id: str | None
    tags: tuple[str, ...] = ()  # normalised "docker.io/library/busybox:latest"
    repo_digests: tuple[str, ...] = ()  # "docker.io/library/busybox@sha256:..."
    extra: dict[str, Any] = factory(dict, compare=False)

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1][:12]

    @property
    def created_ts(self) -> float:
        """Unix time of the config's ``created``; the time it was stored when there is none."""
        ts = parse_time(self.created) if self.created else None
        return self.added_at if ts is None else ts


def sha256_of(data: bytes) -> str:
    from minke.sha256 import hexdigest

    return "sha256:" + hexdigest(data)


def is_digest(s: str) -> bool:
    """``sha256:`` and 64 lowercase hex digits."""
    return len(s) == 71 and s.startswith("sha256:") and _HEX.issuperset(s[7:])


def check_digest(s: Any, what: str) -> str:
    if not isinstance(s, str) or not is_digest(s):
        raise CorruptData(f"invalid digest {s!r} in {what}")
    return s


def chain_ids(diff_ids: list[str]) -> list[str]:
    """Chain IDs per the OCI image spec: c0 = d0, cN = sha256(c(N-1) + " " + dN)."""
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else sha256_of(f"{out[-1]} {d}".encode()))
    return out


def canonical_json(obj: Any) -> bytes:
    """The bytes minke writes for a JSON document it creates (stable, so digests are)."""
    import json

    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def load_json(data: bytes, what: str) -> Any:
    from minke import fastjson  # json's decoding without loading the json package

    try:
        return fastjson.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptData(f"malformed json in {what}: {e}") from None


_DIGITS = frozenset("0123456789")


def _split_time(s: str) -> tuple[str, ...] | None:
    """``YYYY-MM-DD[Tt ]hh:mm:ss[.frac][Z|z|(+|-)hh[:]mm]`` split into its 8 fields (the
    fraction and the zone None when absent), or None: by hand, not with ``re`` (with the
    enum, functools and collections it imports, ~8 ms of a `run`, which reads an
    image's creation time).  tests/unit/test_images_model_time.py holds it to the
    regular expression it replaces."""
    if len(s) < 19 or s[4] != "-" or s[7] != "-" or s[10] not in "Tt " or s[13] != ":" or s[16] != ":":
        return None
    fields = (s[0:4], s[5:7], s[8:10], s[11:13], s[14:16], s[17:19])
    if not all(_DIGITS.issuperset(f) for f in fields):
        return None
    rest = s[19:]
    frac = tz = None
    if rest.startswith("."):
        end = 1
        while end < len(rest) and rest[end] in _DIGITS:
            end += 1
        if end == 1:
            return None
        frac, rest = rest[1:end], rest[end:]
    if rest:
        if rest in ("Z", "z"):
            tz = rest
        elif rest[0] in "+-" and len(rest) in (5, 6) and _DIGITS.issuperset(rest[1:3]) and (
                _DIGITS.issuperset(rest[3:]) if len(rest) == 5 else rest[3] == ":" and _DIGITS.issuperset(rest[4:])):
            tz = rest
        else:
            return None
    return (*fields, frac, tz)


def parse_time(s: str | None) -> float | None:
    """RFC 3339 (with any number of fraction digits, as Go writes them) -> unix time."""
    if not s or not isinstance(s, str):
        return None
    m = _split_time(s.strip())
    if m is None:
        return None
    y, mo, d, h, mi, sec, frac, tz = m
    whole = _timegm(int(y), int(mo), int(d), int(h), int(mi), int(sec))
    if whole is None:
        return None
    ts = float(whole)
    if frac:
        ts += float("0." + frac)
    if tz and tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        ts -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return ts


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _timegm(y: int, mo: int, d: int, h: int, mi: int, sec: int) -> int | None:
    """Seconds since the epoch of a UTC date and time, or None where datetime would
    refuse it (no datetime import: ~2.5 ms of a run).  Days from the civil date as in
    H. Hinnant's ``days_from_civil``."""
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    if not (1 <= y <= 9999 and 1 <= mo <= 12 and h < 24 and mi < 60 and sec < 60):
        return None
    if not 1 <= d <= _MONTH_DAYS[mo - 1] + (1 if mo == 2 and leap else 0):
        return None
    yy = y - (mo <= 2)
    era = yy // 400
    yoe = yy - era * 400
    doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return days * 86400 + h * 3600 + mi * 60 + sec


def format_time(ts: float | None = None) -> str:
    """Unix time -> RFC 3339 in UTC with nanosecond digits trimmed, like Go's RFC3339Nano."""
    ts = time.time() if ts is None else ts
    # datetime.fromtimestamp(ts, UTC)'s fields without importing datetime (~2.5 ms of a
    # run): microseconds rounded half to even, carried into the seconds.
    whole = int(ts // 1)
    micro = round((ts - whole) * 1_000_000)
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    if micro:
        base += ("." + f"{micro:06d}").rstrip("0")
    return base + "Z"


def familiar_name(name: str) -> str:
    """docker.io/library/busybox -> busybox, docker.io/x/y -> x/y (Docker's FamiliarName)."""
    if name.startswith("docker.io/"):
        rest = name[len("docker.io/") :]
        if rest.startswith("library/") and "/" not in rest[len("library/") :]:
            return rest[len("library/") :]
        return rest
    return name


def split_tagged(name_tag: str) -> tuple[str, str]:
    """"docker.io/library/busybox:latest" -> ("docker.io/library/busybox", "latest")."""
    slash = name_tag.rfind("/")
    colon = name_tag.rfind(":")
    if colon > slash:
        return name_tag[:colon], name_tag[colon + 1 :]
    return name_tag, ""


def split_digested(name_digest: str) -> tuple[str, str]:
    name, _, dgst = name_digest.partition("@")
    return name, dgst


def familiar_tagged(name_tag: str) -> str:
    name, tag = split_tagged(name_tag)
    return f"{familiar_name(name)}:{tag}" if tag else familiar_name(name)


def familiar_digested(name_digest: str) -> str:
    name, dgst = split_digested(name_digest)
    return f"{familiar_name(name)}@{dgst}"


def go_json(obj: Any) -> bytes:
    """JSON as Go's encoding/json writes it: compact, UTF-8, and ``<``, ``>``, ``&``,
    U+2028, U+2029 escaped.  Configs minke creates are written like this, in the OCI Go
    types' field order with sorted map keys, because skopeo re-marshals a config that way
    when it converts an image to OCI: identical bytes keep the image ID across the copy."""
    import json

    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text.encode("utf-8")


_OCI_CONTAINER_FIELDS = (
    "User",
    "ExposedPorts",
    "Env",
    "Entrypoint",
    "Cmd",
    "Volumes",
    "WorkingDir",
    "Labels",
    "StopSignal",
    "ArgsEscaped",
)
_MAP_FIELDS = ("ExposedPorts", "Volumes", "Labels")


def oci_config_bytes(
    *,
    created: str,
    architecture: str,
    os: str,
    config: dict[str, Any],
    diff_ids: list[str],
    history: list[dict[str, Any]],
    variant: str | None = None,
    author: str | None = None,
) -> bytes:
    """An image config in the OCI Go struct's field order (see ``go_json``).  Empty
    fields are left out as Go's ``omitempty`` does; container-config keys the OCI struct
    does not have (OnBuild, Healthcheck, ...) follow in sorted order."""
    cc: dict[str, Any] = {}
    for key in _OCI_CONTAINER_FIELDS:
        value = config.get(key)
        if value:
            cc[key] = dict(sorted(value.items())) if key in _MAP_FIELDS else value
    for key in sorted(set(config) - set(_OCI_CONTAINER_FIELDS)):
        if config[key]:
            cc[key] = config[key]
    doc: dict[str, Any] = {"created": created}
    if author:
        doc["author"] = author
    doc["architecture"] = architecture
    if variant:
        doc["variant"] = variant
    doc["os"] = os
    doc["config"] = cc
    doc["rootfs"] = {"type": "layers", "diff_ids": list(diff_ids)}
    hist = []
    for h in history:
        item = {k: h[k] for k in ("created", "created_by", "author", "comment", "empty_layer") if h.get(k)}
        hist.append(item)
    doc["history"] = hist
    return go_json(doc)
