"""Platforms (``linux/arm64/v8``): parse, normalise, detect the host, pick from an index.

Semantics follow containerd's ``platforms`` package, which Docker uses:

- ``normalize`` maps aliases to the Go names (``x86_64`` -> ``amd64``, ``aarch64`` ->
  ``arm64``, ``armhf`` -> ``arm/v7``) and drops default variants (``arm64/v8`` and
  ``arm64`` are the same platform; ``arm`` with no variant is ``arm/v7``).
- ``matches(want, have)`` is containerd's ``NewMatcher(want).Match(have)``: equal after
  normalisation, and every os feature ``have`` needs is in ``want``.
- ``best_match(want, candidates)`` is containerd's ``Only(want)``: an exact match first,
  then what the host can also run (``amd64/v3`` -> ``v2``, ``v1``, ``386``; ``arm/v7`` ->
  ``v6``, ``v5``; ``arm64`` -> ``arm/v8`` .. ``arm/v5``).

Windows os.version matching is not implemented: minke runs Linux containers only, and a
Windows candidate never equals a Linux ``want``.
"""

from __future__ import annotations

import os as _os
import re
from dataclasses import dataclass, field, replace
from typing import Any

from minke.errors import InvalidArgument

_KNOWN_OS = frozenset(
    "aix android darwin dragonfly freebsd hurd illumos ios js linux nacl netbsd openbsd "
    "plan9 solaris windows zos".split()
)
_KNOWN_ARCH = frozenset(
    "386 amd64 amd64p32 arm armbe arm64 arm64be ppc64 ppc64le loong64 mips mipsle mips64 "
    "mips64le mips64p32 mips64p32le ppc riscv riscv64 s390 s390x sparc sparc64 wasm".split()
)
_OS_PART = r"[A-Za-z0-9_-]+"
_OTHER_PART = r"[A-Za-z0-9_.-]+"

# arm64 variant -> (major versions, highest minor of each) it can also run.
# A v9.x CPU runs v9.0..v9.x and v8.0..v8.(x+5) (Armv9.x is based on Armv8.(x+5)).
_ARM64_VERSIONS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    **{f"v8.{m}": ((8,), (m,)) for m in range(10)},
    "v8": ((8,), (0,)),
    "v9": ((9, 8), (0, 5)),
    **{f"v9.{m}": ((9, 8), (m, min(m + 5, 9))) for m in range(8)},
}


@dataclass(frozen=True)
class Platform:
    """An OCI platform.  ``variant`` and ``os_version`` are None when absent."""

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        """``linux/amd64``, ``linux/arm64/v8`` (containerd's Format)."""
        if not self.os:
            return "unknown"
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def to_dict(self) -> dict[str, Any]:
        """The OCI JSON form (field names ``architecture``, ``os``, ``os.version``...)."""
        d: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            d["os.version"] = self.os_version
        if self.os_features:
            d["os.features"] = list(self.os_features)
        if self.variant:
            d["variant"] = self.variant
        return d

    @classmethod
    def from_dict(cls, d: Any, *, what: str = "platform") -> Platform:
        """Read the OCI JSON form; wrong types raise InvalidArgument naming the field."""
        if not isinstance(d, dict):
            raise InvalidArgument(f"invalid {what}: expected an object")

        def text(key: str, required: bool) -> str | None:
            v = d.get(key)
            if v is None:
                if required:
                    raise InvalidArgument(f"invalid {what}: missing {key}")
                return None
            if not isinstance(v, str):
                raise InvalidArgument(f"invalid {what}: {key} must be a string")
            return v

        features = d.get("os.features")
        if features is None:
            features = []
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise InvalidArgument(f"invalid {what}: os.features must be a list of strings")
        return cls(
            os=text("os", True) or "",
            architecture=text("architecture", True) or "",
            variant=text("variant", False) or None,
            os_version=text("os.version", False) or None,
            os_features=tuple(features),
        )


def _normalize_os(os_name: str) -> str:
    if not os_name:
        return "linux"  # containerd uses runtime.GOOS; ours is always linux
    os_name = os_name.lower()
    return "darwin" if os_name == "macos" else os_name


def _normalize_arch(arch: str, variant: str) -> tuple[str, str]:
    """containerd's normalizeArch: Go names, default variants dropped."""
    arch, variant = arch.lower(), variant.lower()
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        if variant in ("8", "v8", "v8.0"):
            variant = ""
        elif variant in ("9", "9.0", "v9.0"):
            variant = "v9"
        return "arm64", variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        if variant in ("", "7"):
            variant = "v7"
        elif variant in ("5", "6", "8"):
            variant = "v" + variant
    return arch, variant


def normalize(p: Platform) -> Platform:
    """The canonical form of ``p`` (containerd's Normalize)."""
    arch, variant = _normalize_arch(p.architecture, p.variant or "")
    return Platform(
        os=_normalize_os(p.os),
        architecture=arch,
        variant=variant or None,
        os_version=p.os_version,
        os_features=tuple(sorted(set(p.os_features))),
    )


# uname -m -> (architecture, variant), for the machines Linux reports.
_UNAME_MACHINE: dict[str, tuple[str, str | None]] = {
    "x86_64": ("amd64", None),
    "amd64": ("amd64", None),
    "i386": ("386", None),
    "i486": ("386", None),
    "i586": ("386", None),
    "i686": ("386", None),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armv8l": ("arm", "v8"),
    "armv7l": ("arm", "v7"),
    "armv7": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "armv5tel": ("arm", "v5"),
    "armv5tejl": ("arm", "v5"),
    "ppc64le": ("ppc64le", None),
    "ppc64": ("ppc64", None),
    "s390x": ("s390x", None),
    "riscv64": ("riscv64", None),
    "loongarch64": ("loong64", None),
    "mips64": ("mips64", None),
}


def host_platform(machine: str | None = None) -> Platform:
    """The platform of this host, from ``uname -m`` (or ``machine`` when given).

    arm64 hosts report variant ``v8``, as Docker's default platform does; an unknown
    machine name is used as the architecture unchanged.
    """
    if machine is None:
        machine = _os.uname().machine
    arch, variant = _UNAME_MACHINE.get(machine.lower(), (machine.lower(), None))
    return Platform(os="linux", architecture=arch, variant=variant)


def parse_platform(s: str) -> Platform:
    """Parse ``os[/arch[/variant]]`` (or a bare ``arch``) as containerd's Parse does.

    ``linux`` alone means the host's architecture; ``arm64`` alone means linux/arm64.
    Raises InvalidArgument naming the bad part.
    """
    if not isinstance(s, str) or not s:
        raise InvalidArgument("invalid platform \"\": must be os[/arch[/variant]]")
    if "*" in s:
        raise InvalidArgument(f'invalid platform "{s}": wildcards are not supported')
    parts = s.split("/")
    if len(parts) > 3:
        raise InvalidArgument(f'invalid platform "{s}": must be os[/arch[/variant]]')
    if re.fullmatch(_OS_PART, parts[0]) is None:
        raise InvalidArgument(f'invalid platform "{s}": bad os "{parts[0]}"')
    for part in parts[1:]:
        if re.fullmatch(_OTHER_PART, part) is None:
            raise InvalidArgument(f'invalid platform "{s}": bad component "{part}"')
    os_name = _normalize_os(parts[0])
    if len(parts) == 1:
        if os_name in _KNOWN_OS:
            host = host_platform()
            variant = host.variant
            # containerd leaves out arm's default variant, and arm64's v8 in this form.
            if host.architecture in ("arm64",) or (host.architecture, variant) == ("arm", "v7"):
                variant = None
            return Platform(os=os_name, architecture=host.architecture, variant=variant)
        arch, variant = _normalize_arch(parts[0], "")
        if arch == "arm" and variant == "v7":
            variant = ""
        if arch in _KNOWN_ARCH:
            return Platform(os="linux", architecture=arch, variant=variant or None)
        raise InvalidArgument(f'invalid platform "{s}": unknown operating system or architecture')
    if len(parts) == 2:
        arch, variant = _normalize_arch(parts[1], "")
        if arch == "arm" and variant == "v7":
            variant = ""
        return Platform(os=os_name, architecture=arch, variant=variant or None)
    arch, variant = _normalize_arch(parts[1], parts[2])
    if arch == "arm64" and not variant:
        variant = "v8"
    return Platform(os=os_name, architecture=arch, variant=variant or None)


def matches(want: Platform, have: Platform) -> bool:
    """True when ``have`` is the platform ``want`` asks for (containerd's NewMatcher).

    Both are normalised first, so ``linux/arm64/v8`` matches ``linux/arm64`` and
    ``linux/arm`` matches ``linux/arm/v7``.  ``have``'s os features must all be in
    ``want``'s.
    """
    w, h = normalize(want), normalize(have)
    if (w.os, w.architecture, w.variant) != (h.os, h.architecture, h.variant):
        return False
    return set(h.os_features) <= set(w.os_features)


def _vector(p: Platform) -> list[Platform]:
    """What a host of platform ``p`` runs, best first (containerd's platformVector)."""
    vector = [p]
    variant = p.variant or ""
    if p.architecture == "amd64":
        level = _version_number(variant)
        if level is not None and level > 1:
            vector += [replace(p, variant=f"v{n}") for n in range(level - 1, 0, -1)]
        vector.append(replace(p, architecture="386", variant=None))
    elif p.architecture == "arm":
        level = _version_number(variant)
        if level is not None and level > 5:
            vector += [replace(p, variant=f"v{n}") for n in range(level - 1, 4, -1)]
    elif p.architecture == "arm64":
        variant = variant or "v8"
        vector = []
        versions = _ARM64_VERSIONS.get(variant)
        if versions is not None:
            for major, top in zip(*versions, strict=True):
                for minor in range(top, -1, -1):
                    v = f"v{major}" if minor == 0 else f"v{major}.{minor}"
                    vector.append(replace(p, variant=v))
        if variant.startswith(("v8", "v9")):
            variant = "v8"
        vector += _vector(replace(p, architecture="arm", variant=variant))
    return vector


def _version_number(variant: str) -> int | None:
    digits = variant[1:] if variant.startswith("v") else variant
    return int(digits) if digits.isdigit() else None


def best_match(want: Platform, candidates: list[Platform] | tuple[Platform, ...]) -> int | None:
    """Index of the candidate ``want`` should use, or None when none can run.

    Exact matches win, then the compatible fallbacks in containerd's order; among equals
    the first candidate wins (an index lists its preferred entry first).
    """
    vector = _vector(normalize(want))
    best: tuple[int, int] | None = None  # (rank in vector, -number of os features)
    best_index: int | None = None
    for i, candidate in enumerate(candidates):
        for rank, wanted in enumerate(vector):
            if matches(wanted, candidate):
                key = (rank, -len(candidate.os_features))
                if best is None or key < best:
                    best, best_index = key, i
                break
    return best_index


def compatible(want: Platform, have: Platform) -> bool:
    """True when a ``want`` host can run ``have`` (exactly or by a fallback)."""
    return best_match(want, [have]) is not None
