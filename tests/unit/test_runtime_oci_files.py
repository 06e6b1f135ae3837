"""The OCI runtime adapter's files without tempfile: the process/resources JSON a runc
exec or update reads, and the unnamed files that catch a runtime's output."""

from __future__ import annotations

import json
import os
import stat

from minke.runtime.oci import _unnamed_file, json_file


def test_json_file_is_private_and_gone_after(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    doc = {"args": ["sh", "-c", "echo é"], "env": ["A=1"], "terminal": False}
    with json_file(doc) as path:
        assert os.path.dirname(path) == str(tmp_path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with open(path) as f:
            assert json.load(f) == doc
    assert not os.path.exists(path)
    assert os.listdir(tmp_path) == []


def test_unnamed_file_reads_back_what_was_written_and_has_no_name(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    with _unnamed_file() as f:
        os.write(f.fileno(), b"runtime said no\n")
        assert os.fstat(f.fileno()).st_nlink == 0
        assert os.listdir(tmp_path) == []
        f.seek(0)
        assert f.read() == b"runtime said no\n"
    assert f.closed
