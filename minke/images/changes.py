"""``--change`` instructions (``import -c``, later ``commit -c``): Dockerfile syntax applied
to an image config's ``config`` object.

Supported, as Docker's import accepts them: CMD, ENTRYPOINT (JSON exec form or shell form,
which becomes ``["/bin/sh", "-c", ...]``), ENV (``k=v ...`` or the legacy ``k v``), LABEL,
WORKDIR (relative paths join the previous one), USER, EXPOSE (``80``, ``53/udp``,
``8000-8002``), VOLUME (JSON or words), STOPSIGNAL, ONBUILD.  HEALTHCHECK is refused with
Unsupported.  ``$VAR`` substitution is not done (values are taken literally).
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

from minke.errors import InvalidArgument, Unsupported

VALID = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")


def split_words(s: str) -> list[str]:
    """Split like Dockerfile words: whitespace separates, quotes group, backslash escapes."""
    words: list[str] = []
    cur: list[str] = []
    have = False
    quote = ""
    i = 0
    while i < len(s):
        c = s[i]
        if quote:
            if c == quote:
                quote = ""
            elif c == "\\" and quote == '"' and i + 1 < len(s):
                i += 1
                cur.append(s[i])
            else:
                cur.append(c)
        elif c in "\"'":
            quote = c
            have = True
        elif c == "\\" and i + 1 < len(s):
            i += 1
            cur.append(s[i])
            have = True
        elif c.isspace():
            if have or cur:
                words.append("".join(cur))
            cur, have = [], False
        else:
            cur.append(c)
            have = True
        i += 1
    if quote:
        raise InvalidArgument(f"unmatched quote in {s!r}")
    if have or cur:
        words.append("".join(cur))
    return words


def _json_list(rest: str) -> list[str] | None:
    rest = rest.strip()
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _command(rest: str) -> list[str]:
    form = _json_list(rest)
    if form is not None:
        return form
    return ["/bin/sh", "-c", rest.strip()]


def _pairs(instr: str, rest: str) -> list[tuple[str, str]]:
    words = split_words(rest)
    if not words:
        raise InvalidArgument(f"{instr} requires at least one argument")
    if "=" not in words[0]:
        if instr == "LABEL" or len(words) < 2:
            raise InvalidArgument(f"{instr} must have two arguments: {rest.strip()!r}")
        # Legacy "ENV key value with spaces": the value is the rest of the line.
        key = words[0]
        value = rest.strip()[len(rest.strip().split(None, 1)[0]) :].strip()
        return [(key, " ".join(split_words(value)))]
    out = []
    for w in words:
        key, sep, value = w.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"{instr} names must be key=value: {w!r}")
        out.append((key, value))
    return out


def _ports(rest: str) -> list[str]:
    out = []
    for w in split_words(rest):
        port, _, proto = w.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise InvalidArgument(f"invalid proto: {proto}")
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", port)
        if not m:
            raise InvalidArgument(f"invalid containerPort: {port}")
        lo = int(m.group(1))
        hi = int(m.group(2) or lo)
        if hi < lo or hi > 65535:
            raise InvalidArgument(f"invalid range specified for container port: {port}")
        out.extend(f"{p}/{proto}" for p in range(lo, hi + 1))
    return out


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """Return a copy of the image ``config`` object with each change applied in order."""
    cfg = json.loads(json.dumps(config or {}))
    for change in changes:
        line = change.strip()
        if not line:
            continue
        parts = line.split(None, 1)
        instr = parts[0].upper()
        rest = parts[1] if len(parts) > 1 else ""
        if instr == "HEALTHCHECK":
            raise Unsupported("HEALTHCHECK is not supported in --change")
        if instr not in VALID:
            raise InvalidArgument(f"{parts[0].lower()} is not a valid change command")
        if not rest.strip():
            raise InvalidArgument(f"{instr} requires at least one argument")
        if instr == "CMD":
            cfg["Cmd"] = _command(rest)
        elif instr == "ENTRYPOINT":
            cfg["Entrypoint"] = _command(rest)
            # Docker: setting ENTRYPOINT resets a CMD set by an earlier image.
        elif instr == "ENV":
            env = list(cfg.get("Env") or [])
            for key, value in _pairs(instr, rest):
                env = [e for e in env if e.split("=", 1)[0] != key]
                env.append(f"{key}={value}")
            cfg["Env"] = env
        elif instr == "LABEL":
            labels = dict(cfg.get("Labels") or {})
            for key, value in _pairs(instr, rest):
                labels[key] = value
            cfg["Labels"] = labels
        elif instr == "WORKDIR":
            words = split_words(rest)
            path = words[0] if len(words) == 1 else rest.strip()
            base = cfg.get("WorkingDir") or "/"
            cfg["WorkingDir"] = posixpath.normpath(posixpath.join(base, path))
        elif instr == "USER":
            words = split_words(rest)
            if len(words) != 1:
                raise InvalidArgument("USER requires exactly one argument")
            cfg["User"] = words[0]
        elif instr == "EXPOSE":
            ports = dict(cfg.get("ExposedPorts") or {})
            for p in _ports(rest):
                ports[p] = {}
            cfg["ExposedPorts"] = ports
        elif instr == "VOLUME":
            vols = dict(cfg.get("Volumes") or {})
            form = _json_list(rest)
            for v in form if form is not None else split_words(rest):
                if not v.strip():
                    raise InvalidArgument("VOLUME specified can not be an empty string")
                vols[v] = {}
            cfg["Volumes"] = vols
        elif instr == "STOPSIGNAL":
            words = split_words(rest)
            if len(words) != 1:
                raise InvalidArgument("STOPSIGNAL requires exactly one argument")
            cfg["StopSignal"] = words[0]
        elif instr == "ONBUILD":
            cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [rest.strip()]
    return cfg
