"""The built-in runtime's child of a container's monitor (``monitor.BuiltinRun``): it
runs in the fork, which imports this module; the monitor itself never loads this code.
"""

from __future__ import annotations

import _signal as signal
import posix
import sys

from minke.containers.monitor import ABORTED, DEVNULL, _read_retry

_WARM = ("minke.runtime.cli", "minke.runtime.container", "minke.runtime.spec", "minke.runtime.init",
         "minke.runtime.rootfs", "minke.runtime.seccomp_load", "minke.runtime.capabilities", "minke.runtime.syscalls",
         "minke.runtime.libc", "minke.runtime.cgroups", "minke.runtime.cgroups.v1", "minke.runtime.cgroups.v2")


def run_child(job_r: int, up_w: int, warm: bool) -> None:
    code, failed = 1, 0
    try:
        # The monitor's handlers are not the runtime's: an exec would have reset them.
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)  # the monitor's wake pipe (a restart's fork inherits it)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        sys.argv[0] = "minke-runtime"
        if warm:
            # A create is coming: the kernel's wait for the container's first cgroup
            # move (minke.runtime.grace) passes while we import, not during the create.
            from minke.runtime import grace

            grace.hold()
            _warm_runtime()
        data = b""
        while not data.endswith(b"\0"):
            try:
                b = _read_retry(job_r, 65536)
            except OSError:
                b = b""
            if not b:
                posix._exit(ABORTED)  # no job, or not all of it
            data += b
        root, pause, numbers, *lines = data[:-1].decode().split("\n")
        pause_before = int(pause)
        fds = [_reopen(int(n), i % 3) for i, n in enumerate(numbers.split())]
        from minke.runtime.cli import main as runtime_main

        code = 0
        for failed, line in enumerate(lines):  # noqa: B007 - read in finally
            if failed == pause_before:
                try:
                    posix.write(up_w, b"p")
                    go_on = _read_retry(job_r, 16) == b"r"
                except OSError:
                    go_on = False
                if not go_on:
                    break  # the monitor did not resume: leave the rest undone
            # dup2 onto 0-2 (inheritable, as an exec'd runtime's stdio would be).
            for target, fd in enumerate(fds[3 * failed : 3 * failed + 3]):
                posix.dup2(fd, target)
            code = runtime_main(["--root", root, *line.split("\x1f")])
            sys.stderr.flush()
            if code != 0:
                break
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: B036 - nothing may return into the monitor's code
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            # A later step's failure is told apart from the first's by 100 + its index.
            posix._exit(code if code == 0 or failed == 0 else 100 + failed)


def _reopen(fd: int, slot: int) -> int:
    """The monitor's fd ``fd`` (a pipe end or /dev/null; -1: /dev/null) opened anew in
    the child, for reading as stdin (slot 0) or for writing (1, 2)."""
    path = DEVNULL if fd < 0 else f"/proc/{posix.getppid()}/fd/{fd}"
    return posix.open(path, (posix.O_RDONLY if slot == 0 else posix.O_WRONLY) | posix.O_CLOEXEC)


def _warm_runtime() -> None:
    """Import what the runtime's create will need (the modules it imports inside its
    functions too), ahead of the job."""
    for name in _WARM:
        try:
            __import__(name)
        except ImportError:
            pass
