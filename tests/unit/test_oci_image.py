"""Manifests, indexes and configs, in the shapes registries and tools really produce."""

from __future__ import annotations

import dataclasses
import json

import pytest

from minke.errors import InvalidArgument, Unsupported
from minke.oci import mediatypes as mt
from minke.oci.descriptor import Descriptor
from minke.oci.digest import sha256_digest
from minke.oci.image import History, ImageConfig, Index, Manifest, parse_any
from minke.oci.platform import Platform


def h(c: str) -> str:
    return "sha256:" + c * 64


# Shaped like `docker buildx` output on Docker Hub: platforms plus attestation manifests.
OCI_INDEX = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": h("1"),
            "size": 610,
            "platform": {"architecture": "amd64", "os": "linux"},
        },
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": h("2"),
            "size": 610,
            "platform": {"architecture": "arm", "os": "linux", "variant": "v7"},
        },
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": h("3"),
            "size": 610,
            "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
        },
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": h("4"),
            "size": 839,
            "annotations": {
                "vnd.docker.reference.digest": h("1"),
                "vnd.docker.reference.type": "attestation-manifest",
            },
            "platform": {"architecture": "unknown", "os": "unknown"},
        },
    ],
}

DOCKER_LIST = {
    "manifests": [
        {
            "digest": h("5"),
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "platform": {"architecture": "amd64", "os": "linux"},
            "size": 528,
        },
        {
            "digest": h("6"),
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
            "size": 528,
        },
        {
            "digest": h("7"),
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "platform": {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.5329"},
            "size": 1125,
        },
    ],
    "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
    "schemaVersion": 2,
}

DOCKER_MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {
        "mediaType": "application/vnd.docker.container.image.v1+json",
        "size": 1457,
        "digest": h("a"),
    },
    "layers": [
        {
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "size": 2152262,
            "digest": h("b"),
        }
    ],
}

OCI_MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": h("c"), "size": 581},
    "layers": [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": h("d"), "size": 3623807},
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": h("e"), "size": 93},
    ],
    "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
}

# A docker-built busybox config, with the Docker-only fields an OCI parser must carry.
DOCKER_CONFIG = {
    "architecture": "amd64",
    "config": {
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["sh"],
        "Image": h("f"),
        "Volumes": None,
        "WorkingDir": "",
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": None,
    },
    "container": "ba0d8fa9d0b8ecfb2a4b6a0a5b0b7bd8b5a0f3f1f4f6d6f2b8e3f1a1c6c3f2a1",
    "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) ", "CMD [\"sh\"]"]},
    "created": "2023-07-18T23:19:33.655005962Z",
    "docker_version": "20.10.23",
    "history": [
        {
            "created": "2023-07-18T23:19:33.538571854Z",
            "created_by": "/bin/sh -c #(nop) ADD file:7e9002edaafd4e4579b65c8f0aaabde1aeb7fd3f8d95579f7fd3443cef785fd1 in / ",
        },
        {
            "created": "2023-07-18T23:19:33.655005962Z",
            "created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]",
            "empty_layer": True,
        },
    ],
    "os": "linux",
    "rootfs": {"type": "layers", "diff_ids": [h("9")]},
}


def b(doc: object) -> bytes:
    return json.dumps(doc).encode()


# --- manifests -------------------------------------------------------------------------------


def test_docker_manifest():
    m = Manifest.from_json(b(DOCKER_MANIFEST))
    assert m.media_type == mt.DOCKER_MANIFEST and m.is_docker
    assert m.config == Descriptor(mt.DOCKER_CONFIG, h("a"), 1457)
    assert [layer.size for layer in m.layers] == [2152262]
    assert m.to_dict()["layers"][0] == {"mediaType": mt.DOCKER_LAYER_GZIP, "digest": h("b"), "size": 2152262}
    assert Manifest.from_json(m.canonical_bytes()) == m


def test_oci_manifest_round_trip_is_exact():
    raw = json.dumps(OCI_MANIFEST, separators=(",", ":")).encode()
    m = Manifest.from_json(raw)
    assert m.annotations == {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}
    assert [mt.layer_compression(layer.media_type) for layer in m.layers] == ["gzip", "zstd"]
    assert m.to_dict() == OCI_MANIFEST
    assert m.canonical_bytes() == raw  # same field order as the OCI Go types


def test_oci_manifest_without_media_type():
    doc = {k: v for k, v in OCI_MANIFEST.items() if k != "mediaType"}
    assert Manifest.from_json(b(doc)).media_type == mt.OCI_MANIFEST
    assert Manifest.from_json(b(doc), mt.DOCKER_MANIFEST).media_type == mt.DOCKER_MANIFEST


def test_manifest_subject_and_artifact_type():
    doc = dict(OCI_MANIFEST, artifactType="application/vnd.example.sbom", subject={
        "mediaType": mt.OCI_MANIFEST, "digest": h("1"), "size": 10})
    m = Manifest.from_json(b(doc))
    assert m.subject == Descriptor(mt.OCI_MANIFEST, h("1"), 10)
    assert m.artifact_type == "application/vnd.example.sbom"
    assert Manifest.from_json(m.canonical_bytes()) == m


def test_built_manifest_canonical_bytes_are_stable():
    m = Manifest(
        config=Descriptor(mt.OCI_CONFIG, h("c"), 2),
        layers=(Descriptor(mt.OCI_LAYER_GZIP, h("d"), 3),),
    )
    expected = (
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"' + h("c") + '","size":2},'
        '"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"' + h("d") + '","size":3}]}'
    ).encode()
    assert m.canonical_bytes() == expected
    assert sha256_digest(m.canonical_bytes()) == sha256_digest(expected)


def _without(doc: dict, key: str) -> dict:
    return {k: v for k, v in doc.items() if k != key}


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"{", InvalidArgument, "invalid manifest: malformed json"),
        (b"", InvalidArgument, "invalid manifest: malformed json"),
        (b"\xff\xfe", InvalidArgument, "invalid manifest: not utf-8 text"),
        (b"[]", InvalidArgument, "invalid manifest: expected a json object"),
        (b(_without(DOCKER_MANIFEST, "config")), InvalidArgument, "invalid manifest: missing config"),
        (b(_without(DOCKER_MANIFEST, "layers")), InvalidArgument, "invalid manifest: missing layers"),
        (b(dict(DOCKER_MANIFEST, layers={})), InvalidArgument, "invalid manifest: layers must be a list"),
        (b(dict(DOCKER_MANIFEST, layers=[{"mediaType": "x", "digest": h("1"), "size": -4}])), InvalidArgument,
         "invalid manifest: layers[0]: size must be a non-negative integer"),
        (b(dict(DOCKER_MANIFEST, config={"mediaType": mt.DOCKER_CONFIG, "digest": "sha256:xyz", "size": 1})),
         InvalidArgument, "invalid manifest: config: digest"),
        (b(dict(DOCKER_MANIFEST, schemaVersion=3)), InvalidArgument, "invalid manifest: schemaVersion must be 2"),
        (b(dict(DOCKER_MANIFEST, schemaVersion="2")), InvalidArgument, "invalid manifest: schemaVersion must be 2"),
        (b(dict(DOCKER_MANIFEST, mediaType=7)), InvalidArgument, "invalid manifest: mediaType must be a string"),
        (b(dict(DOCKER_MANIFEST, annotations={"a": None})), InvalidArgument, "annotations: must be an object of strings"),
        (b(dict(DOCKER_MANIFEST, mediaType="application/vnd.example+json")), Unsupported,
         "unsupported manifest media type 'application/vnd.example+json'"),
        (b({"schemaVersion": 1, "mediaType": mt.DOCKER_SCHEMA1_SIGNED_MANIFEST, "fsLayers": []}), Unsupported,
         "docker schema 1 manifests are not supported"),
        (b(OCI_INDEX), InvalidArgument, "is an index, not a manifest"),
    ],
)
def test_malformed_manifests(data, error, message):
    with pytest.raises(error) as exc:
        Manifest.from_json(data)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


# --- indexes ---------------------------------------------------------------------------------


def test_oci_index_and_platform_selection():
    idx = Index.from_json(b(OCI_INDEX))
    assert len(idx.manifests) == 4
    assert idx.manifests[1].platform == Platform("linux", "arm", "v7")
    assert idx.select(Platform("linux", "amd64")).digest == h("1")
    assert idx.select(Platform("linux", "arm64")).digest == h("3")
    assert idx.select(Platform("linux", "arm", "v6")) is None
    assert idx.select(Platform("linux", "s390x")) is None
    assert Index.from_json(idx.canonical_bytes()) == idx
    assert idx.to_dict() == OCI_INDEX


def test_docker_manifest_list():
    idx = Index.from_json(b(DOCKER_LIST))
    assert idx.media_type == mt.DOCKER_MANIFEST_LIST
    assert idx.manifests[2].platform.os_version == "10.0.17763.5329"
    assert idx.select(Platform("linux", "arm64", "v8")).digest == h("6")
    # An arm64 host with no arm64 entry would take 32-bit arm; here there is none.
    assert Index(manifests=idx.manifests[:1]).select(Platform("linux", "arm64")) is None


def test_index_entry_without_platform_is_the_fallback():
    entry = Descriptor(mt.OCI_MANIFEST, h("8"), 5)
    idx = Index(manifests=(entry,))
    assert idx.select(Platform("linux", "amd64")) == entry


@pytest.mark.parametrize(
    ("doc", "error", "message"),
    [
        (_without(OCI_INDEX, "manifests"), InvalidArgument, "invalid index: missing manifests"),
        (dict(OCI_INDEX, manifests=[1]), InvalidArgument, "invalid index: manifests[0]: expected an object"),
        (dict(OCI_INDEX, manifests=[dict(OCI_INDEX["manifests"][0], platform={"os": "linux", "architecture": 64})]),
         InvalidArgument, "invalid index: manifests[0]: platform: architecture must be a string"),
        (DOCKER_MANIFEST, InvalidArgument, "is a manifest, not an index"),
        (dict(OCI_INDEX, mediaType="text/plain"), Unsupported, "unsupported index media type 'text/plain'"),
    ],
)
def test_malformed_indexes(doc, error, message):
    with pytest.raises(error, match=None) as exc:
        Index.from_json(b(doc))
    assert message in str(exc.value)


# --- parse_any -------------------------------------------------------------------------------


def test_parse_any_by_media_type_hint_and_shape():
    assert isinstance(parse_any(b(OCI_INDEX)), Index)
    assert isinstance(parse_any(b(DOCKER_LIST)), Index)
    assert isinstance(parse_any(b(DOCKER_MANIFEST)), Manifest)
    bare_index = _without(OCI_INDEX, "mediaType")
    bare_manifest = _without(OCI_MANIFEST, "mediaType")
    assert isinstance(parse_any(b(bare_index)), Index)
    assert isinstance(parse_any(b(bare_manifest)), Manifest)
    # A registry's Content-Type is the hint when the body has no mediaType.
    assert parse_any(b(bare_index), mt.DOCKER_MANIFEST_LIST).media_type == mt.DOCKER_MANIFEST_LIST
    with pytest.raises(InvalidArgument, match="neither a manifest nor an index"):
        parse_any(b"{\"schemaVersion\": 2}")
    with pytest.raises(Unsupported, match="schema 1"):
        parse_any(b"{\"schemaVersion\": 1, \"fsLayers\": []}")
    with pytest.raises(Unsupported, match="schema 1"):
        parse_any(b"{}", mt.DOCKER_SCHEMA1_MANIFEST)
    with pytest.raises(Unsupported, match="unsupported manifest media type"):
        parse_any(b"{}", "application/octet-stream")


# --- image config ----------------------------------------------------------------------------


def test_docker_config():
    c = ImageConfig.from_json(b(DOCKER_CONFIG))
    assert (c.architecture, c.os, c.variant) == ("amd64", "linux", None)
    assert c.created == "2023-07-18T23:19:33.655005962Z"
    assert c.cmd == ("sh",)
    assert c.entrypoint is None
    assert c.env == ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    assert (c.user, c.working_dir, c.labels, c.volumes, c.exposed_ports) == ("", "", {}, (), ())
    assert c.stop_signal is None and c.healthcheck is None
    assert c.diff_ids == (h("9"),)
    assert c.history[1] == History(
        created="2023-07-18T23:19:33.655005962Z",
        created_by='/bin/sh -c #(nop)  CMD ["sh"]',
        empty_layer=True,
    )
    assert c.platform == Platform("linux", "amd64")
    # Unknown (Docker-only) fields survive the round trip.
    assert c.to_dict() == DOCKER_CONFIG
    assert c.to_dict()["container_config"] == DOCKER_CONFIG["container_config"]


def test_oci_config_round_trip_bytes_match_go_encoding():
    # What umoci writes (less Go's trailing newline): our bytes must be identical.
    raw = (
        b'{"created":"2026-11-28T15:44:55.976595512Z","architecture":"amd64","os":"linux",'
        b'"config":{"ExposedPorts":{"80/tcp":{}},"Env":["A=1"],"Cmd":["sh"],"Labels":{"x":"y"}},'
        b'"rootfs":{"type":"layers","diff_ids":[]},"history":[{"created":'
        b'"2026-11-28T15:44:55.982354243Z","created_by":"umoci config","empty_layer":true}]}'
    )
    c = ImageConfig.from_json(raw)
    assert c.exposed_ports == ("80/tcp",)
    assert c.labels == {"x": "y"}
    assert c.canonical_bytes() == raw


def test_config_entrypoint_string_and_healthcheck():
    doc = dict(DOCKER_CONFIG, config={
        "Entrypoint": "/docker-entrypoint.sh",
        "Cmd": ["nginx", "-g", "daemon off;"],
        "WorkingDir": "/srv",
        "User": "101:101",
        "StopSignal": "SIGQUIT",
        "ExposedPorts": {"80/tcp": {}, "443/tcp": {}},
        "Volumes": {"/data": {}},
        "Labels": {"maintainer": "NGINX Docker Maintainers"},
        "Healthcheck": {"Test": ["CMD-SHELL", "curl -f http://localhost/"], "Interval": 30000000000},
    })
    c = ImageConfig.from_json(b(doc))
    assert c.entrypoint == ("/docker-entrypoint.sh",)
    assert c.cmd == ("nginx", "-g", "daemon off;")
    assert (c.working_dir, c.user, c.stop_signal) == ("/srv", "101:101", "SIGQUIT")
    assert c.exposed_ports == ("80/tcp", "443/tcp")
    assert c.volumes == ("/data",)
    assert c.healthcheck["Interval"] == 30000000000
    assert c.to_dict()["config"]["Entrypoint"] == "/docker-entrypoint.sh"


def test_config_null_config_kept_and_non_ascii():
    doc = {"architecture": "arm64", "variant": "v8", "os": "linux", "config": None,
           "author": "Zoë", "rootfs": {"type": "layers", "diff_ids": []}}
    c = ImageConfig.from_json(b(doc))
    assert c.config == {} and c.cmd is None and c.env == ()
    assert c.platform == Platform("linux", "arm64", "v8")
    assert c.to_dict() == doc
    assert "Zoë".encode() in c.canonical_bytes()  # UTF-8, not \u escapes


def test_built_config_and_replace():
    c = ImageConfig(
        architecture="amd64",
        os="linux",
        config={"Cmd": ["true"]},
        diff_ids=(h("1"),),
        history=(History(created_by="minke import"),),
    )
    assert c.to_dict() == {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["true"]},
        "rootfs": {"type": "layers", "diff_ids": [h("1")]},
        "history": [{"created_by": "minke import"}],
    }
    parsed = ImageConfig.from_json(c.canonical_bytes())
    assert parsed == c
    changed = dataclasses.replace(parsed, config={"Cmd": ["false"]})
    assert changed.to_dict()["config"] == {"Cmd": ["false"]}
    assert ImageConfig.from_json(b(DOCKER_CONFIG)) == ImageConfig.from_json(b(DOCKER_CONFIG))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rootfs": None}, "invalid image config: missing rootfs"),
        ({"rootfs": {"type": "tar", "diff_ids": []}}, 'rootfs.type must be "layers"'),
        ({"rootfs": {"type": "layers", "diff_ids": "x"}}, "rootfs.diff_ids must be a list of strings"),
        ({"rootfs": {"type": "layers", "diff_ids": ["sha256:123"]}}, "rootfs.diff_ids[0] 'sha256:123': invalid checksum digest length"),
        ({"architecture": 5}, "invalid image config: architecture must be a string"),
        ({"created": 1}, "created must be a string"),
        ({"config": []}, "config must be an object"),
        ({"config": {"Env": "A=1"}}, "config.Env must be a list of strings"),
        ({"config": {"Cmd": [1]}}, "config.Cmd must be a list of strings"),
        ({"config": {"Entrypoint": {"a": 1}}}, "config.Entrypoint must be a list of strings"),
        ({"config": {"User": 0}}, "config.User must be a string"),
        ({"config": {"Labels": {"a": 1}}}, "config.Labels: must be an object of strings"),
        ({"config": {"ExposedPorts": ["80/tcp"]}}, "config.ExposedPorts must be an object"),
        ({"config": {"Healthcheck": {"Test": "curl"}}}, "config.Healthcheck.Test must be a list of strings"),
        ({"history": {}}, "history must be a list"),
        ({"history": [{"empty_layer": "yes"}]}, "history[0]: empty_layer must be a boolean"),
        ({"history": [{"created_by": ["sh"]}]}, "history[0]: created_by must be a string"),
        ({"os.features": "x"}, "os.features must be a list of strings"),
    ],
)
def test_malformed_configs(change, message):
    doc = dict(DOCKER_CONFIG, **change)
    with pytest.raises(InvalidArgument) as exc:
        ImageConfig.from_json(b(doc))
    assert message in str(exc.value)
    assert str(exc.value).startswith("invalid image config")


def test_malformed_config_json():
    with pytest.raises(InvalidArgument, match="^invalid image config: malformed json"):
        ImageConfig.from_json(b'{"architecture": ')
    with pytest.raises(InvalidArgument, match="expected a json object"):
        ImageConfig.from_json(b"null")
