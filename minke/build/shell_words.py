"""Dockerfile variable substitution: Docker's shell lexer (not a real shell).

``process_word`` expands ``$VAR``, ``${VAR}``, ``${VAR:-d}``, ``${VAR-d}``, ``${VAR:+a}``,
``${VAR+a}``, ``${VAR:?m}``, ``${VAR?m}``, removes quotes (single quotes are literal,
double quotes expand) and escape characters, as BuildKit's shell.Lex does.  Unset
variables expand to the empty string.  Which instructions expand is ``EXPANDS``.
"""

from __future__ import annotations

from collections.abc import Mapping

from minke.errors import InvalidArgument

#: The instructions in which Docker substitutes variables (ONBUILD's are expanded when
#: the trigger runs, not at ONBUILD time; RUN/CMD/ENTRYPOINT are left to the shell).
EXPANDS = frozenset({"ADD", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER",
                     "VOLUME", "WORKDIR", "ARG"})


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str,
                 used: set[str] | None) -> None:
        self.s = text
        self.i = 0
        self.env = env
        self.escape = escape
        self.used = used

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def next(self) -> str:
        ch = self.peek()
        self.i += 1
        return ch

    def words(self, split: bool) -> list[str]:
        out: list[str] = []
        word: list[str] = []
        have = False
        while self.i < len(self.s):
            ch = self.peek()
            if split and ch in " \t\n":
                self.i += 1
                if have:
                    out.append("".join(word))
                    word, have = [], False
                continue
            have = True
            if ch == "'":
                self.i += 1
                word.append(self._single())
            elif ch == '"':
                self.i += 1
                word.append(self._double())
            elif ch == "$":
                self.i += 1
                value = self._dollar()
                if not split:
                    word.append(value)
                    continue
                # ProcessWords splits an unquoted expansion on blanks, as Docker does.
                for c in value:
                    if c in " \t\n":
                        if word:
                            out.append("".join(word))
                        word = []
                    else:
                        word.append(c)
                have = bool(word)
            elif ch == self.escape:
                self.i += 1
                nxt = self.next()
                word.append(nxt)  # escape at end of word is dropped
            else:
                self.i += 1
                word.append(ch)
        if have:
            out.append("".join(word))
        return out

    def _single(self) -> str:
        end = self.s.find("'", self.i)
        if end < 0:
            raise InvalidArgument(f"unexpected end of statement while looking for matching "
                                  f"single-quote in: {self.s}")
        text = self.s[self.i:end]
        self.i = end + 1
        return text

    def _double(self) -> str:
        out: list[str] = []
        while True:
            if self.i >= len(self.s):
                raise InvalidArgument(f"unexpected end of statement while looking for "
                                      f"matching double-quote in: {self.s}")
            ch = self.next()
            if ch == '"':
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
            elif ch == self.escape:
                nxt = self.peek()
                if nxt == "":
                    continue
                if nxt in ('"', "$", self.escape):
                    out.append(self.next())
                else:
                    out.append(ch)
            else:
                out.append(ch)

    def _name(self) -> str:
        start = self.i
        if self.peek().isdigit():
            self.i += 1
            return self.s[start:self.i]
        while self.i < len(self.s) and (self.s[self.i].isalnum() or self.s[self.i] == "_"):
            self.i += 1
        return self.s[start:self.i]

    def _lookup(self, name: str) -> str | None:
        if self.used is not None:
            self.used.add(name)
        return self.env.get(name)

    def _dollar(self) -> str:
        if self.peek() != "{":
            name = self._name()
            if not name:
                return "$"
            return self._lookup(name) or ""
        self.i += 1
        name = self._name()
        if not name:
            raise InvalidArgument(f"bad substitution: {self.s}")
        ch = self.next()
        if ch == "}":
            return self._lookup(name) or ""
        colon = False
        if ch in ("#", "%", "/"):
            return self._pattern(name, ch)
        if ch == ":":
            colon = True
            ch = self.next()
        if ch not in ("-", "+", "?"):
            raise InvalidArgument(f"unsupported modifier ({ch}) in substitution: {self.s}")
        word = self._until_brace()
        value = self._lookup(name)
        is_set = value is not None and (value != "" or not colon)
        if ch == "-":
            return value if is_set else word  # type: ignore[return-value]
        if ch == "+":
            return word if is_set else ""
        if not is_set:
            raise InvalidArgument(f"{name}: {word or 'is not allowed to be unset'}")
        return value  # type: ignore[return-value]

    def _pattern(self, name: str, op: str) -> str:
        """${v#p} ${v##p} ${v%p} ${v%%p} ${v/p/r} ${v//p/r}: Docker's (BuildKit's) pattern
        substitutions; p is a shell glob."""
        import fnmatch
        import re

        if self.peek() == op:
            self.i += 1
            op += op
        word = self._until_brace()
        value = self._lookup(name) or ""
        repl = ""
        if op[0] == "/":
            word, _, repl = word.partition("/")
        rx = re.compile(fnmatch.translate(word), re.S)
        n = len(value)
        if op in ("#", "##"):
            ks = range(n + 1) if op == "#" else range(n, -1, -1)
            return next((value[k:] for k in ks if rx.fullmatch(value[:k])), value)
        if op in ("%", "%%"):
            ks = range(n, -1, -1) if op == "%" else range(n + 1)
            return next((value[:k] for k in ks if rx.fullmatch(value[k:])), value)
        out: list[str] = []
        i = 0
        while i <= n:
            j = next((j for j in range(n, i - 1, -1) if word and rx.fullmatch(value[i:j])), None)
            if j is None or j == i:
                if i < n:
                    out.append(value[i])
                i += 1
                continue
            out.append(repl)
            i = j
            if op == "/":
                out.append(value[i:])
                break
        return "".join(out)

    def _until_brace(self) -> str:
        """The word of a modifier, itself expanded, up to the matching '}'."""
        out: list[str] = []
        while True:
            if self.i >= len(self.s):
                raise InvalidArgument(f"syntax error: missing '}}' in: {self.s}")
            ch = self.next()
            if ch == "}":
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
            elif ch == "'":
                out.append(self._single())
            elif ch == '"':
                out.append(self._double())
            elif ch == self.escape:
                out.append(self.next())
            else:
                out.append(ch)


def process_word(text: str, env: Mapping[str, str], escape: str = "\\",
                 used: set[str] | None = None) -> str:
    """Expand one word: variables substituted, quotes and escapes removed.

    ``used`` (if given) collects the names looked up: the cache keys on them.
    """
    words = _Lexer(text, env, escape, used).words(split=False)
    return words[0] if words else ""


def process_words(text: str, env: Mapping[str, str], escape: str = "\\",
                  used: set[str] | None = None) -> list[str]:
    """Expand and split on blanks outside quotes (EXPOSE, VOLUME shell form)."""
    return _Lexer(text, env, escape, used).words(split=True)
