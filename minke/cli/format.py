"""``--format``: the subset of Go's text/template that Docker's CLI users write, and tables.

What is supported, with Go's meaning:

- text and actions ``{{ pipeline }}``, trim markers ``{{- ... -}}``, comments ``{{/* */}}``;
- operands: ``.``, fields ``.A.B`` (dict keys, object attributes, methods are called),
  variables ``$`` and ``$x.A``, ``(pipeline).Field``, string ("..." and `raw`), number,
  char, ``true``/``false``/``nil`` literals;
- pipelines ``{{.X | upper}}`` (the value goes in as the last argument), ``$x := ...``,
  ``$x = ...``;
- ``if`` / ``else if`` / ``else``, ``range`` (lists; dicts in key order; ``$i, $v :=``;
  ``else``; ``break``/``continue``), ``with`` / ``else``;
- functions: Go's ``and or not len index slice print printf println eq ne lt le gt ge``
  and Docker's ``json split join title lower upper pad truncate``.

Not supported: ``define``/``template``/``block`` (no named templates), ``call``, ``html``,
``js``, ``urlquery``; they are an ``InvalidArgument`` at parse time.

Errors are ``InvalidArgument`` with Go's wording, for example
``template: :1:2: executing "" at <.Foo>: can't evaluate field Foo in type map[string]interface {}``;
``render_template`` and ``format_rows`` put the docker CLI's ``template parsing error: `` in
front, ``Template.execute`` does not.

Docker's CLI layer on top (``format_rows``): ``\\t``/``\\n`` in the format become a tab and a
newline, ``table`` (alone: the command's default columns) prints a header row and aligns
columns with Go's text/tabwriter (min width 10, padding 3), ``json`` prints one JSON object
per row with sorted keys.

Rows are dicts standing in for Docker's formatter contexts (structs): a missing field is an
error, not ``<no value>``.  For the same reason a ``None`` prints ``<nil>`` (a nil pointer,
as ``docker inspect -f '{{.State.Health}}'`` prints), where Go's ``map[string]interface{}``
would print ``<no value>``; pass ``missing="default"`` for Go's missing-key behaviour.
Dataclasses are structs (fields by Go name or snake_case, ``%v`` is ``{a b}``), enums
print as their values.  ``printf`` is Go's fmt (flags, width, precision, ``%!d(string=x)``
for a wrong verb) except hexadecimal floats (``%x`` of a float).  Only the standard library
is imported, and json, re and enum only where used (with what they import, ~15 ms of a
short command such as ``ps``).
"""

from __future__ import annotations

import sys

# isinstance checks: loaded with os already (collections.abc would import collections)
from _collections_abc import Mapping

from minke.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:  # for annotations only: typing costs a short command ~5 ms
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

__all__ = [
    "Template",
    "format_rows",
    "go_string",
    "parse",
    "quiet_lines",
    "render_json_lines",
    "render_table",
    "render_template",
    "tabwrite",
]


def _is_enum(v: Any) -> bool:
    # enum is imported only where an Enum was made: no value is one unless it was.
    enum = sys.modules.get("enum")
    return enum is not None and isinstance(v, enum.Enum)


class _NoValue:
    """Go's invalid reflect.Value: what a missing map key gives; prints ``<no value>``."""

    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE = _NoValue()


class TemplateError(InvalidArgument):
    pass


# --- printing values the way fmt.Print does ---------------------------------------------


def _go_float(f: float) -> str:
    """fmt's %v of a float64: shortest digits, exponent below 1e-4 or from 1e+06."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    r = repr(f)
    sign = "-" if r.startswith("-") else ""
    r = r.lstrip("-")
    mant, _, exp = r.partition("e")
    intpart, _, frac = mant.partition(".")
    digits = intpart + frac
    pos = len(intpart) + int(exp or 0)  # where the point goes, counted from digits[0]
    stripped = digits.lstrip("0")
    pos -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    if not digits:
        return sign + "0"
    x = pos - 1
    if x < -4 or x >= 6:  # strconv.FormatFloat(f, 'g', -1, 64): %e from 1e+06
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{m}e{'+' if x >= 0 else '-'}{abs(x):02d}"
    if pos <= 0:
        return sign + "0." + "0" * -pos + digits
    if pos >= len(digits):
        return sign + digits + "0" * (pos - len(digits))
    return sign + digits[:pos] + "." + digits[pos:]


def go_string(v: Any) -> str:
    """A value as ``{{.}}`` prints it: Go's fmt %v for the JSON-ish values we hold."""
    if _is_enum(v):
        # Docker's enums are named string/int types: Go prints the bare value.
        v = v.value
    if isinstance(v, str):
        return str(v)
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _go_float(v)
    if isinstance(v, _NoValue):
        return "<no value>"
    if isinstance(v, Mapping):
        items = sorted(v.items(), key=lambda kv: _sort_key(kv[0]))
        return "map[" + " ".join(f"{go_string(k)}:{go_string(x)}" for k, x in items) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_string(x) for x in v) + "]"
    if isinstance(v, (bytes, bytearray)):
        return "[" + " ".join(str(b) for b in v) + "]"
    fields = getattr(v, "__dataclass_fields__", None) or getattr(v, "__record_fields__", None)
    if fields is not None and not isinstance(v, type):
        # A struct: Go's %v is "{field1 field2}", values only, in declaration order.
        return "{" + " ".join(go_string(getattr(v, name)) for name in fields) + "}"
    return str(v)


def _sort_key(k: Any) -> tuple[int, Any]:
    # Go sorts map keys by value within one type; mixed types cannot happen in Go.
    if isinstance(k, (int, float)) and not isinstance(k, bool):
        return (0, k)
    return (1, str(k))


def _go_type(v: Any) -> str:
    if isinstance(v, str):
        return "string"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if v is None or isinstance(v, _NoValue):
        return "interface {}"
    if isinstance(v, Mapping):
        return "map[string]interface {}"
    if isinstance(v, (list, tuple)):
        return "[]interface {}"
    return type(v).__name__


def _truth(v: Any) -> bool:
    """Go's template truth: false, 0, nil, empty string/slice/map are false."""
    if v is None or isinstance(v, _NoValue):
        return False
    if _is_enum(v):
        v = v.value
    if isinstance(v, (bool, int, float, str, bytes, list, tuple, Mapping)):
        return bool(v)
    return True


def _to_json(v: Any, sort_keys: bool = False) -> str:
    """Docker's ``json`` function: Go's encoder without HTML escaping, compact."""

    def default(o: Any) -> Any:
        if isinstance(o, _NoValue):
            return None
        if _is_enum(o):
            return o.value
        if isinstance(o, (set, frozenset)):
            return sorted(o)
        fields = getattr(o, "__dataclass_fields__", None) or getattr(o, "__record_fields__", None)
        if fields is not None:  # a dataclass or a minke.record
            return {name: getattr(o, name) for name in fields}
        if hasattr(o, "__dict__"):
            return {k: x for k, x in vars(o).items() if not k.startswith("_")}
        return str(o)

    import json  # here: json (with re behind it) costs a short command ~13 ms

    text = json.dumps(
        None if isinstance(v, _NoValue) else v,
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=sort_keys,
        default=default,
    )
    # Go escapes these two even with HTML escaping off (they end JavaScript lines).
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# --- lexer ---------------------------------------------------------------------------------

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a",
            "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
# Regular expressions are compiled on first use (re caches them): importing this module
# for a command that never formats costs no compile time.
_TOKEN = (
    r"""
    (?P<space>[ \t\r\n]+)
  | (?P<field>\.[A-Za-z_][A-Za-z0-9_]*)
  | (?P<var>\$[A-Za-z0-9_]*)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\]|\\.)+')
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?))
  | (?P<declare>:=)
  | (?P<punct>[()|,=])
  | (?P<dot>\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    """
)
_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break",
             "continue", "nil", "true", "false"}


def _unquote(s: str) -> str:
    out = []
    i = 0
    body = s[1:-1]
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1]
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 2
        elif e == "x":
            out.append(chr(int(body[i + 2 : i + 4], 16)))
            i += 4
        elif e == "u":
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        elif e == "U":
            out.append(chr(int(body[i + 2 : i + 10], 16)))
            i += 10
        else:
            raise ValueError(f"unknown escape sequence \\{e}")
    return "".join(out)


class _Tok:
    __slots__ = ("kind", "text", "pos", "spaced")

    def __init__(self, kind: str, text: str, pos: int, spaced: bool) -> None:
        self.kind, self.text, self.pos, self.spaced = kind, text, pos, spaced

    def __repr__(self) -> str:
        return f"{self.kind}:{self.text}"


# --- nodes -----------------------------------------------------------------------------------


class _Node:
    pos = 0

    def __str__(self) -> str:  # Go's node String(), for error context "<...>"
        return ""


class _Text(_Node):
    def __init__(self, text: str) -> None:
        self.text = text


class _Literal(_Node):
    def __init__(self, value: Any, source: str, pos: int) -> None:
        self.value, self.source, self.pos = value, source, pos

    def __str__(self) -> str:
        return self.source


class _Dot(_Node):
    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "."


class _Field(_Node):
    def __init__(self, names: list[str], pos: int) -> None:
        self.names, self.pos = names, pos

    def __str__(self) -> str:
        return "".join("." + n for n in self.names)


class _Variable(_Node):
    def __init__(self, name: str, fields: list[str], pos: int) -> None:
        self.name, self.fields, self.pos = name, fields, pos

    def __str__(self) -> str:
        return self.name + "".join("." + n for n in self.fields)


class _Ident(_Node):
    def __init__(self, name: str, pos: int) -> None:
        self.name, self.pos = name, pos

    def __str__(self) -> str:
        return self.name


class _Chain(_Node):
    def __init__(self, node: _Node, fields: list[str], pos: int) -> None:
        self.node, self.fields, self.pos = node, fields, pos

    def __str__(self) -> str:
        return str(self.node) + "".join("." + n for n in self.fields)


class _Command(_Node):
    def __init__(self, args: list[_Node], pos: int) -> None:
        self.args, self.pos = args, pos

    def __str__(self) -> str:
        return " ".join(str(a) if not isinstance(a, _Pipe) else f"({a})" for a in self.args)


class _Pipe(_Node):
    def __init__(self, decl: list[str], assign: bool, cmds: list[_Command], pos: int) -> None:
        self.decl, self.assign, self.cmds, self.pos = decl, assign, cmds, pos

    def __str__(self) -> str:
        head = ""
        if self.decl:
            head = ", ".join(self.decl) + (" = " if self.assign else " := ")
        return head + " | ".join(str(c) for c in self.cmds)


class _Action(_Node):
    def __init__(self, pipe: _Pipe, pos: int) -> None:
        self.pipe, self.pos = pipe, pos

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


class _Branch(_Node):
    def __init__(self, kind: str, pipe: _Pipe, body: list[_Node], other: list[_Node] | None, pos: int) -> None:
        self.kind, self.pipe, self.body, self.other, self.pos = kind, pipe, body, other, pos


class _LoopControl(_Node):
    def __init__(self, kind: str, pos: int) -> None:
        self.kind, self.pos = kind, pos


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


# --- parser ----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, funcs: Mapping[str, Any]) -> None:
        self.text = text
        self.funcs = funcs
        self.items = self._split(text)
        self.i = 0
        self.range_depth = 0
        self.declared = ["$"]  # variables in scope while parsing, as Go checks them

    def error(self, pos: int, msg: str) -> TemplateError:
        line = self.text.count("\n", 0, pos) + 1
        return TemplateError(f"template: :{line}: {msg}")

    # Text and actions, with trim markers applied to the text around them.
    def _split(self, text: str) -> list[tuple[str, Any, int]]:
        items: list[tuple[str, Any, int]] = []
        pos = 0
        trim_next = False
        while True:
            start = text.find("{{", pos)
            chunk = text[pos:] if start < 0 else text[pos:start]
            if trim_next:
                chunk = chunk.lstrip(" \t\r\n")
            left_trim = start >= 0 and text[start : start + 4] in ("{{- ", "{{-\t", "{{-\n", "{{-\r")
            if start >= 0 and left_trim:
                chunk = chunk.rstrip(" \t\r\n")
            if chunk:
                items.append(("text", chunk, pos))
            if start < 0:
                return items
            apos = start + (4 if left_trim else 2)
            toks, end, trim_next = self._lex_action(apos)
            items.append(("action", toks, start))
            pos = end

    def _lex_action(self, pos: int) -> tuple[list[_Tok] | None, int, bool]:
        """The tokens of one action (None for a comment), where it ends, and whether it
        trims the text after it."""
        text = self.text
        if text.startswith("/*", pos):
            close = text.find("*/", pos + 2)
            if close < 0:
                raise self.error(pos, "unclosed comment")
            after = close + 2
            if text.startswith("}}", after):
                return None, after + 2, False
            if text.startswith(" -}}", after):
                return None, after + 4, True
            raise self.error(pos, "comment ends before closing delimiter")
        toks: list[_Tok] = []
        spaced = True
        depth = 0
        while True:
            if pos >= len(text):
                raise self.error(pos, "unclosed action")
            if text.startswith("}}", pos) or text.startswith(" -}}", pos):
                if depth > 0:
                    raise self.error(pos, "unclosed left paren")
                return (toks, pos + 2, False) if text[pos] == "}" else (toks, pos + 4, True)
            import re  # here, not at the top: a plain `ps` or `images` needs no template

            m = re.compile(_TOKEN, re.VERBOSE | re.DOTALL).match(text, pos)
            if m is None or m.end() == pos:
                c = text[pos]
                if c == "}" or c == "{":
                    raise self.error(pos, f"unexpected {c!r} in command".replace("'", '"'))
                raise self.error(pos, f"unrecognized character in action: U+{ord(c):04X} {c!r}")
            kind = m.lastgroup or ""
            if kind == "space":
                spaced = True
                # "a -}}": the space before -}} belongs to the trim marker.
                pos = m.end()
                if text.startswith("-}}", pos):
                    if depth > 0:
                        raise self.error(pos, "unclosed left paren")
                    return toks, pos + 3, True
                continue
            tok_text = m.group()
            if kind == "number" and tok_text in ("+", "-"):
                raise self.error(pos, f"bad number syntax: {tok_text!r}")
            if kind == "punct" and tok_text == "(":
                depth += 1
            elif kind == "punct" and tok_text == ")":
                if depth == 0:
                    raise self.error(pos, 'unexpected ")" in command')
                depth -= 1
            toks.append(_Tok(kind, tok_text, pos, spaced))
            spaced = False
            pos = m.end()

    def parse(self) -> list[_Node]:
        nodes, stop = self._list(top=True)
        if stop is not None:
            raise self.error(stop[2], f"unexpected {{{{{stop[0]}}}}}")
        return nodes

    def _list(self, top: bool = False) -> tuple[list[_Node], tuple[str, list[_Tok], int] | None]:
        """Parse nodes until {{end}} or {{else}}; return them and the stopping keyword."""
        nodes: list[_Node] = []
        while self.i < len(self.items):
            kind, value, pos = self.items[self.i]
            self.i += 1
            if kind == "text":
                nodes.append(_Text(value))
                continue
            toks: list[_Tok] | None = value
            if toks is None:
                continue  # a comment
            if not toks:
                raise self.error(self.items[self.i][2] if self.i < len(self.items) else len(self.text), "missing value for command")
            head = toks[0]
            if head.kind == "ident" and head.text in ("end", "else"):
                if top:
                    raise self.error(pos, f"unexpected {{{{{head.text}}}}}")
                return nodes, (head.text, toks, pos)
            if head.kind == "ident" and head.text in ("if", "range", "with"):
                nodes.append(self._branch(head.text, toks[1:], pos))
            elif head.kind == "ident" and head.text in ("break", "continue"):
                if self.range_depth == 0:
                    raise self.error(pos, f"{{{{{head.text}}}}} outside {{{{range}}}}")
                if len(toks) > 1:
                    raise self.error(pos, f"unexpected {toks[1].text} in {{{{{head.text}}}}}")
                nodes.append(_LoopControl(head.text, pos))
            elif head.kind == "ident" and head.text in ("define", "template", "block"):
                raise self.error(pos, f"{{{{{head.text}}}}} is not supported")
            else:
                nodes.append(_Action(self._pipeline(toks, pos, "command"), pos))
        if not top:
            raise self.error(len(self.text), "unexpected EOF")
        return nodes, None

    def _branch(self, kind: str, toks: list[_Tok], pos: int) -> _Branch:
        # Variables declared in a control structure live until its {{end}}.
        mark = len(self.declared)
        try:
            return self._branch_in_scope(kind, toks, pos)
        finally:
            del self.declared[mark:]

    def _branch_in_scope(self, kind: str, toks: list[_Tok], pos: int) -> _Branch:
        pipe = self._pipeline(toks, pos, kind, allow_two=(kind == "range"))
        if kind == "range":
            self.range_depth += 1
        body, stop = self._list()
        if kind == "range":
            self.range_depth -= 1
        other: list[_Node] | None = None
        assert stop is not None
        word, stoks, spos = stop
        if word == "else":
            if len(stoks) > 1 and stoks[1].kind == "ident" and stoks[1].text in ("if", "with") and kind != "range":
                # {{else if x}} is {{else}}{{if x}}...{{end}} sharing this {{end}}.
                other = [self._branch(stoks[1].text, stoks[2:], spos)]
                return _Branch(kind, pipe, body, other, pos)
            if len(stoks) > 1:
                raise self.error(spos, f"unexpected {stoks[1].text} in else")
            other, stop2 = self._list()
            assert stop2 is not None
            if stop2[0] != "end":
                raise self.error(stop2[2], "expected end; found {{else}}")
            stoks = stop2[1]
        if len(stoks) > 1:
            raise self.error(spos, f"unexpected {stoks[1].text} in end")
        return _Branch(kind, pipe, body, other, pos)

    def _pipeline(self, toks: list[_Tok], pos: int, context: str, allow_two: bool = False) -> _Pipe:
        decl: list[str] = []
        assign = False
        k = 0
        if len(toks) >= 2 and toks[0].kind == "var" and (toks[1].kind == "declare" or toks[1].text == "="):
            decl, assign, k = [toks[0].text], toks[1].text == "=", 2
        elif (
            allow_two
            and len(toks) >= 4
            and toks[0].kind == "var"
            and toks[1].text == ","
            and toks[2].kind == "var"
            and (toks[3].kind == "declare" or toks[3].text == "=")
        ):
            decl, assign, k = [toks[0].text, toks[2].text], toks[3].text == "=", 4
        for name in decl:
            if assign and name not in self.declared:
                raise self.error(pos, f'undefined variable "{name}"')
            if not assign:
                self.declared.append(name)
        cmds: list[_Command] = []
        rest = toks[k:]
        if not rest:
            raise self.error(pos, f"missing value for {context}")
        j = 0
        while True:
            if rest[j].text == "|":
                raise self.error(rest[j].pos, f'unexpected "|" in {context}')
            cmd, j = self._command(rest, j, pos)
            cmds.append(cmd)
            if j >= len(rest):
                break
            if rest[j].text == "|":
                j += 1
                if j >= len(rest):
                    break  # Go's parser accepts a trailing "|" ("{{.A |}}" is "{{.A}}")
                continue
            raise self.error(rest[j].pos, f"unexpected {rest[j].text!r} in {context}".replace("'", '"'))
        for c in cmds[1:]:
            if isinstance(c.args[0], _Literal):
                raise self.error(c.pos, f"non executable command in pipeline stage {cmds.index(c) + 1}")
        return _Pipe(decl, assign, cmds, toks[0].pos if toks else pos)

    def _command(self, toks: list[_Tok], j: int, pos: int) -> tuple[_Command, int]:
        args: list[_Node] = []
        start = toks[j].pos if j < len(toks) else pos
        while j < len(toks) and toks[j].text not in ("|", ")"):
            if args and not toks[j].spaced and toks[j].kind != "field":
                raise self.error(toks[j].pos, f"missing space? {toks[j].text}")
            node, j = self._operand(toks, j)
            args.append(node)
        if not args:
            raise self.error(start, "empty command")
        return _Command(args, start), j

    def _operand(self, toks: list[_Tok], j: int) -> tuple[_Node, int]:
        t = toks[j]
        j += 1
        node: _Node
        # Go positions a chained field (.A.B, $x.A) at its second part; errors say so.
        if t.kind == "field":
            names = [t.text[1:]]
            pos = t.pos
            while j < len(toks) and toks[j].kind == "field" and not toks[j].spaced:
                pos = toks[j].pos if len(names) == 1 else pos
                names.append(toks[j].text[1:])
                j += 1
            return _Field(names, pos), j
        if t.kind == "var":
            if t.text not in self.declared:
                raise self.error(t.pos, f'undefined variable "{t.text}"')
            fields = []
            pos = t.pos
            while j < len(toks) and toks[j].kind == "field" and not toks[j].spaced:
                pos = toks[j].pos if not fields else pos
                fields.append(toks[j].text[1:])
                j += 1
            return _Variable(t.text, fields, pos), j
        if t.text == "(":
            depth, k = 1, j
            while k < len(toks):
                if toks[k].text == "(":
                    depth += 1
                elif toks[k].text == ")":
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
            if k >= len(toks):
                raise self.error(t.pos, "unclosed left paren")
            node = self._pipeline(toks[j:k], t.pos, "parenthesized pipeline")
            j = k + 1
        elif t.kind == "dot":
            node = _Dot(t.pos)
        elif t.kind == "string" or t.kind == "raw":
            try:
                value = _unquote(t.text) if t.kind == "string" else t.text[1:-1]
            except (ValueError, IndexError):
                raise self.error(t.pos, f"bad string: {t.text}") from None
            node = _Literal(value, t.text, t.pos)
        elif t.kind == "char":
            try:
                value = _unquote('"' + t.text[1:-1] + '"')
            except (ValueError, IndexError):
                value = ""
            if len(value) != 1:
                raise self.error(t.pos, f"malformed character constant: {t.text}")
            node = _Literal(ord(value), t.text, t.pos)
        elif t.kind == "number":
            node = _Literal(_number(t.text, self, t.pos), t.text, t.pos)
        elif t.kind == "ident":
            if t.text in ("true", "false"):
                node = _Literal(t.text == "true", t.text, t.pos)
            elif t.text == "nil":
                node = _Literal(None, "nil", t.pos)
            elif t.text in _KEYWORDS:
                raise self.error(t.pos, f"unexpected <{t.text}> in command")
            elif t.text not in self.funcs:
                raise self.error(t.pos, f'function "{t.text}" not defined')
            else:
                node = _Ident(t.text, t.pos)
                if j < len(toks) and toks[j].kind == "field" and not toks[j].spaced:
                    fields = []  # upper.B is (upper).B, as Go reads it
                    while j < len(toks) and toks[j].kind == "field" and not toks[j].spaced:
                        fields.append(toks[j].text[1:])
                        j += 1
                    return _Chain(node, fields, toks[j - len(fields)].pos), j
                return node, j
        else:
            raise self.error(t.pos, f"unexpected {t.text!r} in operand".replace("'", '"'))
        # (pipeline).Field, "x".Field: a chain of fields on the value.
        fields = []
        while j < len(toks) and toks[j].kind == "field" and not toks[j].spaced:
            fields.append(toks[j].text[1:])
            j += 1
        if fields:
            if isinstance(node, (_Dot, _Literal)):
                raise self.error(t.pos, f"unexpected . after term {str(node)!r}".replace("'", '"'))
            node = _Chain(node, fields, t.pos)
        return node, j


def _number(text: str, parser: _Parser, pos: int) -> int | float:
    import re

    clean = text.replace("_", "")
    try:
        if re.fullmatch(r"[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+)", clean):
            m = re.fullmatch(r"([-+]?)0([0-7]+)", clean)
            if m:  # Go's legacy octal: 0755
                return int(m.group(1) + m.group(2), 8)
            return int(clean, 0)
        return float(clean)
    except ValueError:
        raise parser.error(pos, f"bad number syntax: {text!r}".replace("'", '"')) from None


# --- functions -------------------------------------------------------------------------------


class _FuncError(Exception):
    """A function failed; the executor adds the position and the node."""


def _s(v: Any) -> str:
    # Docker's string functions take a Go string: nil (a JSON null, a missing key, the
    # literal nil) cannot become one, so Go fails the call rather than printing "<nil>".
    if v is None or isinstance(v, _NoValue):
        raise _FuncError("invalid value; expected string")
    return v if isinstance(v, str) else go_string(v)


def _fn_len(v: Any) -> int:
    if isinstance(v, str):
        return len(v.encode())
    if isinstance(v, (list, tuple, Mapping, bytes)):
        return len(v)
    raise _FuncError(f"len of type {_go_type(v)}")


def _fn_index(item: Any, *indexes: Any) -> Any:
    if item is None or isinstance(item, _NoValue):
        raise _FuncError("index of untyped nil")
    v = item
    for idx in indexes:
        if v is None or isinstance(v, _NoValue):
            raise _FuncError("index of untyped nil")
        if isinstance(v, Mapping):
            v = v.get(idx, "")  # Go gives the element type's zero value: "" for labels
        elif isinstance(v, (list, tuple, str, bytes)):
            if not isinstance(idx, int) or isinstance(idx, bool):
                raise _FuncError(f"cannot index slice/array with type {_go_type(idx)}")
            seq = v.encode() if isinstance(v, str) else v
            if not 0 <= idx < len(seq):
                raise _FuncError(f"index out of range: {idx}")
            v = seq[idx]
        else:
            raise _FuncError(f"can't index item of type {_go_type(v)}")
    return v


def _fn_slice(item: Any, *indexes: Any) -> Any:
    if not isinstance(item, (str, list, tuple)):
        raise _FuncError(f"can't slice item of type {_go_type(item)}")
    if len(indexes) > 2:
        raise _FuncError(f"too many slice indexes: {len(indexes)}")
    seq = item.encode() if isinstance(item, str) else item
    lo = indexes[0] if indexes else 0
    hi = indexes[1] if len(indexes) > 1 else len(seq)
    if not 0 <= lo <= hi <= len(seq):
        raise _FuncError(f"index out of range: {hi if hi > len(seq) else lo}")
    out = seq[lo:hi]
    return out.decode(errors="replace") if isinstance(item, str) else out


def _fn_print(*args: Any) -> str:
    # fmt.Sprint: a space between operands when neither is a string.
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_string(a))
    return "".join(out)


def _fn_println(*args: Any) -> str:
    return " ".join(go_string(a) for a in args) + "\n"


class _Verb:
    """One fmt directive's flags, width and precision (Go's fmt.fmtFlags)."""

    __slots__ = ("minus", "plus", "sharp", "space", "zero", "wid", "prec")

    def __init__(self, flags: str, wid: int | None, prec: int | None) -> None:
        self.minus = "-" in flags
        self.plus = "+" in flags
        self.sharp = "#" in flags
        self.space = " " in flags
        self.zero = "0" in flags and not self.minus  # Go never pads with zeros on the right
        self.wid, self.prec = wid, prec

    def pad(self, s: str, zero: bool | None = None) -> str:
        if self.wid is None or self.wid <= len(s):
            return s
        fill = self.wid - len(s)
        if self.minus:
            return s + " " * fill
        return ("0" if (self.zero if zero is None else zero) else " ") * fill + s


def _fmt_int(n: int, base: int, upper: bool, v: _Verb) -> str:
    """fmt's fmtInteger: precision (or zero padding) as minimum digits, then the sign."""
    negative = n < 0
    digits = format(abs(n), {10: "d", 16: "X" if upper else "x", 8: "o", 2: "b"}[base])
    prec = 0
    if v.prec is not None:
        prec = v.prec
        if prec == 0 and n == 0:
            return v.pad("", zero=False)
    elif v.zero and v.wid is not None:
        prec = v.wid - (1 if negative or v.plus or v.space else 0)
    digits = digits.rjust(prec, "0")
    if v.sharp:
        if base == 2:
            digits = "0b" + digits
        elif base == 8 and not digits.startswith("0"):
            digits = "0" + digits
        elif base == 16:
            digits = ("0X" if upper else "0x") + digits
    sign = "-" if negative else "+" if v.plus else " " if v.space else ""
    return v.pad(sign + digits, zero=False)


def _fmt_float(f: float, verb: str, v: _Verb) -> str:
    """fmt's fmtFloat for %v %g %G %e %E %f %F."""
    prec = v.prec if v.prec is not None else (-1 if verb in "vgG" else 6)
    if f != f or f in (float("inf"), float("-inf")):
        s = "NaN" if f != f else "Inf"
        sign = "-" if f < 0 else "+" if v.plus else " " if v.space else ("" if s == "NaN" else "+")
        return v.pad(sign + s, zero=False)
    negative = f < 0 or (f == 0 and str(f).startswith("-"))
    a = abs(f)
    if verb in "vgG" and prec < 0:
        body = _go_float(a)
    else:
        body = f"{a:.{max(prec, 0) if verb in 'eEfF' else max(prec, 1)}{'g' if verb == 'v' else verb.lower() if verb == 'F' else verb}}"
    if verb == "G":
        body = body.upper()
    sign = "-" if negative else "+" if v.plus else " " if v.space else ""
    if sign and v.zero and v.wid is not None and v.wid > len(sign + body):
        return sign + "0" * (v.wid - len(sign + body)) + body
    return v.pad(sign + body)


def _fmt_value(a: Any, verb: str, v: _Verb, top: bool = True) -> str:
    """fmt's printArg/printValue for the values templates hold."""
    if _is_enum(a):
        a = a.value
    if a is None or isinstance(a, _NoValue):
        if top and verb not in "vT":
            return f"%!{verb}(<nil>)"
        return v.pad("<nil>")
    if isinstance(a, bool):
        return v.pad("true" if a else "false") if verb in "tv" else _bad_verb(a, verb, v)
    if isinstance(a, int):
        if verb in "vd":
            return _fmt_int(a, 10, False, v)
        if verb in "bxXo":
            return _fmt_int(a, {"b": 2, "x": 16, "X": 16, "o": 8}[verb], verb == "X", v)
        if verb in "cq":
            # Not a valid code point (negative, too big, a surrogate): Go's RuneError.
            r = a if 0 <= a <= 0x10FFFF and not 0xD800 <= a <= 0xDFFF else 0xFFFD
            return v.pad(chr(r) if verb == "c" else _quote_rune(r, ascii_only=v.plus))
        if verb == "U":
            return _fmt_int_unicode(a, v)
        return _bad_verb(a, verb, v)
    if isinstance(a, float):
        if verb in "vgGeEfF":
            return _fmt_float(a, verb, v)
        return _bad_verb(a, verb, v)
    if isinstance(a, str):
        s = a if v.prec is None else a[: v.prec]
        if verb in "vs":
            return v.pad(s)
        if verb == "q":
            if v.sharp and "`" not in s and all(c == "\t" or " " <= c != "\x7f" for c in s):
                return v.pad("`" + s + "`")
            import json

            return v.pad(json.dumps(s, ensure_ascii=v.plus).replace("\\u007f", "\\x7f"))
        if verb in "xX":
            # fmtSbx: the precision counts bytes here; "% x" spaces them, "%#x" adds 0x.
            data = a.encode()[: v.prec] if v.prec is not None else a.encode()
            pre = ("0X" if verb == "X" else "0x") if v.sharp else ""
            if v.space:
                h = " ".join(pre + format(b, "02x") for b in data)
            else:
                h = (pre if data else "") + data.hex()
            return v.pad(h.upper() if verb == "X" else h)
        return _bad_verb(a, verb, v)
    if isinstance(a, Mapping):
        items = sorted(a.items(), key=lambda kv: _sort_key(kv[0]))
        inner = " ".join(f"{_fmt_value(k, verb, v, False)}:{_fmt_value(x, verb, v, False)}" for k, x in items)
        return "map[" + inner + "]"
    if isinstance(a, (list, tuple)):
        return "[" + " ".join(_fmt_value(x, verb, v, False) for x in a) + "]"
    fields = getattr(a, "__dataclass_fields__", None) or getattr(a, "__record_fields__", None)
    if fields is not None and not isinstance(a, type):
        return "{" + " ".join(_fmt_value(getattr(a, n), verb, v, False) for n in fields) + "}"
    return v.pad(str(a)) if verb in "vs" else _bad_verb(a, verb, v)


def _fmt_int_unicode(a: int, v: _Verb) -> str:
    s = f"U+{a:04X}"
    if v.sharp and 0 <= a <= 0x10FFFF and chr(a).isprintable():
        s += f" '{chr(a)}'"
    return v.pad(s, zero=False)


def _quote_rune(r: int, ascii_only: bool = False) -> str:
    """strconv.QuoteRune (QuoteRuneToASCII with ``ascii_only``, as %+q)."""
    c = chr(r)
    if c == "'":
        return "'\\''"
    if c == "\\":
        return "'\\\\'"
    if c.isprintable() and not (ascii_only and r >= 0x80):
        return f"'{c}'"
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
    if c in named:
        return f"'{named[c]}'"
    if r < 0x80:
        return f"'\\x{r:02x}'"
    return f"'\\u{r:04x}'" if r <= 0xFFFF else f"'\\U{r:08x}'"


def _bad_verb(a: Any, verb: str, v: _Verb) -> str:
    return f"%!{verb}({_go_type(a)}={_fmt_value(a, 'v', v)})"


def _fn_printf(fmt: Any, *args: Any) -> str:
    """fmt.Sprintf: flags ``-+# 0``, width, precision and the verbs templates use."""
    if not isinstance(fmt, str):
        raise _FuncError(f"wrong type for value; expected string; got {_go_type(fmt)}")
    out = []
    argi = 0
    i, n = 0, len(fmt)
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        i = j + 1
        k = i
        while k < n and fmt[k] in "-+# 0":
            k += 1
        flags = fmt[i:k]
        m = k
        while m < n and fmt[m].isdigit():
            m += 1
        wid = int(fmt[k:m]) if m > k else None
        prec = None
        if m < n and fmt[m] == ".":
            p = m + 1
            while p < n and fmt[p].isdigit():
                p += 1
            prec = int(fmt[m + 1 : p]) if p > m + 1 else 0
            m = p
        if m >= n:
            out.append("%!(NOVERB)")
            i = m
            break
        verb = fmt[m]
        i = m + 1
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        v = _Verb(flags, wid, prec)
        if verb == "v":
            # %+v and %#v are Go's struct-field and Go-syntax forms, not a sign or a prefix.
            v.plus = v.sharp = False
        out.append(_fmt_value(args[argi], verb, v))
        argi += 1
    if argi < len(args):
        plain = _Verb("", None, None)
        extra = ", ".join(
            "<nil>" if a is None else f"{_go_type(a)}={_fmt_value(a, 'v', plain)}" for a in args[argi:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _basic_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if v is None or isinstance(v, _NoValue):
        return "nil"
    return "other"


def _fn_eq(a: Any, *others: Any) -> bool:
    if not others:
        raise _FuncError("missing argument for comparison")
    for b in others:
        ka, kb = _basic_kind(a), _basic_kind(b)
        if ka != kb and "nil" not in (ka, kb) and "other" not in (ka, kb):
            raise _FuncError("incompatible types for comparison")
        if a == b:
            return True
    return False


def _fn_ne(a: Any, b: Any) -> bool:
    return not _fn_eq(a, b)


def _ordered(a: Any, b: Any) -> None:
    ka, kb = _basic_kind(a), _basic_kind(b)
    if ka not in ("number", "string") or kb not in ("number", "string"):
        raise _FuncError("invalid type for comparison")
    if ka != kb:
        raise _FuncError("incompatible types for comparison")


def _fn_lt(a: Any, b: Any) -> bool:
    _ordered(a, b)
    return bool(a < b)


def _fn_le(a: Any, b: Any) -> bool:
    _ordered(a, b)
    return bool(a <= b)


def _fn_gt(a: Any, b: Any) -> bool:
    _ordered(a, b)
    return bool(a > b)


def _fn_ge(a: Any, b: Any) -> bool:
    _ordered(a, b)
    return bool(a >= b)


def _fn_not(a: Any) -> bool:
    return not _truth(a)


def _fn_split(s: Any, sep: Any) -> list[str]:
    s, sep = _s(s), _s(sep)
    if sep == "":
        return list(s)
    return s.split(sep)


def _fn_join(items: Any, sep: Any) -> str:
    if isinstance(items, str) or not isinstance(items, (list, tuple)):
        raise _FuncError(f"wrong type for value; expected []string; got {_go_type(items)}")
    return _s(sep).join(_s(x) for x in items)


def _fn_title(s: Any) -> str:
    # strings.Title: upper-case the first letter of each word, leave the rest alone.
    out = []
    prev = " "
    for c in _s(s):
        out.append(c.upper() if not (prev.isalnum() or prev == "_") else c)
        prev = c
    return "".join(out)


def _fn_pad(s: Any, prefix: int, suffix: int) -> str:
    s = _s(s)
    if s == "":
        return s
    return " " * prefix + s + " " * suffix


def _fn_truncate(s: Any, length: int) -> str:
    s = _s(s)
    return s if len(s) < length else s[:length]


_FUNCS: dict[str, Callable[..., Any]] = {
    "json": _to_json,
    "split": _fn_split,
    "join": _fn_join,
    "title": _fn_title,
    "lower": lambda s: _s(s).lower(),
    "upper": lambda s: _s(s).upper(),
    "pad": _fn_pad,
    "truncate": _fn_truncate,
    "len": _fn_len,
    "index": _fn_index,
    "slice": _fn_slice,
    "print": _fn_print,
    "printf": _fn_printf,
    "println": _fn_println,
    "eq": _fn_eq,
    "ne": _fn_ne,
    "lt": _fn_lt,
    "le": _fn_le,
    "gt": _fn_gt,
    "ge": _fn_ge,
    "not": _fn_not,
    "and": lambda *a: a,  # evaluated lazily by the executor
    "or": lambda *a: a,
}


def _same(v: Any, *_: Any) -> Any:
    return v


# Docker's HeaderFunctions: in a table header these leave the column name alone.
_HEADER_FUNCS = dict(_FUNCS, json=_same, split=_same, join=_same, title=_same, lower=_same,
                     upper=_same, truncate=_same, index=_same)


# --- executor --------------------------------------------------------------------------------

_CAMEL = r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])"


def _snake(name: str) -> str:
    import re

    return re.sub(_CAMEL, "_", name).lower()


class _HeaderData:
    """The data a table header is executed with: every field names its column."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = headers

    def __str__(self) -> str:
        return ""


class _HeaderName(str):
    """A header cell: ``.A.B`` in the header row prints the header of that field."""

    path: tuple[str, ...]
    data: _HeaderData


def _header_name(data: _HeaderData, path: tuple[str, ...]) -> _HeaderName:
    dotted = ".".join(path)
    text = data.headers.get(dotted) or data.headers.get(path[-1])
    if text is None:
        text = _spaced_upper(path[-1])
    h = _HeaderName(text)
    h.path, h.data = path, data
    return h


class _Exec:
    def __init__(self, tmpl: Template, missing: str, sort_json: bool, header: bool) -> None:
        self.tmpl = tmpl
        self.missing = missing
        self.funcs = _HEADER_FUNCS if header else _FUNCS
        self.sort_json = sort_json
        self.vars: list[tuple[str, Any]] = []
        self.out: list[str] = []

    # Errors: Go's "template: :LINE:COL: executing "" at <NODE>: MESSAGE".
    def error(self, node: _Node, msg: str) -> TemplateError:
        text = self.tmpl.text
        pos = node.pos
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1)
        return TemplateError(f'template: :{line}:{col}: executing "" at <{node}>: {msg}')

    def run(self, nodes: list[_Node], dot: Any) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                self.out.append(node.text)
            elif isinstance(node, _Action):
                value = self.pipe(node.pipe, dot)
                if not node.pipe.decl:
                    self.out.append(self.print(value))
            elif isinstance(node, _Branch):
                self.branch(node, dot)
            elif isinstance(node, _LoopControl):
                raise _Break() if node.kind == "break" else _Continue()

    def print(self, v: Any) -> str:
        return go_string(v)

    def branch(self, node: _Branch, dot: Any) -> None:
        mark = len(self.vars)
        try:
            if node.kind == "range":
                self.range(node, dot)
                return
            value = self.pipe(node.pipe, dot)
            if _truth(value):
                self.run(node.body, value if node.kind == "with" else dot)
            elif node.other is not None:
                self.run(node.other, dot)
        finally:
            del self.vars[mark:]

    def range(self, node: _Branch, dot: Any) -> None:
        value = self.pipe(node.pipe, dot, declare=False)
        items: Iterable[tuple[Any, Any]]
        if isinstance(value, _HeaderName):
            items = [(0, value)]
        elif isinstance(value, Mapping):
            items = [(k, value[k]) for k in sorted(value, key=_sort_key)]
        elif isinstance(value, (list, tuple)):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(i, i) for i in range(value)]
        elif value is None or isinstance(value, _NoValue):
            items = []
        else:
            raise self.error(node.pipe, f"range can't iterate over {go_string(value)}")
        items = list(items)
        if not items:
            if node.other is not None:
                self.run(node.other, dot)
            return
        mark = len(self.vars)
        for key, elem in items:
            del self.vars[mark:]
            if len(node.pipe.decl) == 1:
                self._set(node.pipe.decl[0], elem, node.pipe.assign, node.pipe)
            elif len(node.pipe.decl) == 2:
                self._set(node.pipe.decl[0], key, node.pipe.assign, node.pipe)
                self._set(node.pipe.decl[1], elem, node.pipe.assign, node.pipe)
            try:
                self.run(node.body, elem)
            except _Continue:
                continue
            except _Break:
                break

    def _set(self, name: str, value: Any, assign: bool, node: _Node) -> None:
        if assign:
            for i in range(len(self.vars) - 1, -1, -1):
                if self.vars[i][0] == name:
                    self.vars[i] = (name, value)
                    return
            raise self.error(node, f"undefined variable: {name}")
        self.vars.append((name, value))

    def pipe(self, pipe: _Pipe, dot: Any, declare: bool = True) -> Any:
        value: Any = _MISSING
        for cmd in pipe.cmds:
            value = self.command(cmd, dot, value)
        if declare and pipe.decl:
            self._set(pipe.decl[0], value, pipe.assign, pipe)
        return value

    def command(self, cmd: _Command, dot: Any, final: Any) -> Any:
        first = cmd.args[0]
        args = cmd.args[1:]
        if isinstance(first, _Field):
            return self.fields(dot, first.names, args, final, first, dot)
        if isinstance(first, _Chain):
            receiver = self.arg(first.node, dot)
            return self.fields(receiver, first.fields, args, final, first, dot)
        if isinstance(first, _Variable):
            value = self.variable(first)
            if first.fields:
                return self.fields(value, first.fields, args, final, first, dot)
            self._no_args(first, args, final)
            return value
        if isinstance(first, _Ident):
            return self.call(first, cmd, args, final, dot)
        if isinstance(first, _Pipe):
            self._no_args(first, args, final)
            return self.pipe(first, dot, declare=False)
        if isinstance(first, _Dot):
            self._no_args(first, args, final)
            return dot
        assert isinstance(first, _Literal)
        if first.source == "nil":
            raise self.error(first, "nil is not a command")
        self._no_args(first, args, final)
        return first.value

    def _no_args(self, node: _Node, args: list[_Node], final: Any) -> None:
        if args or final is not _MISSING:
            raise self.error(node, f"can't give argument to non-function {node}")

    def variable(self, node: _Variable) -> Any:
        for name, value in reversed(self.vars):
            if name == node.name:
                return value
        raise self.error(node, f"undefined variable: {node.name}")

    def arg(self, node: _Node, dot: Any) -> Any:
        if isinstance(node, _Field):
            return self.fields(dot, node.names, [], _MISSING, node, dot)
        if isinstance(node, _Chain):
            return self.fields(self.arg(node.node, dot), node.fields, [], _MISSING, node, dot)
        if isinstance(node, _Variable):
            value = self.variable(node)
            if node.fields:
                return self.fields(value, node.fields, [], _MISSING, node, dot)
            return value
        if isinstance(node, _Pipe):
            return self.pipe(node, dot, declare=False)
        if isinstance(node, _Dot):
            return dot
        if isinstance(node, _Ident):
            return self.call(node, node, [], _MISSING, dot)
        assert isinstance(node, _Literal)
        return node.value

    def fields(self, receiver: Any, names: list[str], args: list[_Node], final: Any, node: _Node, dot: Any) -> Any:
        last = len(names) - 1
        for i, name in enumerate(names):
            if i == last:
                return self.field(receiver, name, args, final, node, dot)
            receiver = self.field(receiver, name, [], _MISSING, node, dot)
        return receiver

    def field(self, receiver: Any, name: str, args: list[_Node], final: Any, node: _Node, dot: Any) -> Any:
        has_args = bool(args) or final is not _MISSING
        if isinstance(receiver, _HeaderData):
            return _header_name(receiver, (name,))
        if isinstance(receiver, _HeaderName):
            return _header_name(receiver.data, (*receiver.path, name))
        if isinstance(receiver, _NoValue):
            if self.missing == "error":
                raise self.error(node, f'nil data; no entry for key "{name}"')
            return NO_VALUE
        if receiver is None:
            raise self.error(node, f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(receiver, Mapping):
            if has_args:
                raise self.error(node, f"{name} is not a method but has arguments")
            if name in receiver:
                return receiver[name]
            if self.missing == "error":
                raise self.error(node, f'map has no entry for key "{name}"')
            if self.missing == "default":
                return NO_VALUE
            raise self.error(node, f"can't evaluate field {name} in type {_go_type(receiver)}")
        if isinstance(receiver, (str, int, float, bool, list, tuple, bytes)):
            raise self.error(node, f"can't evaluate field {name} in type {_go_type(receiver)}")
        attr = name if not name.startswith("_") and hasattr(receiver, name) else _snake(name)
        if name.startswith("_") or not hasattr(receiver, attr):
            raise self.error(node, f"can't evaluate field {name} in type {_go_type(receiver)}")
        value = getattr(receiver, attr)
        if callable(value):
            values = [self.arg(a, dot) for a in args]
            if final is not _MISSING:
                values.append(final)
            try:
                return value(*values)
            except TypeError as e:
                raise self.error(node, f"error calling {name}: {e}") from None
        if has_args:
            raise self.error(node, f"{name} is not a method but has arguments")
        return value

    def call(self, ident: _Ident, node: _Node, args: list[_Node], final: Any, dot: Any) -> Any:
        name = ident.name
        if name in ("and", "or"):
            nodes = list(args)
            if not nodes and final is _MISSING:
                raise self.error(node, f"wrong number of args for {name}: want at least 1 got 0")
            value: Any = None
            for a in nodes:
                value = self.arg(a, dot)
                if _truth(value) == (name == "or"):
                    return value
            if final is not _MISSING:
                value = final
            return value
        fn = self.funcs[name]
        values = [self.arg(a, dot) for a in args]
        if final is not _MISSING:
            values.append(final)
        # A missing key goes into a function as Go's zero value: nil; an enum as the named
        # string or int it stands for (so eq .State "running" holds).
        values = [None if isinstance(v, _NoValue) else v.value if _is_enum(v) else v for v in values]
        try:
            if fn is _to_json:
                if len(values) != 1:
                    raise TypeError
                return _to_json(values[0], self.sort_json)
            return fn(*values)
        except _FuncError as e:
            raise self.error(node, f"error calling {name}: {e}") from None
        except TypeError:
            want = _ARITY.get(name)
            if want is not None and len(values) != want:
                raise self.error(ident, f"wrong number of args for {name}: want {want} got {len(values)}") from None
            raise self.error(node, f"error calling {name}: wrong type for value") from None


_ARITY = {"json": 1, "split": 2, "join": 2, "title": 1, "lower": 1, "upper": 1, "pad": 3,
          "truncate": 2, "len": 1, "not": 1, "ne": 2, "lt": 2, "le": 2, "gt": 2, "ge": 2}


class _Missing:
    pass


_MISSING = _Missing()


# --- public API ------------------------------------------------------------------------------


class Template:
    """A parsed template; ``execute(obj)`` renders it.  Parse once, execute per row."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.nodes = _Parser(text, _FUNCS).parse()

    def execute(self, obj: Any, *, missing: str = "field", sort_json: bool = False) -> str:
        """Render with ``obj`` as dot and ``$``.

        ``missing`` says what a dict key that is not there gives: ``"field"`` (the default:
        rows are structs to Docker, "can't evaluate field X"), ``"error"`` (Go's
        missingkey=error, "map has no entry for key", as ``docker inspect``), ``"default"``
        (Go's default, ``<no value>``).
        """
        ex = _Exec(self, missing, sort_json, header=False)
        ex.vars.append(("$", obj))
        try:
            ex.run(self.nodes, obj)
        except RecursionError:
            raise TemplateError("template: :1: exceeded maximum template depth") from None
        return "".join(ex.out)

    def header(self, headers: Mapping[str, str]) -> str:
        """The table header row: each field prints its column name (Docker's header map)."""
        data = _HeaderData(headers)
        ex = _Exec(self, "field", False, header=True)
        ex.vars.append(("$", data))
        ex.run(self.nodes, data)
        return "".join(ex.out)


def parse(text: str) -> Template:
    """Parse ``text``; an ``InvalidArgument`` with Go's message if it is not a template."""
    return Template(text)


def render_template(template: str, obj: Any, *, missing: str = "field") -> str:
    """Execute a Go template against ``obj`` (a dict or an object with attributes).

    Errors read as the docker CLI's: ``template parsing error: template: :1:2: ...``.
    """
    try:
        return Template(template).execute(obj, missing=missing)
    except TemplateError as e:
        raise _docker_error(e) from None


def _docker_error(e: TemplateError) -> TemplateError:
    # The docker CLI wraps every template failure, parse or execute, in this prefix.
    return TemplateError(f"template parsing error: {e.message}")


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Go's text/tabwriter as Docker's CLI sets it up (``NewWriter(out, 10, 1, 3, ' ', 0)``).

    Cells end at a tab; a column's width is its widest cell (in runes) plus ``padding``,
    at least ``minwidth``, taken over each run of consecutive lines that have that column.
    The last cell of a line is not part of any column and is never padded.
    """
    # Go ends a cell at \v as at \t; \f ends a line as \n does (and is written as one)
    # and flushes, so columns start afresh after it.
    text = text.replace("\v", "\t")
    if "\f" in text:
        *done, rest = text.split("\f")
        return "".join(_tabwrite(part + "\n", minwidth, padding) for part in done) + _tabwrite(rest, minwidth, padding)
    return _tabwrite(text, minwidth, padding)


def _tabwrite(text: str, minwidth: int, padding: int) -> str:
    lines = [ln.split("\t") for ln in text.split("\n")]
    if len(lines[-1]) > 1 and lines[-1][-1] == "":
        # Flush ends an unfinished last line without its empty trailing cell, so "a\t"
        # with no newline is the single cell "a": not in a column, never padded.
        lines[-1].pop()
    out: list[str] = []

    def write(line0: int, line1: int, widths: list[int]) -> None:
        for i in range(line0, line1):
            cells = lines[i]
            parts = []
            for j, c in enumerate(cells):
                parts.append(c)
                if j < len(widths):
                    parts.append(" " * (widths[j] - len(c)))
            out.append("".join(parts))

    def fmt(line0: int, line1: int, widths: list[int]) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write(line0, this, widths)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            fmt(line0, this, [*widths, width])
            line0 = this
        write(line0, line1, widths)

    fmt(0, len(lines), [])
    return "\n".join(out)


def _lookup(row: Any, field: str) -> Any:
    v = row
    for name in field.split("."):
        if isinstance(v, Mapping):
            v = v.get(name, "")
        else:
            v = getattr(v, name, "")
    return v


def _spaced_upper(name: str) -> str:
    import re

    return re.sub(_CAMEL, " ", name).upper()


def _columns(default_columns: Sequence[str | tuple[str, str]], headers: Mapping[str, str]) -> list[tuple[str, str]]:
    cols = []
    for c in default_columns:
        if isinstance(c, str):
            cols.append((headers.get(c) or _spaced_upper(c), c))
        else:
            cols.append((c[0], c[1]))
    return cols


def render_table(rows: Sequence[Any], columns: Sequence[tuple[str, str]]) -> str:
    """A header row and one line per row, aligned like Docker's tables; ends in a newline.

    ``columns`` are ``(header, field)``; fields may be dotted (``Config.Image``).
    """
    lines = ["\t".join(h for h, _ in columns)]
    for row in rows:
        lines.append("\t".join(go_string(_lookup(row, f)).replace("\t", " ") for _, f in columns))
    return tabwrite("\n".join(lines) + "\n")


def render_json_lines(rows: Sequence[Any]) -> str:
    """``--format json``: one compact JSON object per line, keys sorted (Go's map order)."""
    return "".join(_to_json(r, sort_keys=True) + "\n" for r in rows)


def quiet_lines(rows: Sequence[Any], field: str = "ID") -> str:
    """``-q``: just one field (the ID) per line."""
    return "".join(go_string(_lookup(r, field)) + "\n" for r in rows)


def _docker_format(fmt: str) -> str:
    # Docker's formatter.Context.preFormat: trim spaces, then \t and \n become real ones.
    return fmt.strip(" ").replace("\\t", "\t").replace("\\n", "\n")


def format_rows(
    fmt: str | None,
    rows: Sequence[Any],
    default_columns: Sequence[str | tuple[str, str]],
    headers: Mapping[str, str] | None = None,
) -> str:
    """Rows the way a Docker list command prints them for ``--format fmt``.

    - ``None``, ``""`` or ``"table"``: the default table (``default_columns``);
    - ``"json"``: one JSON object per row;
    - ``"table TEMPLATE"``: a header row from ``headers`` (field -> column name; fields not
      in it get their name split at capitals and upper-cased), then the rows, aligned;
    - anything else: the template per row, each followed by a newline.

    ``default_columns`` are field names (header from ``headers``) or ``(header, field)``.
    The result ends in a newline unless there is nothing to print.
    """
    hdrs: dict[str, str] = {}
    for c in default_columns:
        if not isinstance(c, str):
            hdrs[c[1]] = c[0]
    hdrs.update(headers or {})
    if fmt is None or fmt.strip(" ") in ("", "table"):
        return render_table(rows, _columns(default_columns, hdrs))
    if fmt == "json":
        return render_json_lines(rows)
    try:
        if fmt.startswith("table"):
            body = _docker_format(fmt[len("table"):])
            tmpl = Template(body)
            text = tmpl.header(hdrs) + "\n" + "".join(
                tmpl.execute(r, sort_json=True) + "\n" for r in rows
            )
            return tabwrite(text)
        tmpl = Template(_docker_format(fmt))
        return "".join(tmpl.execute(r, sort_json=True) + "\n" for r in rows)
    except TemplateError as e:
        raise _docker_error(e) from None
