# (Comments, not docstrings, in this module: the monitor loads it, see the note at the
# top of minke.containers.monitor.)
#
# Docker's json-file log format: written by the monitor, read by ``minke logs``.
#
# One JSON object per line: ``{"log": "text\\n", "stream": "stdout", "time": RFC3339Nano}``.
# Output is split into records at newlines; a line longer than 16 KiB is split into several
# records without the newline, as Docker does.  Rotation: when the file would pass
# ``max_size`` it is renamed to ``.1`` (``.1`` to ``.2`` ...), keeping ``max_files`` files in
# all.  The writer is imported by the monitor, so the write path imports only posix and time (JSON strings are escaped here;
# the reader imports json).
#

# No `from __future__ import annotations` here: the monitor imports this module, and
# that import (with the listing of the stdlib directory it needs) costs every running
# container's monitor memory; these annotations are valid at run time.
import posix  # not os: the monitor imports this module, and os would cost it ~0.27 MiB
import time

MAX_RECORD = 16 * 1024

# JSON string escapes: quote, backslash and the C0 controls; everything else is UTF-8 as is.
_ESCAPES = {i: f"\\u{i:04x}" for i in range(0x20)}
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def json_string(text: str) -> str:
    return '"' + text.translate(_ESCAPES) + '"'


def rfc3339nano(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def parse_rfc3339(value: str) -> float:
    # A Docker log timestamp (or any RFC 3339 time) -> unix seconds (float); ValueError
    # when it is not one.  images.model's parser, loaded here only: the monitor loads
    # this module.
    from minke.images.model import parse_time

    ts = parse_time(value)
    if ts is None:
        raise ValueError(f"not an RFC 3339 time: {value!r}")
    return ts


class LogWriter:
    # Appends records to ``path`` and rotates; not thread-safe (the monitor is one thread).

    def __init__(self, path: str, max_size: int = 10 * 1024 * 1024, max_files: int = 3) -> None:
        self.path = path
        self.max_size = max_size
        self.max_files = max(1, max_files)
        self._fd = posix.open(path, posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT | posix.O_CLOEXEC, 0o640)
        self._size = posix.fstat(self._fd).st_size
        self._partial: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def write(self, stream: str, data: bytes) -> None:
        buf = self._partial[stream] + data
        while True:
            nl = buf.find(b"\n")
            if nl < 0 or nl >= MAX_RECORD:
                if len(buf) >= MAX_RECORD:
                    self._record(stream, buf[:MAX_RECORD])
                    buf = buf[MAX_RECORD:]
                    continue
                break
            self._record(stream, buf[: nl + 1])
            buf = buf[nl + 1 :]
        self._partial[stream] = buf

    def flush(self) -> None:
        # At exit: what is left without a newline becomes a record of its own.
        for stream, buf in self._partial.items():
            if buf:
                self._record(stream, buf)
        self._partial = {"stdout": b"", "stderr": b""}

    def _record(self, stream: str, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace")
        line = (
            '{"log":' + json_string(text) + ',"stream":"' + stream + '","time":"' + rfc3339nano(time.time_ns()) + '"}\n'
        ).encode()
        if self.max_size and self._size and self._size + len(line) > self.max_size:
            self._rotate()
        posix.write(self._fd, line)
        self._size += len(line)

    def _rotate(self) -> None:
        posix.close(self._fd)
        if self.max_files <= 1:
            posix.unlink(self.path)
        else:
            for i in range(self.max_files - 1, 0, -1):
                src = self.path if i == 1 else f"{self.path}.{i - 1}"
                if path_exists(src):
                    posix.replace(src, f"{self.path}.{i}")
        self._fd = posix.open(self.path, posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT | posix.O_CLOEXEC, 0o640)
        self._size = 0

    def close(self) -> None:
        self.flush()
        posix.close(self._fd)


def path_exists(path: str) -> bool:
    # os.path.exists through posix (the running monitor has no os).
    try:
        posix.stat(path)
    except (OSError, ValueError):
        return False
    return True


def log_files(path: str) -> list[str]:
    # The log files oldest first: path.N ... path.1, path.
    rotated = []
    i = 1
    while path_exists(f"{path}.{i}"):
        rotated.append(f"{path}.{i}")
        i += 1
    return list(reversed(rotated)) + ([path] if path_exists(path) else [])


def parse_record(line: bytes) -> tuple[str, str, str] | None:
    # (stream, text, time) or None for a torn/partial line.
    import json

    try:
        rec = json.loads(line)
        return rec["stream"], rec["log"], rec["time"]
    except (ValueError, KeyError, TypeError):
        return None


def read_records(path: str, *, since: float | None = None, until: float | None = None, tail: int | None = None,
                 read_to: dict | None = None):
    # The records of all files, filtered by time, the last ``tail`` of them.
    #
    # ``read_to``, a dict, gets ``path``'s inode and the offset after its last whole line
    # read here: where ``logs -f`` goes on, so a line written meanwhile is neither lost nor
    # shown twice.
    out = []
    for f in log_files(path):
        try:
            with open(f, "rb") as fh:
                data = fh.read()
                if f == path and read_to is not None:
                    data = data[: data.rfind(b"\n") + 1]  # a line being written: the follower's
                    read_to["ino"] = posix.fstat(fh.fileno()).st_ino
                    read_to["offset"] = len(data)
        except FileNotFoundError:
            continue  # rotated away while we read
        for line in data.splitlines():
            rec = parse_record(line)
            if rec is None:
                continue
            if since is not None or until is not None:
                t = parse_rfc3339(rec[2])
                if since is not None and t < since:
                    continue
                if until is not None and t > until:
                    continue
            out.append(rec)
    if tail is not None and tail >= 0:
        out = out[-tail:] if tail else []
    return out
