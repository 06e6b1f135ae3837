"""minke.runtime.grace: the own cgroup move that starts the kernel's grace period early,
and the hold that keeps it open for a create to come (no cgroups touched here: the move
itself is replaced by a counter)."""

from __future__ import annotations

import sys
import time

import pytest

from minke.runtime import grace


@pytest.fixture
def moves(monkeypatch):
    made: list[float] = []
    monkeypatch.setattr(grace, "own_cgroup_move", lambda: made.append(time.monotonic()))
    monkeypatch.setattr(grace, "_pending", None)
    return made


def _until(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.001)


def test_a_kick_moves_once_and_restores_the_switch_interval(moves):
    before = sys.getswitchinterval()
    kick = grace.take()
    kick.wait()
    assert len(moves) == 1
    assert sys.getswitchinterval() < before
    kick.restore()
    assert sys.getswitchinterval() == before


def test_a_hold_moves_again_until_the_create_takes_it(moves, monkeypatch):
    monkeypatch.setattr(grace, "HOLD_INTERVAL", 0.002)
    before = sys.getswitchinterval()
    held = grace.hold()
    assert grace.hold() is held  # one hold per process
    held.wait()
    _until(lambda: len(moves) >= 5)  # the grace period kept open: moved again and again
    kick = grace.start()  # what the runtime's create does: it gets the hold, not a new kick
    assert grace.take() is held is kick
    kick.restore()
    assert sys.getswitchinterval() == before
    time.sleep(0.02)
    stopped = len(moves)
    time.sleep(0.02)
    assert len(moves) <= stopped + 1  # at most the move under way when it was told


def test_a_hold_nobody_takes_ends_by_itself(moves, monkeypatch):
    monkeypatch.setattr(grace, "HOLD_INTERVAL", 0.002)
    monkeypatch.setattr(grace, "HOLD_SECONDS", 0.05)
    held = grace.hold()
    held.wait()
    time.sleep(0.15)
    count = len(moves)
    time.sleep(0.05)
    assert len(moves) == count
    assert all(b - moves[0] < 0.1 for b in moves)
    held.restore()
