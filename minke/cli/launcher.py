"""Write the fast ``minke`` launcher script (what ``scripts/install`` puts in PREFIX/bin).

pip's console script runs the interpreter with site (the venv's .pth files, ~4 ms), imports
``re`` for one substitution on argv[0], and ends with ``sys.exit``: the interpreter's
teardown (every module's dict cleared, every object freed) costs a short command ~10 ms
more.  The launcher runs ``minke.cli.main:main`` with ``-I -S`` (no site, no environment,
no script directory on sys.path), puts the package's parent directory first and the
venv's site-packages (httpx, pyroute2, zstandard...) after the standard library, as site
would, and exits through ``launch`` (``exit_now(main())``): at once when the command said nothing is left to
tear down (``minke build``), else by ``SystemExit``.  Same idea as
``minke.runtime.launcher`` for ``minke-runtime``.

    python -m minke.cli.launcher PATH     # e.g. /opt/minke/bin/minke
"""

from __future__ import annotations

import os
import sys


def launcher_text(python: str, pkg_parent: str, site_dirs: list[str]) -> str:
    """The script: a shebang with ``-IS`` (one word: Linux passes the rest of the shebang
    line as a single argument) and four lines of Python."""
    return (f"#!{python} -IS\n"
            "import sys\n"
            f"sys.path.insert(0, {pkg_parent!r})\n"
            f"sys.path.extend({site_dirs!r})\n"
            "from minke.cli.main import launch\n"
            "launch()\n")


def site_dirs() -> list[str]:
    """This interpreter's site-packages directories (purelib, platlib), existing ones."""
    import sysconfig

    out: list[str] = []
    for key in ("purelib", "platlib"):
        path = sysconfig.get_paths()[key]
        if path not in out and os.path.isdir(path):
            out.append(path)
    return out


def write_launcher(path: str, python: str | None = None) -> None:
    """Atomically replace PATH with the launcher for this interpreter and this minke."""
    from minke.runtime.launcher import PKG_PARENT, write_script

    write_script(path, launcher_text(python or sys.executable, PKG_PARENT, site_dirs()))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m minke.cli.launcher PATH")
    write_launcher(sys.argv[1])
