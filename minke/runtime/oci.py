"""The engine's view of an OCI runtime: the runc command contract as a Python interface.

``OCIRuntime`` is what the containers service calls; ``CommandRuntime(binary, root)``
implements it for any runc-compatible binary (runc, crun, youki or ``minke-runtime``,
the built-in one) by running it as a subprocess with a private ``--root``.
``builtin_runtime(root)`` is the built-in one.

Lifecycle (the runtime's own state machine; see ``minke.runtime.container``)::

    create(id, bundle) -> "created" -- start -> "running" -- exit -> "stopped" -- delete
                              \\----------------------------------------------- delete

A failing command raises the ``minke.errors`` class that fits its one-line message
(NotFound, AlreadyExists, FailedPrecondition, InvalidArgument), else MinkeError.
"""

from __future__ import annotations

import os
import subprocess
import sys

from minke import fastjson
from minke.errors import AlreadyExists, FailedPrecondition, InvalidArgument, MinkeError, NotFound

Stdio = tuple[int | None, int | None, int | None]

TYPE_CHECKING = False
if TYPE_CHECKING:  # the interface, for the type checker: typing costs exec and top ~5 ms
    from typing import Protocol
else:
    Protocol = object


class OCIRuntime(Protocol):
    def create(
        self,
        id: str,
        bundle: str,
        *,
        pid_file: str | None = None,
        console_socket: str | None = None,
        stdio: Stdio = (None, None, None),
    ) -> None:
        """Set the container up; its init waits for ``start``.  ``stdio`` (fds) become the
        container's stdin/stdout/stderr (None: inherit ours)."""

    def start(self, id: str) -> None: ...

    def state(self, id: str) -> dict:
        """The OCI state: ociVersion, id, status, pid, bundle, annotations."""

    def kill(self, id: str, sig: int | str = 15, all: bool = False) -> None: ...

    def delete(self, id: str, force: bool = False) -> None: ...

    def exec(
        self,
        id: str,
        process: dict,
        *,
        detach: bool = False,
        pid_file: str | None = None,
        console_socket: str | None = None,
        stdio: Stdio = (None, None, None),
    ) -> int:
        """Run a process (an OCI ``process`` object) in the container; its exit code,
        or 0 as soon as it started when ``detach``."""

    def pause(self, id: str) -> None: ...

    def resume(self, id: str) -> None: ...

    def update(self, id: str, resources: dict) -> None:
        """Change the container's cgroup limits (an OCI ``linux.resources`` object; what it
        leaves out, or sets to 0, stays as it is)."""


def _error(message: str) -> MinkeError:
    """The error class for a runtime's one-line complaint (runc's and ours)."""
    low = message.lower()
    if "does not exist" in low or "not found" in low:
        return NotFound(message)
    if "already exists" in low or "exists" in low and "id" in low:
        return AlreadyExists(message)
    if "cannot" in low or "not running" in low or "not paused" in low or "not stopped" in low:
        return FailedPrecondition(message)
    if "invalid" in low or "must be" in low or "missing" in low or "unknown" in low:
        return InvalidArgument(message)
    return MinkeError(message)


def _last_line(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    if not lines:
        return "runtime failed"
    line = lines[-1]
    # runc: time="..." level=error msg="..."; ours: minke-runtime: ...
    if 'msg="' in line:
        line = line.split('msg="', 1)[1].rsplit('"', 1)[0]
    elif line.startswith("minke-runtime: "):
        line = line[len("minke-runtime: ") :]
    return line


class CommandRuntime:
    """A runc-compatible binary run as a subprocess."""

    def __init__(self, binary: str, root: str) -> None:
        self.binary = binary
        self.root = root

    def _argv(self, *args: str) -> list[str]:
        return [self.binary, "--root", self.root, *args]

    def _run(self, *args: str, stdio: Stdio = (None, None, None), capture: bool = False) -> str:
        # stderr goes to a pipe only when the caller gave none; a container started with
        # create keeps the fds it was given, so a pipe here could never reach EOF: use a
        # temporary file instead.
        stdin, stdout, stderr = stdio
        with _unnamed_file() as err, _unnamed_file() as out:
            p = subprocess.run(
                self._argv(*args),
                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                stdout=out if capture else (stdout if stdout is not None else subprocess.DEVNULL),
                stderr=stderr if stderr is not None else err,
                check=False,
            )
            err.seek(0)
            out.seek(0)
            if p.returncode != 0:
                raise _error(_last_line(err.read().decode(errors="replace")))
            return out.read().decode() if capture else ""

    def create(self, id, bundle, *, pid_file=None, console_socket=None, stdio=(None, None, None)) -> None:
        args = ["create", "--bundle", bundle]
        if pid_file:
            args += ["--pid-file", pid_file]
        if console_socket:
            args += ["--console-socket", console_socket]
        self._run(*args, id, stdio=stdio)

    def start(self, id) -> None:
        self._run("start", id)

    def state(self, id) -> dict:
        return fastjson.loads(self._run("state", id, capture=True))

    def kill(self, id, sig=15, all=False) -> None:
        self._run("kill", *(["--all"] if all else []), id, str(sig))

    def delete(self, id, force=False) -> None:
        self._run("delete", *(["--force"] if force else []), id)

    def exec(self, id, process, *, detach=False, pid_file=None, console_socket=None, stdio=(None, None, None)) -> int:
        with json_file(process) as path:
            args = ["exec", "--process", path]
            if detach:
                args.append("--detach")
            if pid_file:
                args += ["--pid-file", pid_file]
            if console_socket:
                args += ["--console-socket", console_socket]
            if process.get("terminal"):
                args.append("--tty")
            stdin, stdout, stderr = stdio
            if detach:
                self._run(*args, id, stdio=stdio)
                return 0
            p = subprocess.run(self._argv(*args, id), stdin=stdin, stdout=stdout, stderr=stderr, check=False)
            return p.returncode

    def pause(self, id) -> None:
        self._run("pause", id)

    def resume(self, id) -> None:
        self._run("resume", id)

    def update(self, id, resources) -> None:
        # runc's -r FILE (every runc-compatible runtime has it); "-" would need our stdin.
        with json_file(resources) as path:
            self._run("update", "--resources", path, id)


# tempfile's files without tempfile (random, shutil, weakref: ~8 ms of `exec`).


class _unnamed_file:
    """tempfile.TemporaryFile: an unnamed file in the temporary directory (O_TMPFILE)."""

    def __enter__(self):
        tmp = os.environ.get("TMPDIR") or "/tmp"
        try:
            fd = os.open(tmp, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
        except OSError:  # a filesystem without O_TMPFILE: a named file, unlinked at once
            path = os.path.join(tmp, f"minke-{os.urandom(8).hex()}")
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            os.unlink(path)
        self.f = os.fdopen(fd, "w+b")
        return self.f

    def __exit__(self, *exc) -> None:
        self.f.close()


class json_file:
    """A private file holding ``obj`` as JSON, removed on exit; its path."""

    def __init__(self, obj) -> None:
        self.obj = obj

    def __enter__(self) -> str:
        self.path = os.path.join(os.environ.get("TMPDIR") or "/tmp", f"minke-{os.urandom(8).hex()}.json")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(fastjson.dumps(self.obj))
        return self.path

    def __exit__(self, *exc) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def builtin_binary() -> str:
    """The installed ``minke-runtime`` next to this Python, else the one on PATH."""
    cand = os.path.join(os.path.dirname(sys.executable), "minke-runtime")
    if os.access(cand, os.X_OK):
        return cand
    import shutil

    found = shutil.which("minke-runtime")
    if not found:
        raise MinkeError("minke-runtime is not installed")
    return found


def builtin_runtime(root: str) -> CommandRuntime:
    """The built-in runtime, driven through its command like any other."""
    return CommandRuntime(builtin_binary(), root)
