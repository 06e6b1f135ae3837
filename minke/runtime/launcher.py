"""Write the fast ``minke-runtime`` launcher script.

pip's console script runs the interpreter with site: the venv's .pth files and, for an
editable install, its import finder (pathlib, re, importlib.util...) cost ~30 ms per
process, and one container's create, start and delete are three processes.  The launcher
runs the same ``minke.runtime.cli:main`` with ``-I -S`` (no site, no environment, no
script directory on sys.path) and puts the package's parent directory on sys.path itself:
the runtime imports only the standard library and minke.  Same idea as
``ContainerService.runtime_argv`` uses for the engine's own calls.

    python -m minke.runtime.launcher PATH     # e.g. $VENV/bin/minke-runtime
"""

from __future__ import annotations

import os
import sys


def launcher_text(python: str, pkg_parent: str) -> str:
    """The script: a shebang with ``-IS`` (one argument: Linux passes the rest of the
    shebang line as a single word) and three lines of Python."""
    return (f"#!{python} -IS\n"
            "import sys\n"
            f"sys.path.insert(0, {pkg_parent!r})\n"
            "from minke.runtime.cli import main\n"
            "sys.exit(main())\n")


# The directory holding the minke package: what the launchers put first on sys.path.
PKG_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_launcher(path: str, python: str | None = None) -> None:
    """Atomically replace PATH with the launcher for this interpreter and this minke."""
    write_script(path, launcher_text(python or sys.executable, PKG_PARENT))


def write_script(path: str, text: str) -> None:
    """Atomically replace PATH with an executable script (minke.cli.launcher's too)."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m minke.runtime.launcher PATH")
    write_launcher(sys.argv[1])
