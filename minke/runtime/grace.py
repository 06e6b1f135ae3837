"""Start, first thing in ``create``, the wait that the container's first cgroup move has.

Every write to a ``cgroup.procs`` takes the kernel's cgroup_threadgroup_rwsem for writing,
and the first writer after a quiet spell waits for a whole RCU grace period (7-20 ms on
this VM, a third of a create), holding the cgroup mutex meanwhile, so no cgroup can be made
either.  Writers during that grace period, or shortly after it, do not wait again.  So the
runtime's command line, before it loads anything for ``create`` or ``run``, starts a
thread that writes our own pid into the cgroup we are already in (a move to where we are:
no effect); the container's cgroup is made after it (``container._EarlyCgroup``) and the
init is moved in later still, when the grace period is over.

A process that knows a ``create`` is coming but not yet when (the built-in runtime's
child of a container's monitor, forked tens of milliseconds before its job) can ``hold()``
the grace period open instead: a thread makes the own move at once and again every few
milliseconds, so the kernel's state never goes back to idle (it does one grace period
after the last writer) and the container's moves find no wait at all.  The hold ends
when the create takes it (``restore()``), or after ``HOLD_SECONDS`` (a job that comes
later than that starts its own grace period, as without a hold).

``posix``, ``_thread`` and ``time`` only: this runs before anything else is imported.
"""

import _thread
import posix
import sys
import time

# How often a hold moves us again: well under the shortest grace period seen here (7 ms).
HOLD_INTERVAL = 0.003
HOLD_SECONDS = 2.0


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
        self.wait = self._start()

    def _start(self):
        """Start the thread; its wait()."""
        return in_thread(own_cgroup_move)

    def restore(self) -> None:
        sys.setswitchinterval(self._interval)


class Hold(Kick):
    """The own move made at once and repeated every ``HOLD_INTERVAL`` until ``restore()``
    (or for ``HOLD_SECONDS``): ``wait()`` returns once the first move is done."""

    _stop = False

    def _start(self):
        first = _thread.allocate_lock()
        first.acquire()

        def run() -> None:
            end = time.monotonic() + HOLD_SECONDS
            try:
                own_cgroup_move()
            finally:
                first.release()
            while not self._stop and time.monotonic() < end:
                time.sleep(HOLD_INTERVAL)
                own_cgroup_move()

        def wait() -> None:
            first.acquire()
            first.release()

        _thread.start_new_thread(run, ())
        return wait

    def restore(self) -> None:
        self._stop = True
        super().restore()


_pending: Kick | None = None


def hold() -> Kick:
    """Hold the grace period open for a create to come (see the module's docstring); the
    create's ``start()``/``take()`` get the hold."""
    global _pending
    if _pending is None:
        _pending = Hold()
    return _pending


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
