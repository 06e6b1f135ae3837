"""The monitor's wait, after telling an --rm container's exit code, for the `run` that
removes it: every client is heard at once."""

from __future__ import annotations

import socket
import time

from minke.containers.monitor import REMOVING, STDIN, frame
from minke.containers.monitor_exit import hear_removing


class _Mon:
    def __init__(self, clients, bufs=None):
        # Monitor.clients: each connection with what its last reads left of a frame.
        self.clients = {c: {"buf": (bufs or {}).get(i, b"")} for i, c in enumerate(clients)}


def _pairs(n):
    pairs = [socket.socketpair() for _ in range(n)]
    return [a for a, _ in pairs], [b for _, b in pairs]


def test_a_silent_attach_client_does_not_hold_up_the_run_that_removes():
    ours, theirs = _pairs(2)
    try:
        # The first client (an `attach`) neither speaks nor leaves; the second (the `run
        # --rm`) sends some stdin, then REMOVING split across two writes.
        theirs[1].sendall(frame(STDIN, b"late input") + frame(REMOVING, b"")[:3])
        theirs[1].sendall(frame(REMOVING, b"")[3:])
        t = time.monotonic()
        assert hear_removing(_Mon(ours), 10.0) is True
        assert time.monotonic() - t < 5.0
    finally:
        for s in ours + theirs:
            s.close()


def test_clients_that_leave_without_removing_end_the_wait():
    ours, theirs = _pairs(2)
    try:
        theirs[0].sendall(frame(STDIN, b"x"))
        for s in theirs:
            s.close()
        t = time.monotonic()
        assert hear_removing(_Mon(ours), 10.0) is False
        assert time.monotonic() - t < 5.0
    finally:
        for s in ours:
            s.close()


def test_the_wait_ends_after_its_time_when_nobody_says_anything():
    ours, theirs = _pairs(1)
    try:
        t = time.monotonic()
        assert hear_removing(_Mon(ours), 0.2) is False
        assert time.monotonic() - t >= 0.2
    finally:
        for s in ours + theirs:
            s.close()


def test_a_frame_begun_before_the_exit_is_read_whole():
    # The loop had read the first bytes of a stdin frame before the exit: the rest comes
    # now, then REMOVING, which must be found after that frame, not inside it.
    ours, theirs = _pairs(1)
    try:
        stdin = frame(STDIN, bytes([REMOVING]) * 8)
        theirs[0].sendall(stdin[5:] + frame(REMOVING, b""))
        assert hear_removing(_Mon(ours, {0: stdin[:5]}), 5.0) is True
        theirs[0].sendall(frame(STDIN, b"x"))  # and nothing said: not REMOVING
        theirs[0].close()
        assert hear_removing(_Mon(ours), 5.0) is False
    finally:
        for s in ours + theirs:
            s.close()
