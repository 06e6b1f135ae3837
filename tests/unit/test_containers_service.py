"""ContainerService without root: the real Database, a fake snapshotter and image service.
What needs the kernel (start, the monitor) is in tests/integration."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from minke.config import Config
from minke.containers.service import ContainerService
from minke.containers.state import Status
from minke.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from minke.store.db import Database

IMAGE_ID = "sha256:" + "cd" * 32


@dataclass(frozen=True)
class FakeMount:
    type: str
    source: str
    options: tuple[str, ...]


class FakeSnapshotter:
    def __init__(self) -> None:
        self.active: dict[str, str | None] = {}
        self.fail_prepare = False

    def prepare(self, key, parent=None, labels=None):
        if self.fail_prepare:
            raise OSError("disk full")
        if key in self.active:
            raise AlreadyExists(f"snapshot {key} exists")
        self.active[key] = parent
        return self.mounts(key)

    def mounts(self, key):
        if key not in self.active:
            raise NotFound(f"snapshot {key} not found")
        return [FakeMount("overlay", "overlay", ("lowerdir=/l", f"upperdir=/u/{key}", "workdir=/w"))]

    def remove(self, key):
        if key not in self.active:
            raise NotFound(f"snapshot {key} not found")
        del self.active[key]

    def usage(self, key):
        return 4096


@dataclass(frozen=True)
class FakeImage:
    id: str
    chain_id: str | None


class FakeImages:
    def get(self, ref):
        if ref not in ("busybox", "busybox:latest", IMAGE_ID):
            raise NotFound(f"No such image: {ref}")
        return FakeImage(IMAGE_ID, "sha256:chain")

    def image_config(self, image_id):
        return {"config": {"Cmd": ["sh"], "Env": ["PATH=/bin"], "WorkingDir": "/w", "Labels": {"from": "image"}}}


@pytest.fixture
def svc(tmp_path):
    cfg = Config(root=str(tmp_path / "root"), run_root=str(tmp_path / "run"), runtime="runc")
    os.makedirs(cfg.root)
    db = Database(cfg.db_path)
    s = ContainerService(cfg, db, FakeImages(), FakeSnapshotter())
    # Unit tests need no runtime binary: resolve every name to /bin/true.
    s.runtime_argv = lambda name: ["/bin/true", "--root", cfg.run_root]  # type: ignore[method-assign]
    yield s
    db.close()


def test_create_defaults_and_files(svc):
    c = svc.create({"Image": "busybox", "Env": ["A=1"], "Labels": {"x": "y"}}, {}, name="web")
    assert c.status is Status.CREATED and c.name == "web" and c.image_id == IMAGE_ID
    assert c.config["Cmd"] == ["sh"] and c.config["WorkingDir"] == "/w"
    assert c.config["Env"] == ["PATH=/bin", "A=1"]
    assert c.config["Labels"] == {"from": "image", "x": "y"}
    assert c.config["Hostname"] == c.id[:12]
    assert c.host_config["RestartPolicy"] == {"Name": "", "MaximumRetryCount": 0}
    d = svc.container_dir(c.id)
    assert open(os.path.join(d, "hostname")).read() == c.id[:12] + "\n"
    assert c.id[:12] in open(os.path.join(d, "hosts")).read()
    assert os.path.exists(os.path.join(d, "resolv.conf"))
    assert svc.snapshots.active == {c.id: "sha256:chain"}


def test_lookup_by_id_prefix_and_name(svc):
    c = svc.create({"Image": "busybox"}, {}, name="web")
    assert svc.get(c.id).id == c.id
    assert svc.get(c.id[:5]).id == c.id
    assert svc.get("web").id == c.id and svc.get("/web").id == c.id
    with pytest.raises(NotFound, match="No such container: nope"):
        svc.get("nope")


def test_name_conflict_and_rename(svc):
    a = svc.create({"Image": "busybox"}, {}, name="one")
    with pytest.raises(AlreadyExists) as e:
        svc.create({"Image": "busybox"}, {}, name="one")
    assert str(e.value) == (
        f'Conflict. The container name "/one" is already in use by container "{a.id}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    )
    assert len(svc.list()) == 1 and len(svc.snapshots.active) == 1  # nothing half-made
    b = svc.create({"Image": "busybox"}, {})
    assert b.name != "one" and "_" in b.name  # a generated adjective_whale name
    with pytest.raises(AlreadyExists):
        svc.rename(b.id, "one")
    svc.rename("one", "uno")
    assert svc.get("uno").id == a.id
    with pytest.raises(InvalidArgument, match="invalid container name"):
        svc.rename("uno", "-bad")
    with pytest.raises(InvalidArgument, match="same name"):
        svc.rename("uno", "uno")


def test_bad_input_leaves_nothing(svc):
    with pytest.raises(NotFound):
        svc.create({"Image": "nosuch"}, {})
    with pytest.raises(InvalidArgument, match="minimum memory"):
        svc.create({"Image": "busybox"}, {"Memory": 1000})
    with pytest.raises(InvalidArgument, match="invalid container name"):
        svc.create({"Image": "busybox"}, {}, name="a")
    svc.snapshots.fail_prepare = True
    with pytest.raises(OSError):
        svc.create({"Image": "busybox"}, {}, name="half")
    assert svc.list() == [] and svc.snapshots.active == {}
    assert not os.path.exists(svc.config.containers_dir) or os.listdir(svc.config.containers_dir) == []


def test_remove_rules(svc):
    c = svc.create({"Image": "busybox"}, {}, name="web")
    svc._update(c.id, status="running", monitor_pid=os.getpid(), monitor_start=_start(os.getpid()))
    with pytest.raises(Conflict, match="stop the container before removing"):
        svc.remove("web")
    svc._update(c.id, status="exited", monitor_pid=0)
    svc.remove("web")
    assert svc.list() == [] and svc.snapshots.active == {}
    assert not os.path.exists(svc.container_dir(c.id))


def _start(pid):
    from minke.containers.monitor import proc_start_time

    return proc_start_time(pid)


def test_dead_monitor_reconciled(svc):
    c = svc.create({"Image": "busybox"}, {}, name="web")
    # A running container whose monitor pid is ours but with another start time: a reused pid.
    svc._update(c.id, status="running", pid=12345, monitor_pid=os.getpid(), monitor_start=1)
    got = svc.get("web")
    assert got.status is Status.EXITED and got.error == "container monitor died" and got.exit_code == 137
    assert [x.status for x in svc.list(all=False)] == []


def test_adopt_running_state_unless_exit_recorded(svc):
    c = svc.create({"Image": "busybox"}, {}, name="web")
    os.makedirs(svc.run_dir(c.id))
    state = {"init_pid": 42, "started_at": 100.0, "monitor_pid": os.getpid(), "monitor_start": _start(os.getpid()), "restart_count": 0}
    from minke.containers.monitor import dump_settings

    with open(os.path.join(svc.run_dir(c.id), "monitor.state"), "w") as f:
        f.write(dump_settings(state))
    got = svc.get("web")  # the CLI that started it died before recording it
    assert got.status is Status.RUNNING and got.pid == 42 and got.started_at == 100.0
    svc._update(c.id, status="exited", finished_at=200.0)
    assert svc._adopt(c.id) is False  # an exit after that start is kept


def test_inspect_shape(svc):
    c = svc.create({"Image": "busybox", "Cmd": ["echo", "hi"]}, {"Memory": 64 << 20}, name="web")
    d = svc.inspect("web")
    assert d["Id"] == c.id and d["Name"] == "/web" and d["Path"] == "echo" and d["Args"] == ["hi"]
    assert d["State"]["Status"] == "created" and d["State"]["Running"] is False and d["State"]["Pid"] == 0
    assert d["State"]["StartedAt"] == "0001-01-01T00:00:00Z"
    assert d["HostConfig"]["Memory"] == 64 << 20 and d["Config"]["Image"] == "busybox"
    assert d["Image"] == IMAGE_ID and d["RestartCount"] == 0
    assert d["LogPath"].endswith(f"{c.id}-json.log")
    assert d["GraphDriver"]["Name"] == "overlay2" and d["GraphDriver"]["Data"]["UpperDir"] == f"/u/{c.id}"
    assert d["Created"].endswith("Z")


def test_prune_removes_stopped_only(svc):
    a = svc.create({"Image": "busybox"}, {}, name="stopped")
    b = svc.create({"Image": "busybox"}, {}, name="running")
    svc._update(b.id, status="running", monitor_pid=os.getpid(), monitor_start=_start(os.getpid()))
    deleted, space = svc.prune()
    assert deleted == [a.id] and space == 4096
    assert [c.name for c in svc.list()] == ["running"]
    svc._update(b.id, status="exited", monitor_pid=0)


def test_default_seccomp_cached_per_caps(svc):
    caps = ["CAP_CHOWN", "CAP_KILL"]
    first = svc._default_seccomp(caps)
    assert first is not None and first["defaultAction"]
    cached = os.listdir(os.path.join(svc.config.run_root, "seccomp"))
    assert len(cached) == 1
    assert svc._default_seccomp(list(reversed(caps))) == first  # same key, read back
    svc._default_seccomp(caps + ["CAP_SYS_ADMIN"])
    assert len(os.listdir(os.path.join(svc.config.run_root, "seccomp"))) == 2



def test_default_seccomp_cache_stays_bounded(svc, monkeypatch):
    from minke.runtime import seccomp_load

    monkeypatch.setattr(seccomp_load, "CACHE_ENTRIES", 2)
    for extra in ("CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_PTRACE"):
        svc._default_seccomp(["CAP_CHOWN", extra])
    cached = os.listdir(os.path.join(svc.config.run_root, "seccomp"))
    assert len(cached) == 2
    # The newest is among them: read back, not built again.
    monkeypatch.setattr("minke.runtime.seccomp.default_profile", lambda *_a: pytest.fail("built despite the cache"))
    assert svc._default_seccomp(["CAP_CHOWN", "CAP_SYS_PTRACE"])["defaultAction"]


def test_sync_reports_written_together_are_read_one_by_one():
    # A monitor whose client attached at once writes "created" and "ok" before a slow CLI
    # reads: one read brings both, and the "ok" must not be lost (the CLI said "monitor
    # failed to start" of a running container, and --rm removed it).
    from minke.containers.service import SyncLines

    r, w = os.pipe()
    try:
        os.write(w, b"created 42\nok 42\n")
        os.write(w, b"err 127 not ")
        lines = SyncLines(r)
        assert lines.next() == "created 42"
        assert lines.next() == "ok 42"
        os.write(w, b"found\n")
        assert lines.next() == "err 127 not found"
        os.write(w, b"partial")
        os.close(w)
        w = -1
        assert lines.next() == "partial"
        assert lines.next() == ""
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
