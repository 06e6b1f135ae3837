"""minke.config: paths given relative (``--root R --run-root RR``) are made absolute, since
they go to processes that run elsewhere (the monitor runs in /)."""

from __future__ import annotations

import os

from minke.config import Config


def test_relative_roots_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    c = Config.from_env({}, root="R", run_root="RR")
    assert c.root == str(tmp_path / "R") and c.run_root == str(tmp_path / "RR")
    assert c.db_path == os.path.join(str(tmp_path / "R"), "minke.db")
    c = Config.from_env({"MINKE_ROOT": "a/b", "MINKE_CONFIG_DIR": "etc"})
    assert c.root == str(tmp_path / "a" / "b") and c.config_dir == str(tmp_path / "etc")


def test_defaults_stay_as_they_are():
    c = Config.from_env({})
    assert (c.root, c.run_root) == ("/var/lib/minke", "/run/minke")
