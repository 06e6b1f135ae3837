"""Pull and push progress, shaped like Docker's output.

On a terminal each layer keeps one line that is rewritten in place (``a3ed95caeb02:
Downloading  1.2MB/3.4MB``); otherwise each state change is printed once as a plain
line; ``quiet`` prints nothing.  Thread-safe: layers report from worker threads.
"""

from __future__ import annotations

import threading
from typing import IO


class Progress:
    def __init__(self, out: IO[str], *, quiet: bool = False, tty: bool | None = None) -> None:
        self.out = out
        self.quiet = quiet
        self.tty = out.isatty() if tty is None else tty
        self._lock = threading.Lock()
        self._order: list[str] = []
        self._lines: dict[str, str] = {}

    def message(self, text: str) -> None:
        if self.quiet:
            return
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()
            if self.tty:
                # Lines above the message are final now.
                self._order.clear()
                self._lines.clear()

    def layer(self, layer_id: str, status: str, current: int | None = None, total: int | None = None) -> None:
        if self.quiet:
            return
        short = layer_id.split(":")[-1][:12]
        text = f"{short}: {status}"
        if self.tty and current is not None and total:
            from minke.cli.units import human_size

            width = 50
            done = min(width, int(width * current / total))
            bar = "=" * max(done - 1, 0) + (">" if done < width else "=") + " " * (width - done)
            text += f" [{bar}]  {human_size(current, 4)}/{human_size(total, 4)}"
        with self._lock:
            if not self.tty:
                if current is not None and status in ("Downloading", "Pushing", "Extracting"):
                    return  # plain output: no byte-by-byte lines
                self.out.write(text + "\n")
                self.out.flush()
                return
            if short not in self._lines:
                self._order.append(short)
                self._lines[short] = text
                self.out.write(text + "\n")
            else:
                self._lines[short] = text
                up = len(self._order) - self._order.index(short)
                self.out.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")
            self.out.flush()
