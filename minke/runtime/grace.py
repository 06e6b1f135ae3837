"""Start, first thing in ``create``, the wait that the container's first cgroup move has.

Every write to a ``cgroup.procs`` takes the kernel's cgroup_threadgroup_rwsem for writing,
and the first writer after a quiet spell waits for a whole RCU grace period (7-20 ms on
this VM, a third of a create), holding the cgroup mutex meanwhile, so no cgroup can be made
either.  Writers during that grace period, or shortly after it, do not wait again.  So the
runtime's command line, before it loads anything for ``create`` or ``run``, starts a
thread that writes our own pid into the cgroup we are already in (a move to where we are:
no effect); the container's cgroup is made after it (``container._EarlyCgroup``) and the
init is moved in later still, when the grace period is over.

``posix`` and ``_thread`` only: this runs before anything else is imported.
"""

import _thread
import posix
import sys


def own_cgroup_move() -> None:
    """Write our pid into the cgroup.procs of the first hierarchy we are in."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return
    for line in lines:
        _, ctrl, path = line.split(":", 2)
        if not ctrl:
            base = "/sys/fs/cgroup/unified" if len(lines) > 1 else "/sys/fs/cgroup"
        else:
            base = f"/sys/fs/cgroup/{ctrl[5:] if ctrl.startswith('name=') else ctrl}"
        try:
            fd = posix.open(f"{base}{path.rstrip('/')}/cgroup.procs", posix.O_WRONLY | posix.O_CLOEXEC)
        except OSError:
            continue
        try:
            posix.write(fd, str(posix.getpid()).encode())
        except OSError:
            pass
        finally:
            posix.close(fd)
        return


def in_thread(fn, *args):
    """Run ``fn(*args)`` in a thread; returns a wait() that joins it and re-raises its error.

    ``_thread``, not ``threading``: the builtin costs nothing to import."""
    done = _thread.allocate_lock()
    done.acquire()
    failed: list = []
    result: list = []

    def run() -> None:
        try:
            result.append(fn(*args))
        except BaseException as e:  # noqa: B036 - handed to wait()
            failed.append(e)
        finally:
            done.release()

    _thread.start_new_thread(run, ())

    def wait():
        done.acquire()
        done.release()
        if failed:
            raise failed[0]
        return result[0]

    return wait


class Kick:
    """The own-move thread.  ``wait()`` joins it; ``restore()`` puts back the GIL's switch
    interval, lowered meanwhile: the threads that wait in the kernel need the GIL for a
    moment after each system call, and with the default 5 ms interval they would wait
    that long each time while the main thread imports."""

    def __init__(self) -> None:
        self._interval = sys.getswitchinterval()
        sys.setswitchinterval(0.0002)
        self.wait = in_thread(own_cgroup_move)

    def restore(self) -> None:
        sys.setswitchinterval(self._interval)


_pending: Kick | None = None


def start() -> Kick:
    """Start the own move, unless one started and not yet taken is running."""
    global _pending
    if _pending is None:
        _pending = Kick()
    return _pending


def take() -> Kick:
    """The own move started by ``start()`` (it is then forgotten), or a new one."""
    global _pending
    kick = start()
    _pending = None
    return kick
