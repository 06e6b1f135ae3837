"""minke.store.sqlite: the C module loaded without functools, its statement cache intact."""

from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-S", "-c", code], env=dict(os.environ, PYTHONPATH=REPO),
                          capture_output=True, text=True, check=True).stdout.strip()


def test_loaded_without_functools_and_collections():
    out = _run("import sys\nfrom minke.store.sqlite import sqlite3\n"
               "print(sqlite3.__name__, sorted(m for m in ('functools', 'collections', 'itertools', 'datetime')"
               " if m in sys.modules))")
    assert out == "_sqlite3 []"


def test_the_statement_cache_works_and_functools_comes_back_whole():
    # More distinct statements than the cache holds, each run twice: the lent lru_cache
    # evicts and re-prepares as the real one; afterwards functools is the real module.
    out = _run(
        "import sys\nfrom minke.store.sqlite import sqlite3\n"
        "c = sqlite3.connect(':memory:', cached_statements=8)\n"
        "c.row_factory = sqlite3.Row\n"
        "c.execute('CREATE TABLE t (a INTEGER)')\n"
        "c.executemany('INSERT INTO t VALUES (?)', [(i,) for i in range(40)])\n"
        "total = 0\n"
        "for _ in range(2):\n"
        "    for k in range(20):\n"
        "        total += c.execute(f'SELECT a FROM t WHERE a >= {k} AND a < ?', (k + 1,)).fetchone()['a']\n"
        "import functools\n"
        "print(total, callable(functools.partial), functools.lru_cache.__module__)")
    assert out == f"{2 * sum(range(20))} True functools"


def test_with_functools_already_loaded_it_is_the_plain_import():
    out = _run("import functools, sys\nfrom minke.store.sqlite import sqlite3\n"
               "print(sys.modules['functools'] is functools)")
    assert out == "True"
