from __future__ import annotations

import json
import os

import pytest

from minke.config import Config
from minke.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from minke.store.db import Database
from minke.volumes.mounts import parse_mount, parse_tmpfs, parse_volume
from minke.volumes.service import ANON_LABEL, VolumeService


@pytest.fixture
def svc(tmp_path):
    cfg = Config(root=str(tmp_path / "root"), run_root=str(tmp_path / "run"))
    os.makedirs(cfg.root)
    db = Database(cfg.db_path)
    yield VolumeService(cfg, db)
    db.close()


def _use(svc, cid: str, name: str) -> None:
    hc = {"Mounts": [{"Type": "volume", "Source": name, "Target": "/d"}]}
    svc.db.execute(
        "INSERT INTO containers (id, name, image_id, image_ref, created, config, host_config, snapshot_key)"
        " VALUES (?, ?, 'sha256:x', 'x', 0, '{}', ?, ?)", (cid, cid, json.dumps(hc), cid))


def test_create_inspect_list_remove(svc):
    v = svc.create("data", labels={"a": "b"})
    assert os.path.isdir(v.mountpoint) and v.mountpoint.endswith("/volumes/data/_data")
    assert svc.create("data") == v  # Docker: creating an existing volume returns it
    with pytest.raises(AlreadyExists):
        svc.create("data", exist_ok=False)
    info = svc.inspect("data")
    assert {k: info[k] for k in ("Name", "Driver", "Labels", "Mountpoint", "Scope", "Options")} == {
        "Name": "data", "Driver": "local", "Labels": {"a": "b"}, "Mountpoint": v.mountpoint, "Scope": "local", "Options": None}
    assert info["CreatedAt"][:2] == "20"
    anon = svc.create()
    assert len(anon.name) == 64 and anon.anonymous and ANON_LABEL in anon.labels
    assert [x.name for x in svc.list()] == sorted([anon.name, "data"])
    svc.remove("data")
    assert not os.path.exists(os.path.dirname(v.mountpoint))
    with pytest.raises(NotFound):
        svc.remove("data")
    svc.remove("data", force=True)


def test_bad_input_leaves_nothing(svc):
    for kw in ({"name": "a b"}, {"name": "x", "driver": "nfs"}, {"name": "x", "options": {"bogus": "1"}},
               {"name": "x", "options": {"type": "tmpfs"}}):
        with pytest.raises(InvalidArgument):
            svc.create(**kw)
    assert svc.list() == []
    assert not os.path.exists(os.path.join(svc.volumes_dir, "x"))


def test_in_use_refused_unless_forced_and_prune(svc):
    svc.create("used")
    svc.create("named")
    anon = svc.create()
    _use(svc, "c1", "used")
    with pytest.raises(Conflict, match="in use"):
        svc.remove("used")
    removed, _ = svc.prune()
    assert removed == [anon.name]  # only anonymous ones, as Docker 23+
    removed, _ = svc.prune(all=True)
    assert removed == ["named"]
    svc.remove("used", force=True)
    assert svc.list() == []


def test_prepare_copies_image_content_once(svc, tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc/app/sub").mkdir(parents=True)
    (rootfs / "etc/app/conf").write_text("hello")
    (rootfs / "etc/app/sub/x").write_text("x")
    os.symlink("conf", rootfs / "etc/app/link")
    os.chmod(rootfs / "etc/app", 0o750)
    (rootfs / "link-to-etc").symlink_to("/etc")
    mounts = svc.prepare([parse_volume("cfg:/etc/app"), parse_volume("/anon"), parse_tmpfs("/t")], str(rootfs))
    v = svc.get("cfg")
    assert mounts[0] == {"destination": "/etc/app", "type": "bind", "source": v.mountpoint, "options": ["rbind", "rprivate", "rw"]}
    assert (open(os.path.join(v.mountpoint, "conf")).read(), os.readlink(os.path.join(v.mountpoint, "link"))) == ("hello", "conf")
    assert os.stat(v.mountpoint).st_mode & 0o777 == 0o750
    assert mounts[1]["source"].endswith("/_data") and mounts[2]["type"] == "tmpfs"
    # Second use: the user's changes stay, nothing is copied again.
    os.unlink(os.path.join(v.mountpoint, "conf"))
    svc.prepare([parse_volume("cfg:/etc/app")], str(rootfs))
    assert not os.path.exists(os.path.join(v.mountpoint, "conf"))
    # Through a symlink inside the rootfs; nocopy leaves it empty.
    svc.prepare([parse_volume("via:/link-to-etc/app"), parse_mount("src=nc,dst=/etc/app,volume-nocopy")], str(rootfs))
    assert os.listdir(svc.get("via").mountpoint) and not os.listdir(svc.get("nc").mountpoint)


def test_prepare_bind(svc, tmp_path):
    target = tmp_path / "made"
    m = svc.prepare([parse_volume(f"{target}:/d")], str(tmp_path))
    assert target.is_dir() and m[0]["source"] == str(target)
    with pytest.raises(InvalidArgument):
        svc.prepare([parse_mount(f"type=bind,src={tmp_path}/missing,dst=/d")], str(tmp_path))


def test_create_and_start_hooks(svc, tmp_path):
    from minke.volumes.container import create_hook, start_hook

    hc = create_hook(svc, {"Binds": ["data:/srv/data", "/tmp:/srv"], "Tmpfs": {"/run": ""}}, {"/var/cache": {}})
    assert hc["Binds"] is None and hc["Tmpfs"] == {"/run": ""}
    assert [(m["Type"], m["Target"]) for m in hc["Mounts"]] == [("volume", "/srv/data"), ("bind", "/srv"), ("volume", "/var/cache")]
    anon = hc["Mounts"][2]["Source"]
    assert svc.get(anon).anonymous and svc.users("data") == []
    spec = {"mounts": [{"destination": "/proc"}, {"destination": "/etc/hosts"}, {"destination": "/srv", "type": "bind"},
                       {"destination": "/var/cache", "type": "tmpfs"}]}
    added = start_hook(svc, hc, str(tmp_path), spec)
    assert [m["destination"] for m in spec["mounts"]] == ["/proc", "/etc/hosts", "/srv", "/srv/data", "/var/cache"]
    assert spec["mounts"][4] == added[1] and added[1]["source"] == svc.get(anon).mountpoint
    with pytest.raises(InvalidArgument):
        create_hook(svc, {"Binds": ["a1:/x"], "Mounts": [{"Type": "bind", "Source": "/tmp", "Target": "/x"}]})
