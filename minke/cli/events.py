"""``minke events``: the recorded events, then (without ``--until``) new ones as they come.

Docker's CLI semantics: without ``--since`` and ``--until`` only new events are shown;
``--since`` adds the recorded ones from that time; ``--until`` stops at that time (at once
when it is past).  SIGTERM or Ctrl-C ends the stream with exit status 0.
"""

from __future__ import annotations

from minke.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:  # for annotations only: argparse and typing cost a short command ~10 ms
    import argparse
    from typing import Any


def setup_events(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--filter", action="append", default=[], help="filter output based on conditions provided")
    p.add_argument("--format", default=None,
                   help="format output using a custom template: 'json' or a Go template")
    p.add_argument("--since", default=None, help="show all events created since timestamp")
    p.add_argument("--until", default=None, help="stream events until this timestamp")
    p.set_defaults(func=run_events)


class _Attributes(dict):
    """A Go ``map[string]string``: a key that is not there is ``<no value>``, no error."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> Any:
        from minke.cli.format import NO_VALUE

        return NO_VALUE


class _Message(dict):
    """Docker's ``events.Message`` for a template: a dict in its JSON shape (what ``json``
    prints, in Go's field order) whose fields are also reached by their Go names
    (``.ID``, ``.Status``, ``.From``, ``.Scope``, ``.Time``, ``.TimeNano``)."""

    _GO = {"Status": "status", "ID": "id", "From": "from", "Scope": "scope", "Time": "time",
           "TimeNano": "timeNano"}

    def __contains__(self, key: object) -> bool:
        return key in ("Status", "ID", "From") or dict.__contains__(self, self._GO.get(key, key))  # type: ignore[arg-type]

    def __getitem__(self, key: str) -> Any:
        k = self._GO.get(key, key)
        if k in ("status", "id", "from") and not dict.__contains__(self, k):
            return ""  # omitted from the JSON when empty (omitempty), "" to a template
        return dict.__getitem__(self, k)


def _message(ev: dict) -> _Message:
    actor = dict(ev.get("Actor") or {})
    actor["Attributes"] = _Attributes(actor.get("Attributes") or {})
    return _Message({**ev, "Actor": actor})


_EMPTY = {"Type": "", "Action": "", "Actor": {"ID": "", "Attributes": {}}, "scope": "", "time": 0, "timeNano": 0}


def run_events(ctx, args) -> int:
    import signal
    import time

    from minke import events

    filters = events.parse_filters(args.filter)
    now = time.time_ns()
    since = events.parse_time(args.since, now) if args.since else None
    until = events.parse_time(args.until, now) if args.until else None
    if since is not None and until is not None and until < since:
        raise InvalidArgument("`since` time must be before `until` time")
    if since is None and until is None:
        since = now  # Docker: only what happens from now on
    template = None
    if args.format:
        from minke.cli.format import Template

        fmt = "{{json .}}" if args.format == "json" else args.format
        try:
            template = Template(fmt)
            template.execute(_message(_EMPTY))  # a bad field fails now, as Docker's CLI
        except InvalidArgument as e:
            raise InvalidArgument(f"template parsing error: {e}") from None

    class _Terminated(Exception):
        pass

    def on_term(*_: Any) -> None:
        raise _Terminated()

    try:
        old = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread (an embedding program): its own handling stands
        old = None
    stream = events.read(ctx.config.root, since=since, until=until, filters=filters, follow=True)
    try:
        for ev in stream:
            if template is not None:
                line = template.execute(_message(ev))
            else:
                line = events.format_text(ev)
            ctx.out.write(line + "\n")
            ctx.out.flush()
    except (_Terminated, KeyboardInterrupt):
        return 0
    finally:
        stream.close()
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    return 0
