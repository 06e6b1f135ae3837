"""unmount_rootfs (the monitor's and rm's unmount of a container's rootfs): EBUSY while
the kernel still tears the container's mount namespace down is retried, then detached."""

from __future__ import annotations

import errno

import pytest

from minke.containers import monitor_exit
from minke.runtime import libc


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


@pytest.fixture
def kernel(monkeypatch):
    state = {"mounted": 1, "busy": 0, "calls": []}

    def umount2(target, flags=0):
        state["calls"].append(flags)
        if flags & libc.MNT_DETACH or state["busy"] == 0:
            state["mounted"] -= 1
            return
        state["busy"] -= 1
        raise OSError(errno.EBUSY, "busy")

    monkeypatch.setattr(libc, "umount2", umount2)
    monkeypatch.setattr(monitor_exit, "is_mounted", lambda _t: state["mounted"] > 0)
    monkeypatch.setattr(monitor_exit, "time", _Clock())
    return state


def test_busy_for_a_moment_is_retried(kernel):
    kernel["busy"] = 3
    monitor_exit.unmount_rootfs("/r")
    assert kernel["mounted"] == 0 and kernel["calls"] == [0, 0, 0, 0]


def test_busy_for_good_is_detached_after_a_second(kernel):
    kernel["busy"] = 10**6
    monitor_exit.unmount_rootfs("/r")
    assert kernel["mounted"] == 0 and kernel["calls"][-1] == libc.MNT_DETACH
    assert 150 < len(kernel["calls"]) < 250  # 5 ms apart for a second


def test_mounted_twice_is_unmounted_twice(kernel):
    kernel["mounted"] = 2
    monitor_exit.unmount_rootfs("/r")
    assert kernel["mounted"] == 0 and kernel["calls"] == [0, 0]


def test_other_errors_are_raised(kernel, monkeypatch):
    def eperm(target, flags=0):
        raise OSError(errno.EPERM, "no")

    monkeypatch.setattr(libc, "umount2", eperm)
    with pytest.raises(PermissionError):
        monitor_exit.unmount_rootfs("/r")
