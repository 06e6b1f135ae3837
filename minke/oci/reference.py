"""Image references, parsed and normalised exactly as Docker does.

This follows the grammar of Docker's ``distribution/reference`` (``regexp.go``) and the
behaviour of its ``ParseNormalizedNamed`` + ``TagNameOnly``::

    busybox                 -> docker.io/library/busybox:latest
    user/app:1.0            -> docker.io/user/app:1.0
    index.docker.io/x/y     -> docker.io/x/y:latest
    localhost:5000/x@sha256:<hex>   (no tag is added when a digest is given)

Grammar (from distribution/reference)::

    reference   := name [ ":" tag ] [ "@" digest ]
    name        := [domain "/"] remote-name
    domain      := host [":" port-number]
    host        := domain-name | IPv4 | "[" IPv6 "]"
    remote-name := path-component ["/" path-component]*
    path-component := [a-z0-9]+ (separator [a-z0-9]+)*
    separator   := "." | "_" | "__" | "-"+
    tag         := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}

Error messages are Docker's, word for word, so scripts that match on them keep working.
The common references (a domain, path components, a tag) are checked with str methods
(``_parse_plain``); ``re`` is imported for the rest: with the enum, functools and
collections it brings, it would cost every ``run`` ~8 ms of import.
"""

from __future__ import annotations

from minke.errors import InvalidReference
from minke.oci.digest import digest_error
from minke.record import record

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

# --- the grammar, built from the same pieces as distribution/reference's regexp.go ------
# Go's \w and [[:xdigit:]] are ASCII-only; Python's \w is not, so spell the classes out.
_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_DOMAIN_NAME_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_OPTIONAL_PORT = r"(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_NAME = _DOMAIN_NAME_COMPONENT + r"(?:\." + _DOMAIN_NAME_COMPONENT + r")*"
_HOST = r"(?:" + _DOMAIN_NAME + r"|" + _IPV6 + r")"
_DOMAIN_AND_PORT = _HOST + _OPTIONAL_PORT
_PATH_COMPONENT = _ALPHANUMERIC + r"(?:" + _SEPARATOR + _ALPHANUMERIC + r")*"
_REMOTE_NAME = _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*"

# The whole reference, with the name's domain and path captured apart.  The domain group
# is tried first and can only be the first component (it must be followed by "/"), so this
# splits the name exactly as regexp.go's anchoredNameRegexp does.
_REFERENCE = (
    r"((?:(" + _DOMAIN_AND_PORT + r")/)?(" + _REMOTE_NAME + r"))"
    r"(?::(" + _TAG + r"))?(?:@(" + _DIGEST + r"))?"
)
# Patterns are compiled on first use (re's own cache keeps them), not at import: importing
# this module for the Reference type alone should cost next to nothing.  Always fullmatch:
# Python's "$" would also match before a trailing newline.
_HEX = frozenset("0123456789abcdef")

# Docker's messages (distribution/reference and go-digest).
ERR_INVALID_FORMAT = "invalid reference format"
ERR_NAME_EMPTY = "repository name must have at least one component"
ERR_NAME_UPPERCASE = "repository name must be lowercase"
ERR_NAME_TOO_LONG = f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
ERR_TAG_FORMAT = "invalid tag format"
ERR_DIGEST_FORMAT = "invalid digest format"


@record  # frozen, without dataclasses' import (minke.record): a short command parses one
class Reference:
    """A parsed image reference: ``domain/path[:tag][@digest]``.

    ``domain`` is empty only for the odd names Docker itself leaves without one (a first
    component that looks like a host but is not valid as one, e.g. ``foo_bar.com/x``).
    """

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The repository name: ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s

    def familiar_name(self) -> str:
        """The short name Docker shows: ``busybox``, ``user/app``, ``localhost:5000/x``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        # Only strip "library/" when what remains is a single component, as Docker does.
        if path.startswith(OFFICIAL_REPO_PREFIX) and "/" not in path[len(OFFICIAL_REPO_PREFIX) :]:
            return path[len(OFFICIAL_REPO_PREFIX) :]
        return path

    def familiar(self) -> str:
        """The familiar string: ``busybox:latest``, ``busybox@sha256:...``."""
        s = self.familiar_name()
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s

    def with_tag(self, tag: str) -> Reference:
        """The same reference with ``tag`` (any digest is kept, like Docker's WithTag)."""
        if not isinstance(tag, str) or not _is_tag(tag):
            raise InvalidReference(ERR_TAG_FORMAT)
        return Reference(self.domain, self.path, tag, self.digest)

    def with_digest(self, digest: str) -> Reference:
        """The same reference with ``digest`` (any tag is kept, like Docker's WithDigest)."""
        import re

        if not isinstance(digest, str) or re.fullmatch(_DIGEST, digest) is None:
            raise InvalidReference(ERR_DIGEST_FORMAT)
        problem = digest_error(digest)
        if problem is not None:
            raise InvalidReference(problem)
        return Reference(self.domain, self.path, self.tag, digest)

    def name_only(self) -> Reference:
        """The repository with neither tag nor digest (Docker's TrimNamed)."""
        return Reference(self.domain, self.path)

    def docker_ref(self) -> Reference:
        """Docker's ParseDockerRef form: a tag+digest reference keeps only the digest;
        a bare name gets ``latest``."""
        if self.digest:
            return Reference(self.domain, self.path, None, self.digest)
        if self.tag:
            return self
        return Reference(self.domain, self.path, DEFAULT_TAG)

    @property
    def is_name_only(self) -> bool:
        return not self.tag and not self.digest


def _split_docker_domain(name: str) -> tuple[str, str]:
    """Split a familiar name into (domain, remainder) like Docker's splitDockerDomain."""
    maybe_domain, sep, maybe_remote = name.partition("/")
    if not sep:
        # A single component ("ubuntu", "ubuntu:latest") is never a host: that would make
        # "ubuntu:latest" read as host:port.
        return DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name
    if maybe_domain == "localhost":
        domain, remote = maybe_domain, maybe_remote
    elif maybe_domain == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, maybe_remote
    elif "." in maybe_domain or ":" in maybe_domain:
        domain, remote = maybe_domain, maybe_remote
    elif maybe_domain.lower() != maybe_domain:
        # Namespaces cannot be uppercase, so an uppercase first component is a host.
        domain, remote = maybe_domain, maybe_remote
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_REPO_PREFIX + remote
    return domain, remote


_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_PATH_CHARS = _LOWER_ALNUM | frozenset("._-")
_ALNUM = _LOWER_ALNUM | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HOST_CHARS = _ALNUM | frozenset("-")
_TAG_FIRST = _ALNUM | frozenset("_")
_TAG_CHARS = _TAG_FIRST | frozenset(".-")
_DIGITS = frozenset("0123456789")


def _is_tag(tag: str) -> bool:
    """``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``"""
    return 0 < len(tag) <= 128 and tag[0] in _TAG_FIRST and _TAG_CHARS.issuperset(tag)


def _is_path_component(c: str) -> bool:
    """``[a-z0-9]+ (separator [a-z0-9]+)*``, separator ``. | _ | __ | -+``."""
    if not c or not _PATH_CHARS.issuperset(c) or c[0] not in _LOWER_ALNUM or c[-1] not in _LOWER_ALNUM:
        return False
    run = ""
    for ch in c:
        if ch in _LOWER_ALNUM:
            if run and run not in (".", "_", "__") and run.strip("-"):
                return False
            run = ""
        else:
            run += ch
    return True


def _is_domain(d: str) -> bool:
    """A domain name (no IPv6: that is left to the grammar) with an optional port."""
    host, colon, port = d.partition(":")
    if colon and not (port and _DIGITS.issuperset(port)):
        return False
    for part in host.split("."):
        if not part or not _HOST_CHARS.issuperset(part) or part[0] == "-" or part[-1] == "-":
            return False
    return True


def _parse_plain(s: str) -> Reference | None:
    """``_parse`` for a reference without a digest whose first component (when there are
    more) is a plain domain: the same result, without ``re``; None for anything else
    (other forms and every error go to the grammar).  tests/unit/test_oci_reference_plain.py
    holds it to the grammar on generated references."""
    if "@" in s:
        return None
    name, tag = s, None
    colon = s.rfind(":")
    if colon > s.rfind("/"):
        name, tag = s[:colon], s[colon + 1 :]
        if not _is_tag(tag):
            return None
    parts = name.split("/")
    domain = ""
    if len(parts) > 1:
        if not _is_domain(parts[0]):
            return None
        domain = parts.pop(0)
    for part in parts:
        if not _is_path_component(part):
            return None
    path = "/".join(parts)
    if len(path) > NAME_TOTAL_LENGTH_MAX:
        return None
    return Reference(domain, path, tag)


def _parse(s: str) -> Reference:
    """Docker's reference.Parse: the strict grammar, no normalisation."""
    if not s:
        raise InvalidReference(ERR_NAME_EMPTY)
    ref = _parse_plain(s)
    if ref is not None:
        return ref
    import re

    m = re.fullmatch(_REFERENCE, s)
    if m is None:
        lower = s.lower()
        if lower != s and re.fullmatch(_REFERENCE, lower) is not None:
            raise InvalidReference(ERR_NAME_UPPERCASE)
        raise InvalidReference(ERR_INVALID_FORMAT)
    domain, path, tag, digest = m.group(2) or "", m.group(3), m.group(4), m.group(5)
    if len(path) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(ERR_NAME_TOO_LONG)
    if digest:
        problem = digest_error(digest)
        if problem is not None:
            raise InvalidReference(problem)
    return Reference(domain, path, tag or None, digest or None)


def parse_reference(s: str, *, default_tag: bool = True) -> Reference:
    """Parse a reference as the Docker CLI does (ParseNormalizedNamed, then TagNameOnly).

    With ``default_tag`` (the default) a reference with neither tag nor digest gets
    ``latest``.  Raises InvalidReference with Docker's message on bad input.
    """
    if not isinstance(s, str):
        raise InvalidReference(ERR_INVALID_FORMAT)
    if is_full_id(s):
        raise InvalidReference(
            f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_docker_domain(s)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise InvalidReference(
            f"invalid reference format: repository name ({remote}) must be lowercase"
        )
    ref = _parse(domain + "/" + remainder)
    if default_tag and ref.is_name_only:
        ref = Reference(ref.domain, ref.path, DEFAULT_TAG)
    return ref


def parse_strict(s: str) -> Reference:
    """Docker's reference.Parse: the grammar only, no ``docker.io``/``library/``/tag added.

    ``busybox`` parses with domain ``""`` and path ``busybox``.  Useful for values that
    must already be canonical (e.g. names read back from a registry).
    """
    if not isinstance(s, str):
        raise InvalidReference(ERR_INVALID_FORMAT)
    return _parse(s)


def is_full_id(s: str) -> bool:
    """True for a 64-lowercase-hex image or container id."""
    return isinstance(s, str) and len(s) == 64 and _HEX.issuperset(s)


def is_valid_short_id(s: str) -> bool:
    """True when ``s`` could be an id or an id prefix: 1 to 64 lowercase hex chars.

    Docker resolves such a string as a name first and as an id prefix second; callers
    decide the order, this only says whether the id reading is possible.
    """
    return isinstance(s, str) and 0 < len(s) <= 64 and _HEX.issuperset(s)


def parse_any_reference(s: str) -> Reference | str:
    """Docker's ParseAnyReference: a 64-hex id or a ``sha256:`` digest comes back as the
    digest string; anything else is parsed as a name (without adding a tag)."""
    if is_full_id(s):
        return "sha256:" + s
    if isinstance(s, str) and digest_error(s) is None:
        return s
    return parse_reference(s, default_tag=False)
