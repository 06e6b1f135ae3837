"""Events: what happened to containers, images, networks and volumes, as ``docker events``
shows it.

Docker's daemon keeps its recent events in memory (a ring of 256) and streams them to
subscribers.  minke has no daemon, so the command or monitor that causes an event records
it in the store, and ``minke events`` reads and follows what was recorded.

Storage: ``ROOT/events.jsonl``, one event a line, each line exactly Docker's JSON message
(``{"status", "id", "from", "Type", "Action", "Actor": {"ID", "Attributes"}, "scope",
"time", "timeNano"}``; status/id/from only for containers and images, as Docker's
deprecated fields).  Why a JSON-lines file and not an SQLite table:

- recording is on the hot path: ``run --rm`` records create, start, die and destroy, and
  ``die`` comes from the monitor, which keeps sqlite3 (and json, and re) out of its memory
  while the container runs.  An append is open, flock, one ``write()``, close: tens of
  microseconds, no transaction, no fsync (Docker's ring is not durable either) and no
  import beyond ``os`` and ``time`` (the line is encoded by hand below);
- ``O_APPEND`` puts each ``write()`` whole at the end of the file (the kernel holds the
  inode lock for the write), so lines from concurrent writers never interleave;
- following is ``tail -f``: read what was appended since the last look.

Bound: a writer whose append leaves the file past ``MAX_BYTES`` renames it to
``events.jsonl.1`` (replacing the older one), so the store keeps the latest
``MAX_BYTES``..``2 * MAX_BYTES`` of events (about 800 to 1600 of them, Docker keeps 256).
Writers hold a shared ``flock`` on the live file while they write; the rotator takes it
exclusively, and a writer that finds the path renamed under it reopens it.  So no event
lands in the old file after the rename, and a reader or follower that has read the old
file to its end after seeing the rename has seen all of it.

Recording never fails the operation it reports: an event that cannot be written (a full
disk, a store root gone) is dropped, as an event nobody subscribed to is in Docker.
"""

from __future__ import annotations

import posix  # not os: a monitor records events, and os would stay in its memory (~0.27 MiB)
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and collections.abc stay out of the monitor's memory
    from collections.abc import Iterator, Mapping

FILE = "events.jsonl"
MAX_BYTES = 256 * 1024
POLL = 0.05  # seconds between looks at the file while following

# Docker's filter keys for events; the ones minke has no objects for match nothing.
FILTER_KEYS = ("config", "container", "daemon", "event", "image", "label", "network", "node",
               "plugin", "scope", "secret", "service", "type", "volume")


# --- recording (no imports: the monitor calls this) -----------------------------------------


def _path(root: str) -> str:
    return root + FILE if root.endswith("/") else root + "/" + FILE


def _q(s: str) -> str:
    """A JSON string literal, without the json module (its import pulls in re)."""
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return '"' + s + '"'
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif o < 0x20 or 0xD800 <= o <= 0xDFFF or ch in "\x85\u2028\u2029":
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def encode_attributes(attributes: Mapping[str, object] | None) -> str:
    """Attributes as Docker's JSON object (a Go map: keys sorted), on one line."""
    return "{" + ",".join(f"{_q(str(k))}:{_q(str(v))}" for k, v in sorted((attributes or {}).items())) + "}"


def encode(type: str, action: str, actor_id: str, attributes: Mapping[str, object] | str | None,
           time_ns: int, image: str | None = None) -> str:
    """One event as Docker's JSON message (Go's field order), one line.  ``attributes`` may
    come encoded already (``encode_attributes``); ``image`` is then the container's image
    for the ``from`` field."""
    if isinstance(attributes, str):
        attrs = attributes
    else:
        attrs = encode_attributes(attributes)
        if image is None and attributes:
            image = str(attributes.get("image") or "")
    head = ""
    if type in ("container", "image"):
        # Docker still fills these deprecated fields for containers and images.
        head = f'"status":{_q(action)},"id":{_q(actor_id)},'
        if type == "container" and image:
            head += f'"from":{_q(image)},'
    return (f'{{{head}"Type":{_q(type)},"Action":{_q(action)},"Actor":{{"ID":{_q(actor_id)},'
            f'"Attributes":{attrs}}},"scope":"local","time":{time_ns // 1_000_000_000},'
            f'"timeNano":{time_ns}}}\n')


def record(root: str, type: str, action: str, actor_id: str,
           attributes: Mapping[str, object] | str | None = None, *, time_ns: int | None = None,
           image: str | None = None) -> None:
    """Append one event to the store at ``root``.  Best effort: never raises OSError.

    ``attributes`` are Docker's ``Actor.Attributes`` (values are made strings), or that
    object encoded already (``encode_attributes``, for the monitor)."""
    import fcntl  # a C module: no Python imports behind it

    line = encode(type, action, actor_id, attributes,
                  time.time_ns() if time_ns is None else time_ns, image).encode("utf-8")
    path = _path(root)
    try:
        for _ in range(8):
            fd = posix.open(path, posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT | posix.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH)
                try:
                    if posix.stat(path).st_ino != posix.fstat(fd).st_ino:
                        continue  # rotated between our open and our lock: open the new one
                except FileNotFoundError:
                    continue
                posix.write(fd, line)
                if posix.lseek(fd, 0, 1) > MAX_BYTES:  # 1: SEEK_CUR
                    _rotate(fd, path)
                return
            finally:
                posix.close(fd)  # drops the lock
    except OSError:
        pass


def _rotate(fd: int, path: str) -> None:
    import fcntl

    # The lock changes from shared to exclusive (not atomically: two rotators both let go
    # of theirs, so they cannot deadlock); the second finds the path renamed and stops.
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        if posix.stat(path).st_ino == posix.fstat(fd).st_ino:
            posix.rename(path, path + ".1")
    except FileNotFoundError:
        pass


def container_attributes(name: str, image: str, labels: Mapping[str, str] | None = None,
                         **extra: object) -> dict[str, object]:
    """A container event's attributes as Docker's: its labels, ``image``, ``name`` and
    what the action adds (``exitCode``, ``signal``, ``oldName``...)."""
    attrs: dict[str, object] = dict(labels or {})
    attrs["image"] = image
    attrs["name"] = name.lstrip("/")
    attrs.update(extra)
    return attrs


def container(root: str, action: str, c: object, **extra: object) -> None:
    """Record a container event for ``c`` (anything with ``id``, ``name``, ``image_ref``
    and ``config``: the container service's ``Container``)."""
    cfg = getattr(c, "config", None) or {}
    record(root, "container", action, getattr(c, "id", ""),
           container_attributes(getattr(c, "name", ""), getattr(c, "image_ref", "") or cfg.get("Image", ""),
                                cfg.get("Labels"), **extra))


def monitor_settings(c: object) -> dict[str, str]:
    """What a container's monitor needs to record its events (``record_monitor``), as
    one-line settings: the attributes encoded here, so the monitor never imports json."""
    cfg = getattr(c, "config", None) or {}
    image = getattr(c, "image_ref", "") or cfg.get("Image", "")
    attrs = container_attributes(getattr(c, "name", ""), image, cfg.get("Labels"))
    return {"events_attributes": encode_attributes(attrs), "events_image": image}


def record_monitor(cfg: Mapping[str, object], action: str, extra: Mapping[str, object] | None = None) -> None:
    """The monitor's events (start, oom, die) for its container, from its settings
    (``root``, ``id`` and those of ``monitor_settings``).  ``extra`` attributes are
    appended to the encoded object as they are (no json in the monitor; a reader sees the
    same object, only its keys' order differs from Docker's sorted one)."""
    attrs = str(cfg.get("events_attributes") or "{}")
    if extra:
        more = encode_attributes(extra)[1:-1]
        attrs = attrs[:-1] + ("," if attrs != "{}" else "") + more + "}"
    record(str(cfg["root"]), "container", action, str(cfg["id"]), attrs, image=str(cfg.get("events_image") or ""))


def monitor_exit(cfg: Mapping[str, object], code: int, oom: bool, ran_for: float) -> None:
    """What Docker records when a container's process exits: ``oom`` if the kernel's OOM
    killer took it, then ``die`` with its exit code and how long it ran (whole seconds)."""
    if oom:
        record_monitor(cfg, "oom")
    record_monitor(cfg, "die", {"exitCode": code, "execDuration": int(ran_for)})


# --- reading -----------------------------------------------------------------------------------


def read(root: str, since: int | None = None, until: int | None = None,
         filters: Mapping[str, list[str]] | None = None, follow: bool = False,
         stop: object = None) -> Iterator[dict]:
    """The recorded events (dicts in Docker's JSON shape), oldest first.

    ``since`` / ``until`` are unix nanoseconds, both inclusive (Docker's).  ``filters`` are
    Docker's (``parse_filters``).  With ``follow``, keep yielding events as they are
    recorded until the clock passes ``until`` (forever without one) or ``stop()`` (a
    callable, checked between looks) returns true.
    """
    import fcntl
    import json

    check_filters(filters or {})
    path = _path(root)

    def wanted(line: bytes) -> dict | None:
        try:
            ev = json.loads(line)
        except ValueError:
            return None  # not a line we wrote (a torn write of a crashed disk): skip it
        if not isinstance(ev, dict):
            return None
        t = ev.get("timeNano") or 0
        if (since is not None and t < since) or (until is not None and t > until):
            return None
        return ev if matches(ev, filters or {}) else None

    def lines(data: bytes) -> Iterator[dict]:
        for line in data.splitlines():
            ev = wanted(line)
            if ev is not None:
                yield ev

    # What is kept: the older file, then the live one, read while holding the live one's
    # shared lock so no rotation happens between the two reads.
    fd = _open_locked(path)
    try:
        try:
            with open(path + ".1", "rb") as f:
                old = f.read()
        except FileNotFoundError:
            old = b""
        live = _read_to_end(fd) if fd is not None else b""
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
    except BaseException:
        if fd is not None:
            posix.close(fd)
        raise
    buf = b""
    try:
        yield from lines(old)
        # A write may be seen half done (the kernel publishes it page by page): keep an
        # unfinished last line until its end arrives.
        complete, _, buf = live.rpartition(b"\n")
        yield from lines(complete)
        if not follow:
            return
        while True:
            if until is not None and time.time_ns() > until:
                return
            if stop is not None and stop():  # type: ignore[operator]
                return
            time.sleep(POLL)
            data = _read_to_end(fd) if fd is not None else b""
            if not data:
                try:
                    ino = posix.stat(path).st_ino
                except FileNotFoundError:
                    continue
                if fd is not None and ino == posix.fstat(fd).st_ino:
                    continue
                # Rotated (or created): what was written to the old file is all there
                # now (writers hold the lock the rename waits for); read it, then move on.
                data = _read_to_end(fd) if fd is not None else b""
                if fd is not None:
                    posix.close(fd)
                try:
                    fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
                except FileNotFoundError:
                    fd = None
                if data:
                    buf += data
                    complete, _, buf = buf.rpartition(b"\n")
                    yield from lines(complete)
                buf = b""
                continue
            buf += data
            complete, _, buf = buf.rpartition(b"\n")
            yield from lines(complete)
    finally:
        if fd is not None:
            posix.close(fd)


def _open_locked(path: str) -> int | None:
    """The live file, opened and share-locked, or None when nothing was recorded yet."""
    import fcntl

    for _ in range(8):
        try:
            fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
        except FileNotFoundError:
            return None
        fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            if posix.stat(path).st_ino == posix.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        posix.close(fd)
    return None


def _read_to_end(fd: int) -> bytes:
    chunks = []
    while True:
        b = posix.read(fd, 1 << 16)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


# --- filters -------------------------------------------------------------------------------------


def parse_filters(items: list[str]) -> dict[str, list[str]]:
    """``--filter key=value`` flags into Docker's filter map (values of a key OR, keys AND)."""
    from minke.errors import InvalidArgument

    out: dict[str, list[str]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq or not key:
            raise InvalidArgument(f"bad format of filter (expected name=value): {item}")
        out.setdefault(key, []).append(value)
    check_filters(out)
    return out


def check_filters(filters: Mapping[str, list[str]]) -> None:
    from minke.errors import InvalidArgument

    for key in filters:
        if key not in FILTER_KEYS:
            raise InvalidArgument(f"invalid filter '{key}'")


def _exact(filters: Mapping[str, list[str]], key: str, *values: str) -> bool:
    want = filters.get(key)
    return not want or any(v in want for v in values)


def _fuzzy(filters: Mapping[str, list[str]], key: str, *values: str) -> bool:
    want = filters.get(key)
    return not want or any(v and (v == w or v.startswith(w)) for w in want for v in values)


def _familiar_name(ref: str) -> str:
    """``docker.io/library/busybox:latest`` -> ``busybox``: a reference's name without tag
    or digest, shortened as Docker prints it (its FamiliarName).  An ID stays as it is."""
    if not ref or ref.startswith("sha256:"):
        return ref
    name = ref.split("@", 1)[0]
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name = name[:colon]
    for prefix in ("docker.io/", "index.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            if name.startswith("library/") and name.count("/") == 1:
                name = name[len("library/"):]
            break
    return name


def matches(ev: Mapping, filters: Mapping[str, list[str]]) -> bool:
    """Docker's event filter (daemon/events/filter.go): ``event`` exact (a prefix for
    ``exec_create``, ``exec_start`` and ``health_status``, whose actions carry the command
    or status after a colon), ``type`` and ``scope`` exact, ``container`` / ``network`` /
    ``volume`` the actor's ID or name by prefix, ``image`` the image by ID or name, with or
    without its tag, ``label`` every ``key`` or ``key=value`` among the attributes."""
    if not filters:
        return True
    actor = ev.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    actor_id = actor.get("ID") or ""
    action = ev.get("Action") or ""
    etype = ev.get("Type") or ""
    want_events = filters.get("event") or []
    if any(w in ("exec_create", "exec_start", "health_status") for w in want_events):
        if not _fuzzy(filters, "event", action):
            return False
    elif not _exact(filters, "event", action):
        return False
    if not _exact(filters, "type", etype) or not _exact(filters, "scope", ev.get("scope") or "local"):
        return False
    for key in ("container", "network", "volume"):
        if not _fuzzy(filters, key, actor_id, attrs.get("name") or ""):
            return False
    for key in ("daemon", "plugin", "node", "service", "secret", "config"):
        if filters.get(key):
            return False  # minke records no such events
    if filters.get("image"):
        image_id = tag = ""
        if etype == "container":
            image_id = attrs.get("image") or ""
        elif etype == "image":
            image_id, tag = actor_id, attrs.get("name") or ""
        cands = [v for v in (image_id, tag, _familiar_name(image_id), _familiar_name(tag)) if v]
        if not _exact(filters, "image", *cands) or not cands:
            return False
    for label in filters.get("label") or []:
        k, eq, v = label.partition("=")
        if k not in attrs or (eq and attrs[k] != v):
            return False
    return True


# --- time -------------------------------------------------------------------------------------------


def parse_time(value: str, now_ns: int | None = None) -> int:
    """``--since`` / ``--until`` as Docker takes them (its GetTimestamp): a Go duration
    before now (``10m``, ``1h30m``, ``-5s`` is in the future), a unix timestamp
    (``1700000000`` or ``1700000000.123456789``), or an RFC 3339 date or time
    (``2026-11-28``, ``2026-11-28T18:00``, ``2026-11-28T18:00:00.5Z``, ``...+01:00``;
    without a zone, local time).  Unix nanoseconds."""
    import re

    from minke.errors import InvalidArgument

    now_ns = time.time_ns() if now_ns is None else now_ns
    value = value.strip()
    d = parse_duration(value)
    if d is not None and value != "0":
        return now_ns - d
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?)?"
                     r"([zZ]|[+-]\d{2}:\d{2})?", value)
    if m is None:
        if "-" in value:
            raise InvalidArgument(f"parsing time {value!r}: not an RFC 3339 time")
        m2 = re.fullmatch(r"(\d+)(?:\.(\d+))?", value)
        if m2 is None:
            raise InvalidArgument(f"failed to parse value as time or duration: {value!r}")
        frac = (m2.group(2) or "")[:9]
        return int(m2.group(1)) * 1_000_000_000 + (int(frac.ljust(9, "0")) if frac else 0)
    import calendar

    y, mo, da, hh, mi, ss, frac, zone = m.groups()
    try:
        fields = (int(y), int(mo), int(da), int(hh or 0), int(mi or 0), int(ss or 0))
        if not (1 <= fields[1] <= 12 and 1 <= fields[2] <= 31 and fields[3] < 24 and fields[4] < 60 and fields[5] < 61):
            raise ValueError
        if zone:
            secs = calendar.timegm((*fields, 0, 0, 0))
            if zone not in ("Z", "z"):
                sign = 1 if zone[0] == "+" else -1
                secs -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
        else:
            secs = int(time.mktime((*fields, 0, 0, -1)))  # local time, as Docker's
    except (ValueError, OverflowError):
        raise InvalidArgument(f"parsing time {value!r}: out of range") from None
    return secs * 1_000_000_000 + (int(frac[:9].ljust(9, "0")) if frac else 0)


_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
          "m": 60_000_000_000, "h": 3_600_000_000_000}


def parse_duration(value: str) -> int | None:
    """Go's time.ParseDuration in nanoseconds (``1h30m``, ``1.5s``, ``-10m``, ``0``), or
    None when ``value`` is not one."""
    import re

    m = re.fullmatch(r"([-+]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+|0)", value)
    if m is None:
        return None
    if m.group(2) == "0":
        return 0
    total = 0
    for num, unit in re.findall(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)", m.group(2)):
        whole, _, frac = num.partition(".")
        scale = _UNITS[unit]
        total += int(whole or 0) * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
    return -total if m.group(1) == "-" else total


# --- printing ------------------------------------------------------------------------------------


def rfc3339nano_local(ns: int) -> str:
    """Go's ``RFC3339NanoFixed`` in local time, as the docker CLI prints event times."""
    secs, frac = divmod(ns, 1_000_000_000)
    lt = time.localtime(secs)
    off = lt.tm_gmtoff or 0
    zone = "Z" if off == 0 else f"{'+' if off > 0 else '-'}{abs(off) // 3600:02d}:{abs(off) % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", lt) + f".{frac:09d}" + zone


def format_text(ev: Mapping) -> str:
    """The docker CLI's default line: ``TIME TYPE ACTION ID (k=v, ...)`` (no newline)."""
    actor = ev.get("Actor") or {}
    t = ev.get("timeNano") or (ev.get("time") or 0) * 1_000_000_000
    line = f"{rfc3339nano_local(t)} {ev.get('Type', '')} {ev.get('Action', '')} {actor.get('ID', '')}"
    attrs = actor.get("Attributes") or {}
    if attrs:
        line += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return line
