"""Turning what a user typed into an image, the way Docker's daemon does (GetImage):

1. a 64-hex ID or a ``sha256:<64 hex>`` digest is an image ID;
2. otherwise the string is a reference: ``name[:tag]`` (``latest`` when no tag) is looked
   up in the tags table, ``name@sha256:...`` in repo_digests;
3. a string that did not resolve as a name and is hex (optionally ``sha256:``-prefixed)
   is an ID prefix of at least one character; a prefix matching several images is an
   error rather than a guess.

Not found -> NotFound("No such image: busybox:latest"), Docker's words.
"""

from __future__ import annotations

from minke.errors import InvalidArgument, NotFound
from minke.oci.reference import DEFAULT_TAG, Reference, parse_any_reference
from minke.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing: for mypy only (a short command's import time)
    from typing import Any

_HEX = frozenset("0123456789abcdef")

HELLO_WHALE_NAME = "docker.io/library/hello-whale"


@record  # frozen, without dataclasses' import (minke.record)
class Query:
    """A parsed user string: either an image ID (digest) or a reference."""

    text: str
    id: str | None = None  # "sha256:..." when the string was a full ID
    ref: Reference | None = None  # normalised name; tag "latest" added when neither given

    @property
    def not_found(self) -> NotFound:
        if self.ref is not None:
            return NotFound(f"No such image: {self.ref.familiar()}")
        return NotFound(f"No such image: {self.id or self.text}")

    @property
    def is_hello_whale(self) -> bool:
        r = self.ref
        return r is not None and r.name == HELLO_WHALE_NAME and not r.digest and r.tag == DEFAULT_TAG


def parse_query(text: str) -> Query:
    """Parse what a user typed; InvalidReference with Docker's message when it is neither."""
    if not isinstance(text, str) or not text:
        raise InvalidArgument("invalid reference format: empty image reference")
    parsed = parse_any_reference(text)
    if isinstance(parsed, str):
        return Query(text, id=parsed)
    ref = parsed
    if not ref.tag and not ref.digest:
        ref = Reference(ref.domain, ref.path, DEFAULT_TAG)
    return Query(text, ref=ref)


def id_prefix(text: str) -> str | None:
    """The hex an ID prefix search would use, or None when ``text`` cannot be one."""
    hexpart = text[len("sha256:") :] if text.startswith("sha256:") else text
    if 0 < len(hexpart) <= 64 and _HEX.issuperset(hexpart):
        return hexpart
    return None


def lookup_id(db: Any, q: Query) -> str | None:
    """The image ID ``q`` names, or None.  Raises on an ambiguous ID prefix."""
    if q.id is not None:
        row = db.query_one("SELECT id FROM images WHERE id = ?", (q.id,))
        return row["id"] if row else None
    ref = q.ref
    assert ref is not None
    if ref.digest:
        row = db.query_one(
            "SELECT image_id FROM repo_digests WHERE name = ?", (f"{ref.name}@{ref.digest}",)
        )
    else:
        row = db.query_one("SELECT image_id FROM tags WHERE name = ?", (f"{ref.name}:{ref.tag}",))
    if row:
        return row["image_id"]
    return None


def lookup_prefix(db: Any, text: str) -> str | None:
    hexpart = id_prefix(text)
    if hexpart is None:
        return None
    rows = db.query(
        "SELECT id FROM images WHERE id >= ? AND id < ? ORDER BY id LIMIT 2",
        (f"sha256:{hexpart}", f"sha256:{hexpart}\x7f"),
    )
    if len(rows) > 1:
        raise InvalidArgument(f"ambiguous image id prefix {text!r}: it matches more than one image")
    return rows[0]["id"] if rows else None


def is_id_prefix(image_id: str, text: str) -> bool:
    """Docker's isImageIDPrefix: the user named the image by (a prefix of) its ID."""
    return image_id.startswith(text) or image_id.split(":", 1)[-1].startswith(text)
