"""A command's arguments in their plain forms without argparse, from its own setup function.

argparse (and ``re``, ``shutil``, ``gettext``, ``bz2``, ``lzma`` behind it) and building a
parser of ~70 options cost ``minke run`` ~10 ms of a short container.  ``parse(setup,
argv)`` runs the command's ``setup_*`` function against a ``Recorder`` that only writes
down each ``add_argument``/``set_defaults``, then parses ``argv`` the way argparse would
for the forms people type: ``--flag``, ``--opt value``, ``--opt=value``, ``-o value``,
``-ovalue``, clustered short flags (``-it``, ``-dit``), positionals, ``--`` and a
``REMAINDER`` positional.  Anything else (help, abbreviations, a value that looks like an
option, a bad choice or number, a missing positional, an option the recorder does not
know how to read) returns None, and the caller hands the line to argparse, which then
gives the answer or the error it always gave.  tests/unit/test_cli_fastargs.py compares
both on many command lines.
"""

from __future__ import annotations

REMAINDER = "..."  # argparse.REMAINDER

_ACTIONS = (None, "store", "store_true", "store_false", "append")
_VARIADIC = ("?", "*", "+")  # a last positional's nargs: argparse's ZERO_OR_ONE, ...


class _Unsupported(Exception):
    pass


class _Option:
    __slots__ = ("dest", "action", "default", "type", "choices")

    def __init__(self, dest: str, action, default, type_, choices) -> None:
        self.dest = dest
        self.action = action
        self.default = default
        self.type = type_
        self.choices = choices

    @property
    def takes_value(self) -> bool:
        return self.action in (None, "store", "append")


class Recorder:
    """Stands in for an argparse parser while a setup function declares the options."""

    def __init__(self) -> None:
        self.options: dict[str, _Option] = {}
        self.positionals: list[tuple[str, object, object]] = []  # (dest, nargs, default)
        self.defaults: dict[str, object] = {}
        self.conflict_handler = "error"
        self._optionals = self  # setup functions set its conflict_handler too

    def add_argument(self, *names: str, action=None, default=None, type=None, choices=None,  # noqa: A002
                     nargs=None, help=None, metavar=None, dest=None, **unknown) -> None:  # noqa: A002
        if unknown or action not in _ACTIONS:
            raise _Unsupported(names)
        if not names[0].startswith("-"):
            if nargs not in (None, REMAINDER, "?", "*", "+") or len(names) != 1 or type is not None or choices:
                raise _Unsupported(names)
            if self.positionals and self.positionals[-1][1] in _VARIADIC + (REMAINDER,):
                raise _Unsupported(names)  # only the last positional may take a varying number
            if nargs in _VARIADIC and any(n == REMAINDER for _, n, _d in self.positionals):
                raise _Unsupported(names)
            self.positionals.append((dest or names[0], nargs, default))
            return
        if nargs is not None:
            raise _Unsupported(names)
        if dest is None:
            longs = [n for n in names if n.startswith("--")]
            dest = (longs[0] if longs else names[0])[2 if longs else 1:].replace("-", "_")
        if action == "store_true":
            default = False if default is None else default
        elif action == "store_false":
            default = True if default is None else default
        opt = _Option(dest, action, default, type, choices)
        for n in names:
            if n in self.options and self.conflict_handler != "resolve":
                raise _Unsupported(n)
            self.options[n] = opt  # "resolve": the later option takes the name

    def set_defaults(self, **kwargs) -> None:
        self.defaults.update(kwargs)


class Args:
    """What argparse's parse_args returns (argparse.Namespace is in argparse)."""

    def __init__(self, **kwargs) -> None:
        self.__dict__.update(kwargs)

    def __repr__(self) -> str:
        return f"Args({self.__dict__!r})"


def parse(setup, argv: list[str]) -> Args | None:
    """The arguments ``argv`` gives the command set up by ``setup``, or None: let argparse
    parse it."""
    rec = Recorder()
    try:
        setup(rec)
        return _parse(rec, argv)
    except _Unsupported:
        return None


def _is_negative_number(s: str) -> bool:
    body = s[1:]
    return bool(body) and body.replace(".", "", 1).isdigit()


def _parse(rec: Recorder, argv: list[str]) -> Args:
    values: dict[str, object] = {}
    seen: set[str] = set()
    for opt in rec.options.values():
        if opt.dest not in seen:
            seen.add(opt.dest)
            values[opt.dest] = list(opt.default) if isinstance(opt.default, list) else opt.default
    pos_values: list[str] = []
    remainder: list[str] | None = None
    has_remainder = any(n == REMAINDER for _, n, _d in rec.positionals)
    variadic = rec.positionals[-1][1] if rec.positionals and rec.positionals[-1][1] in _VARIADIC else None
    n_plain = sum(1 for _, n, _d in rec.positionals if n is None)
    runs = 0  # stretches of positionals, told apart by options between them
    after_positional = False
    i = 0
    while i < len(argv):
        a = argv[i]
        if has_remainder and len(pos_values) == n_plain:
            # argparse drops a "--" right after the positionals, and keeps the rest
            remainder = argv[i + 1:] if a == "--" else argv[i:]
            break
        if a == "--":
            rest = argv[i + 1:]
            if rest and not after_positional:
                runs += 1
            if variadic and runs > 1:
                raise _Unsupported(argv)
            if has_remainder and len(pos_values) + len(rest) >= n_plain:
                need = n_plain - len(pos_values)
                pos_values += rest[:need]
                # argparse keeps a "--" that follows the positionals in the REMAINDER
                remainder = rest[need:]
            else:
                pos_values += rest
            break
        if a.startswith("--"):
            name, eq, value = a.partition("=")
            opt = rec.options.get(name)
            if opt is None:
                raise _Unsupported(a)  # help, an abbreviation, an unknown option
            if opt.takes_value:
                if not eq:
                    i += 1
                    value = _value(argv, i)
                _store(values, opt, value)
            elif eq:
                raise _Unsupported(a)
            else:
                values[opt.dest] = opt.action == "store_true"
            after_positional = False
            i += 1
            continue
        if a.startswith("-") and len(a) > 1 and not _is_negative_number(a):
            j = 1
            while j < len(a):
                opt = rec.options.get("-" + a[j])
                if opt is None:
                    raise _Unsupported(a)
                if opt.takes_value:
                    rest = a[j + 1:]
                    if j == 1 and rest.startswith("="):
                        rest = rest[1:]  # -e=X, as argparse reads it
                    elif j > 1 and "=" in rest:
                        raise _Unsupported(a)  # argparse's reading of -ie=X is its own
                    if rest:
                        _store(values, opt, rest)
                    else:
                        i += 1
                        _store(values, opt, _value(argv, i))
                    break
                values[opt.dest] = opt.action == "store_true"
                j += 1
            after_positional = False
            i += 1
            continue
        if not after_positional:
            runs += 1
        if variadic and runs > 1:
            # argparse matches the positionals stretch by stretch, and a variadic one may
            # take none of a first stretch (bpo-15112): its business.
            raise _Unsupported(argv)
        after_positional = True
        pos_values.append(a)
        i += 1
    extra = len(pos_values) - n_plain  # beyond the plain positionals
    if extra < 0 or (extra > 1 if variadic == "?" else extra == 0 if variadic == "+"
                     else extra > 0 and variadic != "*" and not has_remainder):
        raise _Unsupported(argv)
    k = 0
    for name, nargs, default in rec.positionals:
        if nargs == REMAINDER:
            values[name] = remainder if remainder is not None else pos_values[k:]
        elif nargs == "?":
            values[name] = pos_values[k] if extra else default
        elif nargs in ("*", "+"):
            values[name] = pos_values[k:] if extra or default is None else default
        else:
            values[name] = pos_values[k]
            k += 1
    values.update(rec.defaults)
    return Args(**values)


def _value(argv: list[str], i: int) -> str:
    if i >= len(argv):
        raise _Unsupported("missing value")
    v = argv[i]
    if v.startswith("-") and v != "-" and not _is_negative_number(v):
        raise _Unsupported(v)  # argparse: "expected one argument"
    return v


def _store(values: dict, opt: _Option, raw: str) -> None:
    value: object = raw
    if opt.type is not None:
        if opt.type is not int:
            raise _Unsupported(opt.dest)
        try:
            value = int(raw)
        except ValueError:
            raise _Unsupported(raw) from None
    if opt.choices is not None and value not in opt.choices:
        raise _Unsupported(raw)
    if opt.action == "append":
        values[opt.dest] = [*values[opt.dest], value]  # type: ignore[list-item]
    else:
        values[opt.dest] = value
