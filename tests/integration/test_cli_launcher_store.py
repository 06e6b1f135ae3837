"""The installed launcher's `run`/`create` leave the store's WAL to the next command
(minke.cli.main: no checkpoint at the exit), and every later command sees their rows."""

from __future__ import annotations

import os
import subprocess

from minke.cli.launcher import write_launcher


def test_commands_after_an_exit_at_once_see_its_writes(tmp_path, minke_env, busybox_rootfs_tar):
    launcher = str(tmp_path / "minke")
    write_launcher(launcher)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([launcher, *args], capture_output=True, text=True, env=minke_env.env, timeout=120)

    assert cli("import", busybox_rootfs_tar, "bb:1").returncode == 0
    ids = []
    for i in range(3):
        r = cli("create", "--name", f"w{i}", "--network", "none", "bb:1", "true")
        assert r.returncode == 0, r.stderr
        ids.append(r.stdout.strip())
    wal = os.path.join(minke_env.root, "minke.db-wal")
    assert os.path.getsize(wal) > 0  # left for the next opener, not checkpointed away
    r = cli("run", "--rm", "--network", "none", "bb:1", "echo", "hi")
    assert (r.returncode, r.stdout) == (0, "hi\n"), r.stderr
    r = cli("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}")
    assert sorted(r.stdout.split("\n")[:-1]) == sorted(f"{cid} w{i}" for i, cid in enumerate(ids))
    assert cli("rm", *ids).returncode == 0
    assert cli("ps", "-aq").stdout == ""
