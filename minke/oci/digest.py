"""Content digests: ``algorithm:hex``, as OCI and Docker use them.

Only the algorithms the OCI image spec registers are accepted: ``sha256`` (64 hex chars)
and ``sha512`` (128 hex chars), lowercase hex only.  Anything else is refused rather than
guessed at, because a digest is how we know bytes are the bytes we asked for.

``hashlib`` is imported inside the functions that hash: ``minke.oci.reference`` imports
this module to check digests in references and must stay cheap to import.
"""

from __future__ import annotations

from minke.errors import InvalidArgument

# Hex length of each supported algorithm's encoded value.
ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}

# go-digest's grammar for a whole digest, used to tell "malformed" from "unsupported".
# Compiled on first use (re caches it), not at import.
_DIGEST_PATTERN = r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+"
_LOWER_HEX = frozenset("0123456789abcdef")


def digest_error(s: str) -> str | None:
    """Why ``s`` is not a valid digest, in go-digest's words, or None when it is valid.

    The messages are go-digest's (``invalid checksum digest format``, ``... length``,
    ``unsupported digest algorithm``) because Docker shows them for bad references.
    """
    i = s.find(":")
    if i <= 0 or i + 1 == len(s):
        return "invalid checksum digest format"
    algorithm, encoded = s[:i], s[i + 1 :]
    want = ALGORITHMS.get(algorithm)
    if want is None:
        import re  # only here: with what it imports, ~8 ms of a short command

        if re.fullmatch(_DIGEST_PATTERN, s) is None:
            return "invalid checksum digest format"
        return "unsupported digest algorithm"
    if len(encoded) != want:
        return "invalid checksum digest length"
    if not _LOWER_HEX.issuperset(encoded):
        return "invalid checksum digest format"
    return None


def validate_digest(s: str) -> str:
    """Return ``s`` if it is a valid ``sha256:``/``sha512:`` digest, else raise.

    Raises InvalidArgument("invalid digest <s>: <reason>").
    """
    if not isinstance(s, str):
        raise InvalidArgument(f"invalid digest {s!r}: not a string")
    problem = digest_error(s)
    if problem is not None:
        reason = problem.replace("invalid checksum digest ", "bad ")
        raise InvalidArgument(f"invalid digest {s!r}: {reason}")
    return s


def is_digest(s: str) -> bool:
    """True when ``s`` is a valid supported digest."""
    return isinstance(s, str) and digest_error(s) is None


def sha256_digest(data: bytes) -> str:
    """The ``sha256:<hex>`` digest of ``data``."""
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def hex_of(digest: str) -> str:
    """The hex part of a valid digest (``sha256:abc...`` -> ``abc...``)."""
    return validate_digest(digest).split(":", 1)[1]


def algorithm_of(digest: str) -> str:
    """The algorithm part of a valid digest (``sha256``)."""
    return validate_digest(digest).split(":", 1)[0]


def short_id(digest_or_id: str) -> str:
    """The 12-hex-char short form Docker prints for an image or container id.

    Accepts a full digest (``sha256:<hex>``) or a bare 64-hex id.
    """
    if isinstance(digest_or_id, str) and len(digest_or_id) == 64 and _LOWER_HEX.issuperset(digest_or_id):
        return digest_or_id[:12]
    return hex_of(digest_or_id)[:12]


class Digester:
    """Incremental digest of a stream: ``update(chunk)`` as bytes arrive, then ``.digest``.

    Also counts the bytes seen (``.size``), since a blob is checked against both.
    """

    __slots__ = ("_algorithm", "_hash", "size")

    def __init__(self, algorithm: str = "sha256") -> None:
        import hashlib

        if algorithm not in ALGORITHMS:
            raise InvalidArgument(f"unsupported digest algorithm {algorithm!r}")
        self._algorithm = algorithm
        self._hash = hashlib.new(algorithm)
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Feed the next chunk of the stream."""
        self._hash.update(data)
        self.size += len(data)

    @property
    def algorithm(self) -> str:
        return self._algorithm

    @property
    def hexdigest(self) -> str:
        """The hex digest of everything fed so far."""
        return self._hash.hexdigest()

    @property
    def digest(self) -> str:
        """``<algorithm>:<hex>`` of everything fed so far (the stream may continue)."""
        return f"{self._algorithm}:{self._hash.hexdigest()}"
