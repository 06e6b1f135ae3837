"""Volumes through the containers hooks, in real containers on minke-runtime and runc:
data outlives the container, the image's content fills a new volume, ro holds."""

from __future__ import annotations

import copy
import os

import pytest
from runtime_bundle import RUNTIMES, Driver, default_config, make_rootfs, write_bundle

from minke.config import Config
from minke.store.db import Database
from minke.volumes.container import create_hook, remove_hook, start_hook
from minke.volumes.service import VolumeService

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory):
    root = make_rootfs(str(tmp_path_factory.mktemp("busybox") / "rootfs"))
    os.makedirs(os.path.join(root, "data"))
    with open(os.path.join(root, "data", "seed"), "w") as f:
        f.write("seeded by the image\n")
    os.makedirs(os.path.join(root, "logs"))
    return root


@pytest.fixture(params=sorted(RUNTIMES))
def rt(request, tmp_path):
    d = Driver(request.param, str(tmp_path / "state"))
    yield d
    d.cleanup()


@pytest.fixture
def vols(tmp_path):
    cfg = Config(root=str(tmp_path / "root"), run_root=str(tmp_path / "run"))
    os.makedirs(cfg.root)
    db = Database(cfg.db_path)
    yield VolumeService(cfg, db)
    db.close()


def _run(rt, vols, tmp_path, rootfs, name, hc, args, image_volumes=None):
    hc = create_hook(vols, hc, image_volumes)
    spec = default_config(args)
    start_hook(vols, hc, rootfs, spec)
    r = rt.run(write_bundle(str(tmp_path / name), rootfs, copy.deepcopy(spec)))
    return hc, r


def test_named_volume_outlives_its_container(rt, vols, rootfs, tmp_path):
    _, r = _run(rt, vols, tmp_path, rootfs, "one", {"Binds": ["store:/data"]},
                ["sh", "-c", "cat /data/seed && echo written >> /data/note"])
    assert r.returncode == 0 and r.stdout == "seeded by the image\n", r.stderr
    _, r = _run(rt, vols, tmp_path, rootfs, "two", {"Mounts": [{"Type": "volume", "Source": "store", "Target": "/mnt", "ReadOnly": True}]},
                ["sh", "-c", "cat /mnt/note; echo x > /mnt/other"])
    assert r.stdout == "written\n" and r.returncode != 0 and "Read-only" in r.stderr + r.stdout
    assert sorted(os.listdir(vols.get("store").mountpoint)) == ["note", "seed"]


def test_anonymous_volumes_from_image_and_rm_v(rt, vols, rootfs, tmp_path):
    hc, r = _run(rt, vols, tmp_path, rootfs, "anon", {"Tmpfs": {"/scratch": "size=1m"}},
                 ["sh", "-c", "echo hi > /logs/a && grep -c ' /logs ' /proc/mounts"], image_volumes={"/logs": {}})
    assert r.returncode == 0 and r.stdout == "1\n", r.stderr
    assert hc["Tmpfs"] == {"/scratch": "size=1m"}  # left for build_spec
    (anon,) = [m["Source"] for m in hc["Mounts"] if m["Type"] == "volume"]
    assert vols.get(anon).anonymous and os.listdir(vols.get(anon).mountpoint) == ["a"]
    assert remove_hook(vols, hc) == [anon]
    assert vols.list() == []
