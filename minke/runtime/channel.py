"""The line protocol between the runtime and its forked set-up children (see init.py).

A module of its own, importing only ``os``, so that ``create`` can talk to the child it
forks before it has loaded ctypes and the init's code.
"""

from __future__ import annotations

import os

from minke.errors import MinkeError


class Channel:
    """Line messages over two pipes (one each way)."""

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd = rfd
        self.wfd = wfd
        self._buf = b""

    def send(self, msg: str) -> None:
        os.write(self.wfd, msg.replace("\n", " ").encode() + b"\n")

    def recv(self) -> str | None:
        """The next line, or None at end of file (the other side exited)."""
        while b"\n" not in self._buf:
            chunk = os.read(self.rfd, 4096)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def expect_go(self) -> None:
        if self.recv() != "go":
            os._exit(1)

    def close(self) -> None:
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass


def report_error(ch: Channel, e: BaseException) -> None:
    if isinstance(e, MinkeError):
        name, msg = type(e).__name__, e.message
    elif isinstance(e, OSError):
        name, msg = "MinkeError", (e.strerror or str(e)) if e.filename is None else f"{e.filename}: {e.strerror}"
        if not e.filename and e.strerror and "(" in e.strerror:
            msg = e.strerror  # libc.py's errcheck already names the call
    else:
        name, msg = "MinkeError", f"{type(e).__name__}: {e}"
    try:
        ch.send(f"error {name} {msg}")
    except OSError:
        pass
