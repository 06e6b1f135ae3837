"""ImageService logic against a real Database and BlobStore in tmp_path, with images that
have no layers (so no snapshots are needed: the snapshotter is a fake that holds none)."""

from __future__ import annotations

import json

import pytest

from minke.config import Config
from minke.errors import Conflict, InvalidArgument, InvalidReference, NotFound
from minke.images.importer import build_manifest
from minke.images.model import OCI_MANIFEST, canonical_json
from minke.images.service import ImageService


class EmptySnapshotter:
    """A snapshotter holding nothing: enough for layerless images and GC."""

    def walk(self):
        return iter(())

    def stat(self, key):
        raise NotFound(f"snapshot {key} not found")

    def usage(self, key):
        return 0

    def remove(self, key):
        raise NotFound(f"snapshot {key} not found")


@pytest.fixture
def service(tmp_path):
    from minke.store.blobs import BlobStore
    from minke.store.db import Database

    cfg = Config(root=str(tmp_path))
    db = Database(cfg.db_path)
    users: dict[str, bool] = {}
    svc = ImageService(cfg, db, BlobStore(cfg.blobs_dir), EmptySnapshotter(), in_use=lambda i: users.get(i, False))
    svc.users = users  # type: ignore[attr-defined]
    yield svc
    db.close()


def add_image(svc, n: int, tags=(), created="2024-01-01T00:00:00Z", labels=None, diff_ids=()) -> str:
    from minke.images.model import chain_ids

    config = canonical_json(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": created,
            "config": {"Labels": labels or {}, "Cmd": [f"/cmd{n}"]},
            "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
            "history": [{"created": created, "created_by": f"step {n}", "empty_layer": True}],
        }
    )
    cdig = svc.blobs.put(config)
    manifest = build_manifest(cdig, len(config), [])
    svc.blobs.put(manifest)
    image_id, _ = svc.store_image(
        config_bytes=config,
        manifest_bytes=manifest,
        manifest_media_type=OCI_MANIFEST,
        layers=[],
        chain_id=chain_ids(list(diff_ids))[-1] if diff_ids else None,
        size=0,
        tags=[svc.normalise_tag(t) for t in tags],
    )
    return image_id


def test_resolution_by_every_form(service):
    a = add_image(service, 1, ["busybox"])
    assert service.get("busybox").id == a
    assert service.get("busybox:latest").id == a
    assert service.get("docker.io/library/busybox:latest").id == a
    assert service.get(a).id == a
    assert service.get(a.split(":")[1]).id == a
    assert service.get(a.split(":")[1][:1]).id == a  # one hex char is a prefix
    assert service.get("sha256:" + a.split(":")[1][:5]).id == a
    with pytest.raises(NotFound) as e:
        service.get("busybox:1.0")
    assert str(e.value) == "No such image: busybox:1.0"
    with pytest.raises(NotFound) as e:
        service.get("nothere")
    assert str(e.value) == "No such image: nothere:latest"
    with pytest.raises(InvalidReference):
        service.get("UPPER")


def test_ambiguous_prefix(service):
    ids = [add_image(service, n) for n in range(40)]
    firsts = [i.split(":")[1][0] for i in ids]
    dup = next(c for c in firsts if firsts.count(c) > 1)
    with pytest.raises(InvalidArgument) as e:
        service.get(dup)
    assert "ambiguous" in str(e.value)


def test_digest_reference(service):
    a = add_image(service, 1)
    digest = "sha256:" + "1" * 64
    with service.db.transaction():
        service.db.execute("INSERT INTO repo_digests (name, image_id) VALUES (?, ?)", (f"docker.io/library/busybox@{digest}", a))
    assert service.get(f"busybox@{digest}").id == a
    doc = service.inspect(a)
    assert doc["RepoDigests"] == [f"busybox@{digest}"]


def test_tag_moves_and_list_order(service):
    a = add_image(service, 1, ["app:1"], created="2024-01-01T00:00:00Z")
    b = add_image(service, 2, [], created="2024-02-01T00:00:00Z")
    service.tag("app:1", "app:latest")
    service.tag(b, "app:1")  # moves the tag
    listed = service.list()
    assert [i.id for i in listed] == [b, a]  # newest first
    assert listed[0].tags == ("docker.io/library/app:1",)
    assert listed[1].tags == ("docker.io/library/app:latest",)
    with pytest.raises(InvalidReference):
        service.tag(a, "app@sha256:" + "2" * 64)
    doc = service.inspect("app:latest")
    assert doc["Metadata"]["LastTagTime"] != "0001-01-01T00:00:00Z"
    assert service.inspect(b)["RepoTags"] == ["app:1"]


def test_list_filters(service):
    a = add_image(service, 1, ["one"], created="2024-01-01T00:00:00Z", labels={"team": "x"})
    b = add_image(service, 2, ["two", "other/two:v2"], created="2024-02-01T00:00:00Z")
    c = add_image(service, 3, [], created="2024-03-01T00:00:00Z", labels={"team": "y"})
    ids = lambda **f: [i.id for i in service.list(filters={k: v for k, v in f.items()})]  # noqa: E731
    assert ids(dangling=["true"]) == [c]
    assert ids(dangling=["false"]) == [b, a]
    assert ids(label=["team"]) == [c, a]
    assert ids(label=["team=x"]) == [a]
    assert ids(before=["two"]) == [a]
    assert ids(since=["one"]) == [c, b]
    assert ids(reference=["two"]) == [b]
    narrowed = service.list(filters={"reference": ["other/*"]})
    assert narrowed[0].tags == ("docker.io/other/two:v2",)
    with pytest.raises(InvalidArgument):
        service.list(filters={"bogus": ["1"]})
    with pytest.raises(InvalidArgument):
        service.list(filters={"dangling": ["maybe"]})


def test_remove_by_name_untags_then_deletes(service):
    a = add_image(service, 1, ["x:1", "x:2"])
    assert service.remove("x:1") == [{"Untagged": "x:1"}]
    assert service.remove("x:2") == [{"Untagged": "x:2"}, {"Deleted": a}]
    with pytest.raises(NotFound):
        service.get(a)
    assert not service.blobs.exists(a)  # garbage collected


def test_remove_by_id_with_several_repositories_needs_force(service):
    a = add_image(service, 1, ["x:1", "y:1"])
    with pytest.raises(Conflict) as e:
        service.remove(a.split(":")[1][:12])
    assert str(e.value) == (
        f"conflict: unable to delete {a.split(':')[1][:12]} (must be forced) - "
        "image is referenced in multiple repositories"
    )
    recs = service.remove(a, force=True)
    assert recs == [{"Untagged": "x:1"}, {"Untagged": "y:1"}, {"Deleted": a}]


def test_remove_by_id_single_tag(service):
    a = add_image(service, 1, ["x:1"])
    assert service.remove(a) == [{"Untagged": "x:1"}, {"Deleted": a}]


def test_remove_refuses_an_image_in_use(service):
    a = add_image(service, 1, ["x:1"])
    service.users[a] = True
    with pytest.raises(Conflict):
        service.remove("x:1")
    with pytest.raises(Conflict):
        service.remove(a)
    # Forced: the tag goes, the image stays for its container.
    assert service.remove("x:1", force=True) == [{"Untagged": "x:1"}]
    assert service.get(a).tags == ()


def test_prune(service):
    a = add_image(service, 1, ["keep"])
    b = add_image(service, 2, [])
    c = add_image(service, 3, [])
    service.users[c] = True
    report = service.prune()
    assert report["ImagesDeleted"] == [{"Deleted": b}]
    assert {i.id for i in service.list(all=True)} == {a, c}
    report = service.prune(all=True)
    assert report["ImagesDeleted"] == [{"Untagged": "keep:latest"}, {"Deleted": a}]


def test_inspect_fields_and_history(service):
    a = add_image(service, 7, ["x"])
    doc = service.inspect("x")
    assert list(doc)[:8] == ["Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "DockerVersion", "Author"]
    assert doc["Id"] == a and doc["RepoTags"] == ["x:latest"]
    assert doc["Config"]["Cmd"] == ["/cmd7"] and doc["Config"]["Env"] is None
    assert doc["RootFS"] == {"Type": "layers", "Layers": []}
    assert doc["Metadata"] == {"LastTagTime": "0001-01-01T00:00:00Z"}
    json.dumps(doc)
    hist = service.history("x")
    assert hist == [
        {"Id": a, "Created": 1704067200, "CreatedBy": "step 7", "Tags": ["x:latest"], "Size": 0, "Comment": ""}
    ]


def test_summaries(service):
    a = add_image(service, 1, ["x"], labels={"k": "v"})
    assert service.summaries() == [
        {
            "Containers": -1,
            "Created": 1704067200,
            "Id": a,
            "Labels": {"k": "v"},
            "ParentId": "",
            "RepoDigests": [],
            "RepoTags": ["x:latest"],
            "SharedSize": -1,
            "Size": 0,
        }
    ]


def test_intermediate_images_hidden_without_all(service):
    d1, d2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    parent = add_image(service, 1, [], diff_ids=[d1])
    child = add_image(service, 2, ["app"], diff_ids=[d1, d2], created="2024-02-01T00:00:00Z")
    lone = add_image(service, 3, [], diff_ids=[d2])
    assert [i.id for i in service.list()] == [child, lone]
    assert [i.id for i in service.list(all=True)] == [child, lone, parent]  # same created: newest added first
    assert {i.id for i in service.list(filters={"dangling": ["true"]})} == {parent, lone}


def test_tag_without_touch_writes_only_a_change(service):
    a = add_image(service, 1, [])
    b = add_image(service, 2, [], created="2024-02-01T00:00:00Z")
    service.tag(a, "app:1", touch=False)  # new: written
    when = service.db.query_one("SELECT tagged_at FROM tags WHERE name = ?", ("docker.io/library/app:1",))[0]
    assert when is not None
    service.tag(a, "app:1", touch=False)  # the same image again: no write
    assert service.db.query_one("SELECT tagged_at FROM tags WHERE name = ?", ("docker.io/library/app:1",))[0] == when
    service.tag(b, "app:1", touch=False)  # another image: moved
    assert service.inspect(b)["RepoTags"] == ["app:1"] and service.inspect(a)["RepoTags"] == []
