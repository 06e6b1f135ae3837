"""``Descriptor``: what points at a blob (media type, digest, size, and optional extras).

The JSON form uses the OCI field names and, for blobs minke writes, the field order of
the OCI Go types (mediaType, digest, size, urls, annotations, data, platform,
artifactType), so our manifests look like everyone else's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from minke.errors import InvalidArgument
from minke.oci.digest import digest_error
from minke.oci.platform import Platform


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor.  ``annotations``/``platform``/``urls`` are None when absent.

    ``data`` is the OCI 1.1 embedded base64 payload, kept only so it survives a round trip.
    """

    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] | None = None
    platform: Platform | None = None
    urls: tuple[str, ...] | None = None
    artifact_type: str | None = None
    data: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The OCI JSON object."""
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.urls:
            d["urls"] = list(self.urls)
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        if self.data is not None:
            d["data"] = self.data
        if self.platform is not None:
            d["platform"] = self.platform.to_dict()
        if self.artifact_type:
            d["artifactType"] = self.artifact_type
        return d

    @classmethod
    def from_dict(cls, d: Any, *, what: str = "descriptor") -> Descriptor:
        """Read a descriptor object; a missing or mistyped field raises InvalidArgument
        naming it (``invalid descriptor: size must be a non-negative integer``).

        ``what`` names the descriptor in messages (``layers[2]``, ``config``).
        """
        if not isinstance(d, dict):
            raise InvalidArgument(f"invalid {what}: expected an object")
        media_type = d.get("mediaType")
        if not isinstance(media_type, str) or not media_type:
            raise InvalidArgument(f"invalid {what}: mediaType must be a non-empty string")
        digest = d.get("digest")
        if not isinstance(digest, str):
            raise InvalidArgument(f"invalid {what}: digest must be a string")
        problem = digest_error(digest)
        if problem is not None:
            raise InvalidArgument(f"invalid {what}: digest {digest!r}: {problem}")
        size = d.get("size")
        # bool is an int in Python; JSON true is not a size.
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidArgument(f"invalid {what}: size must be a non-negative integer")
        annotations = d.get("annotations")
        if annotations is not None:
            annotations = string_map(annotations, f"{what}: annotations")
        urls = d.get("urls")
        if urls is not None:
            if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
                raise InvalidArgument(f"invalid {what}: urls must be a list of strings")
            urls = tuple(urls)
        platform = d.get("platform")
        if platform is not None:
            platform = Platform.from_dict(platform, what=f"{what}: platform")
        artifact_type = d.get("artifactType")
        if artifact_type is not None and not isinstance(artifact_type, str):
            raise InvalidArgument(f"invalid {what}: artifactType must be a string")
        data = d.get("data")
        if data is not None and not isinstance(data, str):
            raise InvalidArgument(f"invalid {what}: data must be a string")
        return cls(
            media_type=media_type,
            digest=digest,
            size=size,
            annotations=annotations,
            platform=platform,
            urls=urls,
            artifact_type=artifact_type or None,
            data=data,
        )


def string_map(value: Any, what: str) -> dict[str, str]:
    """``value`` checked to be a JSON object of strings to strings (annotations, labels)."""
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidArgument(f"invalid {what}: must be an object of strings")
    return dict(value)
