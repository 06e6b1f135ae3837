from __future__ import annotations

import pytest

from minke.errors import InvalidArgument
from minke.volumes.mounts import (
    MountSpec,
    check_unique_targets,
    from_api,
    oci_mount,
    parse_mount,
    parse_tmpfs,
    parse_volume,
    to_api,
)


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("data:/var/lib/data", MountSpec("volume", "/var/lib/data", "data")),
        ("data:/d:ro", MountSpec("volume", "/d", "data", readonly=True)),
        ("data:/d:nocopy,rw", MountSpec("volume", "/d", "data", nocopy=True)),
        ("/cache", MountSpec("volume", "/cache")),
        ("/host/dir:/d", MountSpec("bind", "/d", "/host/dir", create_source=True)),
        ("/h:/d:ro,z,rshared", MountSpec("bind", "/d", "/h", True, "rshared", create_source=True)),
    ],
)
def test_parse_volume(spec, want):
    assert parse_volume(spec) == want


@pytest.mark.parametrize("spec", ["", "relative", "data:rel", "a:/b:c:d", "data:/d:bogus", ":/d",
                                  "bad name!:/d", "x:/", "/h:/d:nocopy", "data:/d:rshared"])
def test_parse_volume_invalid(spec):
    with pytest.raises(InvalidArgument):
        parse_volume(spec)


def test_parse_mount():
    assert parse_mount("type=volume,source=vol,target=/d,readonly") == MountSpec("volume", "/d", "vol", True)
    assert parse_mount("target=/d") == MountSpec("volume", "/d")
    assert parse_mount("type=bind,src=/h,dst=/d,bind-propagation=rslave") == MountSpec("bind", "/d", "/h", False, "rslave")
    assert parse_mount("type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1777") == MountSpec(
        "tmpfs", "/t", tmpfs_size=64 << 20, tmpfs_mode=0o1777)
    m = parse_mount('type=volume,src=vol,dst=/d,volume-nocopy,volume-label=a=b,"volume-opt=o=size=1m,uid=1"')
    assert m.nocopy and m.volume_labels == {"a": "b"} and m.volume_options == {"o": "size=1m,uid=1"}
    assert parse_mount("type=volume,dst=/d,ro=false").readonly is False


@pytest.mark.parametrize("spec", ["type=bind,target=/d", "type=bind,src=rel,dst=/d", "type=tmpfs,src=x,dst=/t",
                                  "type=nfs,dst=/d", "source=v", "type=volume,dst=rel", "dst=/d,color=red",
                                  "dst=/d,flag", "type=tmpfs,dst=/t,tmpfs-size=lots", "type=volume,dst=/d,tmpfs-size=1m",
                                  "type=bind,src=/h,dst=/d,bind-propagation=weird", "type=volume,src=a b,dst=/d"])
def test_parse_mount_invalid(spec):
    with pytest.raises(InvalidArgument):
        parse_mount(spec)


def test_parse_tmpfs():
    assert parse_tmpfs("/run") == MountSpec("tmpfs", "/run")
    m = parse_tmpfs("/run:size=1g,mode=700,exec")
    assert (m.tmpfs_size, m.tmpfs_mode, m.tmpfs_options) == (1 << 30, 0o700, ("exec",))
    for bad in ("run", "/run:size=x", "/run:bogus"):
        with pytest.raises(InvalidArgument):
            parse_tmpfs(bad)


def test_api_round_trip():
    for m in (parse_volume("vol:/d:ro"), parse_volume("/h:/d:rshared"), parse_tmpfs("/t:size=1m"),
              parse_mount("type=volume,src=vol,dst=/x,volume-nocopy,volume-label=k=val,volume-opt=type=tmpfs")):
        assert from_api(to_api(m)) == m
    assert to_api(parse_volume("vol:/d")) == {"Type": "volume", "Source": "vol", "Target": "/d", "ReadOnly": False}


def test_oci_mounts():
    assert oci_mount(parse_volume("vol:/d:ro"), "/root/volumes/v/_data") == {
        "destination": "/d", "type": "bind", "source": "/root/volumes/v/_data", "options": ["rbind", "rprivate", "ro"]}
    assert oci_mount(parse_volume("/h:/d:rshared"))["options"] == ["rbind", "rshared", "rw"]
    t = oci_mount(parse_tmpfs("/t:size=1m,mode=1777,exec"))
    assert t["type"] == "tmpfs" and t["options"] == ["nosuid", "nodev", "exec", "size=1048576", "mode=1777"]
    with pytest.raises(InvalidArgument):
        oci_mount(parse_volume("/anon"))


def test_unique_targets():
    check_unique_targets([parse_volume("/a"), parse_volume("/b")])
    with pytest.raises(InvalidArgument):
        check_unique_targets([parse_volume("/a"), parse_tmpfs("/a/")])


def test_container_mounts_precedence_and_image_volumes():
    from minke.volumes.mounts import anonymous_volumes, container_mounts

    hc = {"Binds": ["data:/data", "/h:/etc/x:ro"], "Mounts": [to_api(parse_mount("type=tmpfs,dst=/scratch"))],
          "Tmpfs": {"/run": "size=1m"}}
    ms = container_mounts(hc, {"/data": {}, "/var/log": {}})
    assert [(m.type, m.target, m.source) for m in ms] == [
        ("volume", "/data", "data"), ("bind", "/etc/x", "/h"), ("tmpfs", "/scratch", ""), ("tmpfs", "/run", ""),
        ("volume", "/var/log", "")]
    with pytest.raises(InvalidArgument):
        container_mounts({"Binds": ["a1:/d"], "Tmpfs": {"/d": ""}})
    api = {"Mounts": [{"Type": "volume", "Source": "anon1", "Target": "/a"}, {"Type": "volume", "Source": "named", "Target": "/b"}]}
    assert anonymous_volumes(api, {"anon1"}) == ["anon1"]
