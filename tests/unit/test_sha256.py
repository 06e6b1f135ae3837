"""minke.sha256: hashlib's digests, without hashlib's import for small inputs."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

from minke import sha256 as sha

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_same_digests_as_hashlib_small_and_large() -> None:
    for data in (b"", b"abc", os.urandom(1000), os.urandom(sha.SMALL + 1)):
        assert sha.hexdigest(data) == hashlib.sha256(data).hexdigest()
        h = sha.sha256(data[:10], len(data) - 10)
        h.update(data[10:])
        assert h.hexdigest() == hashlib.sha256(data).hexdigest()


def test_small_inputs_do_not_import_hashlib_large_ones_do() -> None:
    code = (f"import sys; sys.path.insert(0, {ROOT!r})\n"
            "from minke import sha256 as s\n"
            "s.hexdigest(b'x' * 1000); print('hashlib' in sys.modules)\n"
            "s.sha256(b'', s.SMALL + 1); print('hashlib' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["False", "True"]
