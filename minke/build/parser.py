"""Dockerfile parser: text in, a tuple of frozen Instructions out.  Pure, no I/O.

Follows Docker's (BuildKit's) rules: parser directives only at the very top, the escape
character ends a line to continue it, comment and empty lines inside a continuation are
dropped, JSON form only when the rest of the line is a JSON array of strings, heredocs
(``<<EOF``, ``<<-EOF``, quoted delimiters) on RUN, COPY and ADD.  Errors are
InvalidArgument with ``dockerfile:LINE: message``.
"""

from __future__ import annotations

import json
import re

from minke.build.record import record
from minke.errors import InvalidArgument

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"<<(-?)\s*(?:\"([^\"]*)\"|'([^']*)'|([a-zA-Z_][a-zA-Z0-9_]*))")

#: Every instruction of Docker's reference with the flags it accepts.
FLAGS: dict[str, frozenset[str]] = {
    "FROM": frozenset({"platform"}),
    "RUN": frozenset({"mount", "network", "security"}),
    "CMD": frozenset(),
    "LABEL": frozenset(),
    "MAINTAINER": frozenset(),
    "EXPOSE": frozenset(),
    "ENV": frozenset(),
    "ADD": frozenset({"chown", "chmod", "link", "checksum", "keep-git-dir", "exclude",
                      "from", "parents"}),
    "COPY": frozenset({"from", "chown", "chmod", "link", "parents", "exclude"}),
    "ENTRYPOINT": frozenset(),
    "VOLUME": frozenset(),
    "USER": frozenset(),
    "WORKDIR": frozenset(),
    "ARG": frozenset(),
    "ONBUILD": frozenset(),
    "STOPSIGNAL": frozenset(),
    "HEALTHCHECK": frozenset({"interval", "timeout", "start-period", "start-interval",
                              "retries"}),
    "SHELL": frozenset(),
}
_BOOL_FLAGS = frozenset({"link", "parents", "keep-git-dir"})
_HEREDOC_OK = frozenset({"RUN", "COPY", "ADD"})
_JSON_OK = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "VOLUME", "ADD", "COPY"})


@record
class Heredoc:
    """One ``<<NAME`` body: its text (with final newline) and whether $ expands in it."""

    name: str
    content: str
    expand: bool = True
    chomp: bool = False  # <<- : leading tabs were stripped


@record
class Healthcheck:
    """HEALTHCHECK settings in Docker's units (nanoseconds); test is Docker's Test list."""

    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@record
class Instruction:
    """One Dockerfile instruction.

    ``args`` are the raw words (shell form: one string, the whole rest of the line; JSON
    form: the array's strings; name=value instructions: one word per pair, quotes kept
    for the substitution step).  ``flags`` keeps order and repeats (``--mount`` twice).
    """

    cmd: str
    args: tuple[str, ...]
    line: int
    original: str
    flags: tuple[tuple[str, str | None], ...] = ()
    json: bool = False
    heredocs: tuple[Heredoc, ...] = ()
    sub: Instruction | None = None  # ONBUILD's instruction
    healthcheck: Healthcheck | None = None
    end_line: int = 0

    def flag(self, name: str, default: str | None = None) -> str | None:
        """The last value given for ``--name`` (Docker: a repeated flag's last wins)."""
        value = default
        for key, val in self.flags:
            if key == name:
                value = val if val is not None else "true"
        return value

    def flag_all(self, name: str) -> list[str]:
        return [val or "" for key, val in self.flags if key == name]


@record
class Dockerfile:
    instructions: tuple[Instruction, ...]
    directives: tuple[tuple[str, str], ...] = ()
    escape: str = "\\"

    def directive(self, name: str) -> str | None:
        for key, val in self.directives:
            if key == name:
                return val
        return None


def _err(line: int, message: str) -> InvalidArgument:
    return InvalidArgument(f"dockerfile:{line}: {message}")


def parse(text: str | bytes) -> Dockerfile:
    """Parse a whole Dockerfile."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()

    directives: list[tuple[str, str]] = []
    escape = "\\"
    i = 0
    seen: set[str] = set()
    # Directives: only leading '# key=value' lines; the first other line ends them.
    while i < len(lines):
        m = _DIRECTIVE.match(lines[i])
        if not m:
            break
        key, val = m.group(1).lower(), m.group(2)
        if key not in ("syntax", "escape", "check"):
            break  # an unknown directive is a comment, and a comment ends the directives
        if key in seen:
            raise _err(i + 1, f"only one {key} parser directive can be used")
        seen.add(key)
        if key == "escape":
            if val not in ("\\", "`"):
                raise _err(i + 1, f"invalid escape token '{val}' does not match ` or \\")
            escape = val
        directives.append((key, val))
        i += 1

    cont = re.compile(re.escape(escape) + r"[ \t]*$")
    out: list[Instruction] = []
    while i < len(lines):
        raw = lines[i]
        start = i
        i += 1
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = [raw.lstrip()]
        text_line = raw.lstrip()
        while cont.search(text_line):
            parts[-1] = cont.sub("", parts[-1])
            # Inside a continuation Docker drops comment lines and empty lines.
            while i < len(lines) and (not lines[i].strip()
                                      or lines[i].lstrip().startswith("#")):
                i += 1
            if i >= len(lines):
                break
            text_line = lines[i]
            parts.append(text_line)
            i += 1
        logical = "".join(parts)
        inst, i = _instruction(logical, start + 1, i, lines, escape)
        out.append(inst)
    return Dockerfile(tuple(out), tuple(directives), escape)


def _read_heredocs(rest: str, lineno: int, i: int, lines: list[str]
                   ) -> tuple[tuple[Heredoc, ...], int]:
    docs: list[Heredoc] = []
    for m in _HEREDOC.finditer(rest):
        chomp = m.group(1) == "-"
        quoted = m.group(4) is None
        name = m.group(2) if m.group(2) is not None else (m.group(3) if m.group(3) is not None
                                                          else m.group(4))
        if not name:
            continue
        body: list[str] = []
        while True:
            if i >= len(lines):
                raise _err(lineno, f"unterminated heredoc {name}")
            line = lines[i]
            i += 1
            check = line.lstrip("\t") if chomp else line
            if check == name:
                break
            body.append(line.lstrip("\t") if chomp else line)
        content = "".join(b + "\n" for b in body)
        docs.append(Heredoc(name, content, expand=not quoted, chomp=chomp))
    return tuple(docs), i


def _split_flags(rest: str, cmd: str, lineno: int
                 ) -> tuple[tuple[tuple[str, str | None], ...], str]:
    flags: list[tuple[str, str | None]] = []
    allowed = FLAGS[cmd]
    while True:
        rest = rest.lstrip()
        if not rest.startswith("--"):
            break
        m = re.match(r"--(\S*)", rest)
        assert m
        word = m.group(1)
        rest = rest[m.end():]
        if word == "":
            break  # '--' ends the flags
        name, eq, value = word.partition("=")
        if name not in allowed:
            raise _err(lineno, f"unknown flag: {name}")
        if not eq:
            if name not in _BOOL_FLAGS:
                raise _err(lineno, f"missing a value on flag: {name}")
            flags.append((name, None))
        else:
            if name in _BOOL_FLAGS and value.lower() not in ("true", "false"):
                raise _err(lineno, f"expecting boolean value for flag {name}, not: {value}")
            flags.append((name, _unquote_flag(value)))
    return tuple(flags), rest


def _unquote_flag(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def split_words(rest: str, escape: str = "\\") -> list[str]:
    """Docker's parseWords: split on blanks outside quotes, keeping quotes and escapes."""
    words: list[str] = []
    word: list[str] = []
    quote = ""
    j = 0
    in_word = False
    while j < len(rest):
        ch = rest[j]
        if not quote and ch in " \t\n":
            if in_word:
                words.append("".join(word))
                word = []
                in_word = False
            j += 1
            continue
        in_word = True
        if ch == escape and j + 1 < len(rest) and quote != "'":
            word.append(ch + rest[j + 1])
            j += 2
            continue
        if quote and ch == quote:
            quote = ""
        elif not quote and ch in "\"'":
            quote = ch
        word.append(ch)
        j += 1
    if in_word:
        words.append("".join(word))
    return words


def _json_array(rest: str) -> list[str] | None:
    s = rest.strip()
    if not s.startswith("["):
        return None
    try:
        value = json.loads(s)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return value


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
          "m": 60_000_000_000, "h": 3_600_000_000_000}


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration for non-negative values, in nanoseconds."""
    if text == "0":
        return 0
    pos = 0
    total = 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise InvalidArgument(f"time: invalid duration \"{text}\"")
    return int(total)


def _instruction(logical: str, lineno: int, i: int, lines: list[str], escape: str
                 ) -> tuple[Instruction, int]:
    m = re.match(r"(\S+)\s*(.*)$", logical, re.S)
    assert m
    word, rest = m.group(1), m.group(2)
    cmd = word.upper()
    if cmd not in FLAGS:
        raise _err(lineno, f"unknown instruction: {word}")
    return _build(cmd, rest, logical, lineno, i, lines, escape, nested=False)


def _build(cmd: str, rest: str, logical: str, lineno: int, i: int, lines: list[str],
           escape: str, nested: bool) -> tuple[Instruction, int]:
    flags, rest = _split_flags(rest, cmd, lineno)
    rest = rest.strip()
    heredocs: tuple[Heredoc, ...] = ()
    if cmd in _HEREDOC_OK and "<<" in rest and not rest.startswith("["):
        heredocs, i = _read_heredocs(rest, lineno, i, lines)
    end = i
    common = dict(line=lineno, original=logical.strip(), flags=flags, heredocs=heredocs,
                  end_line=end)

    def need(n: int = 1) -> None:
        if not rest:
            raise _err(lineno, f"{cmd} requires at least {'one argument' if n == 1 else f'{n} arguments'}")

    if cmd in ("RUN", "CMD", "ENTRYPOINT", "SHELL"):
        arr = _json_array(rest)
        if cmd == "SHELL":
            if arr is None:
                raise _err(lineno, "SHELL requires the arguments to be in JSON form")
            if not arr:
                raise _err(lineno, "SHELL requires at least one argument")
        if arr is not None:
            return Instruction(cmd, tuple(arr), json=True, **common), i  # type: ignore[arg-type]
        if cmd == "RUN":
            need()
        return Instruction(cmd, (rest,) if rest else (), **common), i  # type: ignore[arg-type]

    if cmd == "FROM":
        words = rest.split()
        if len(words) == 3 and words[1].lower() == "as":
            if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_.-]*", words[2]):
                raise _err(lineno, f"invalid name for build stage: \"{words[2]}\", "
                                   "name can't start with a number or contain symbols")
            return Instruction(cmd, (words[0], words[2].lower()), **common), i  # type: ignore[arg-type]
        if len(words) != 1:
            raise _err(lineno, "FROM requires either one or three arguments")
        return Instruction(cmd, (words[0],), **common), i  # type: ignore[arg-type]

    if cmd in ("ADD", "COPY"):
        arr = _json_array(rest)
        if arr is not None:
            args = tuple(arr)
            is_json = True
        else:
            args = tuple(split_words(rest, escape))
            is_json = False
        if len(args) < (1 if heredocs else 2):
            raise _err(lineno, f"{cmd} requires at least two arguments, but only one was provided. "
                               "Destination could not be determined")
        return Instruction(cmd, args, json=is_json, **common), i  # type: ignore[arg-type]

    if cmd == "VOLUME":
        arr = _json_array(rest)
        if arr is not None:
            return Instruction(cmd, tuple(arr), json=True, **common), i  # type: ignore[arg-type]
        need()
        return Instruction(cmd, tuple(split_words(rest, escape)), **common), i  # type: ignore[arg-type]

    if cmd == "ENV" or cmd == "LABEL":
        need()
        words = split_words(rest, escape)
        if cmd == "ENV" and "=" not in words[0]:
            # Legacy 'ENV name value with spaces': one pair, the rest of the line.
            name, _, value = rest.partition(" ")
            value = value.strip()
            if not value:
                raise _err(lineno, "ENV must have two arguments")
            return Instruction(cmd, (f"{name}={value}",), **common), i  # type: ignore[arg-type]
        for w in words:
            if "=" not in w or w.startswith("="):
                if cmd == "LABEL" and len(words) == 2 and "=" not in words[0]:
                    return Instruction(cmd, (f"{words[0]}={words[1]}",), **common), i  # type: ignore[arg-type]
                raise _err(lineno, f"{cmd} names can not be blank" if w.startswith("=")
                           else f"Syntax error - can't find = in \"{w}\". "
                                "Must be of the form: name=value")
        return Instruction(cmd, tuple(words), **common), i  # type: ignore[arg-type]

    if cmd == "ARG":
        need()
        words = split_words(rest, escape)
        for w in words:
            if w.startswith("="):
                raise _err(lineno, "ARG names can not be blank")
        return Instruction(cmd, tuple(words), **common), i  # type: ignore[arg-type]

    if cmd == "EXPOSE":
        need()
        return Instruction(cmd, tuple(split_words(rest, escape)), **common), i  # type: ignore[arg-type]

    if cmd in ("USER", "WORKDIR", "STOPSIGNAL", "MAINTAINER"):
        need()
        if cmd == "STOPSIGNAL" and len(rest.split()) != 1:
            raise _err(lineno, "STOPSIGNAL requires exactly one argument")
        if cmd == "USER" and len(rest.split()) != 1:
            raise _err(lineno, "USER requires exactly one argument")
        return Instruction(cmd, (rest,), **common), i  # type: ignore[arg-type]

    if cmd == "ONBUILD":
        need()
        m = re.match(r"(\S+)\s*(.*)$", rest, re.S)
        assert m
        sub_cmd = m.group(1).upper()
        if sub_cmd == "ONBUILD":
            raise _err(lineno, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if sub_cmd in ("FROM", "MAINTAINER"):
            raise _err(lineno, f"{sub_cmd} isn't allowed as an ONBUILD trigger")
        if sub_cmd not in FLAGS:
            raise _err(lineno, f"unknown instruction: {m.group(1)}")
        sub, i = _build(sub_cmd, m.group(2), rest, lineno, i, lines, escape, nested=True)
        return Instruction(cmd, (rest,), sub=sub, **common), i  # type: ignore[arg-type]

    if cmd == "HEALTHCHECK":
        need()
        m = re.match(r"(\S+)\s*(.*)$", rest, re.S)
        assert m
        kind = m.group(1).upper()
        body = m.group(2).strip()
        if kind == "NONE":
            if body or flags:
                raise _err(lineno, "HEALTHCHECK NONE takes no arguments")
            hc = Healthcheck(("NONE",))
            return Instruction(cmd, ("NONE",), healthcheck=hc, **common), i  # type: ignore[arg-type]
        if kind != "CMD":
            raise _err(lineno, f"Unknown type \"{kind}\" in HEALTHCHECK (try CMD)")
        if not body:
            raise _err(lineno, "Missing command after HEALTHCHECK CMD")
        arr = _json_array(body)
        test = ("CMD", *arr) if arr is not None else ("CMD-SHELL", body)
        vals: dict[str, int] = {}
        for name, val in flags:
            key = name.replace("-", "_")
            if name == "retries":
                try:
                    vals[key] = int(val or "")
                except ValueError:
                    raise _err(lineno, f"invalid retries value: {val}") from None
                if vals[key] < 0:
                    raise _err(lineno, "--retries cannot be negative")
            else:
                try:
                    d = parse_duration(val or "")
                except InvalidArgument as exc:
                    raise _err(lineno, str(exc)) from None
                if 0 < d < 1_000_000:
                    raise _err(lineno, f"Interval \"{name}\" cannot be less than 1ms")
                vals[key] = d
        hc = Healthcheck(tuple(test), **vals)
        return Instruction(cmd, tuple(test), json=arr is not None, healthcheck=hc,
                           **common), i  # type: ignore[arg-type]

    raise _err(lineno, f"unknown instruction: {cmd}")  # pragma: no cover


@record
class MountSpec:
    """A parsed ``RUN --mount=...``."""

    type: str = "bind"
    target: str = ""
    source: str = ""
    from_: str = ""
    id: str = ""
    sharing: str = "shared"
    readonly: bool = False
    required: bool = False
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: int = 0
    env: str = ""


def parse_mount(value: str, line: int = 0) -> MountSpec:
    """Parse a ``--mount`` value as BuildKit does (CSV of key=value, bare ro/rw)."""
    import csv

    fields: dict[str, object] = {}
    try:
        row = next(csv.reader([value]))
    except (csv.Error, StopIteration):
        raise _err(line, f"invalid mount: {value}") from None
    kind = "bind"
    for item in row:
        key, eq, val = item.partition("=")
        key = key.strip().lower()
        if key == "type":
            if val not in ("bind", "cache", "tmpfs", "secret", "ssh"):
                raise _err(line, f"unsupported mount type \"{val}\"")
            kind = val
        elif key in ("target", "dst", "destination"):
            fields["target"] = val
        elif key in ("source", "src"):
            fields["source"] = val
        elif key == "from":
            fields["from_"] = val
        elif key == "id":
            fields["id"] = val
        elif key == "sharing":
            if val not in ("shared", "private", "locked"):
                raise _err(line, f"unsupported sharing value \"{val}\"")
            fields["sharing"] = val
        elif key in ("ro", "readonly"):
            fields["readonly"] = (not eq) or val.lower() in ("true", "1")
        elif key in ("rw", "readwrite"):
            fields["readonly"] = not ((not eq) or val.lower() in ("true", "1"))
        elif key == "required":
            fields["required"] = (not eq) or val.lower() in ("true", "1")
        elif key == "mode":
            try:
                fields["mode"] = int(val, 8)
            except ValueError:
                raise _err(line, f"invalid value for mode: {val}") from None
        elif key in ("uid", "gid"):
            try:
                fields[key] = int(val)
            except ValueError:
                raise _err(line, f"invalid value for {key}: {val}") from None
        elif key == "size":
            try:
                fields["size"] = int(val)
            except ValueError:
                raise _err(line, f"invalid value for size: {val}") from None
        elif key == "env":
            fields["env"] = val
        else:
            raise _err(line, f"unexpected key '{key}' in '{item}'")
    spec = MountSpec(type=kind, **fields)  # type: ignore[arg-type]
    if kind == "secret":
        if not spec.id and spec.target:
            spec = MountSpec(**{**spec.__dict__, "id": spec.target.rsplit("/", 1)[-1]})
        if not spec.target and not spec.env:
            spec = MountSpec(**{**spec.__dict__, "target": f"/run/secrets/{spec.id}"})
    elif kind == "ssh":
        if not spec.id:
            spec = MountSpec(**{**spec.__dict__, "id": "default"})
    elif not spec.target:
        raise _err(line, "mount target not set")
    if kind == "cache" and not spec.id:
        spec = MountSpec(**{**spec.__dict__, "id": spec.target})
    return spec
