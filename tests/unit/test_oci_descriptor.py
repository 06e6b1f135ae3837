from __future__ import annotations

import json

import pytest

from minke.errors import InvalidArgument, Unsupported
from minke.oci import mediatypes as mt
from minke.oci.descriptor import Descriptor
from minke.oci.platform import Platform

D1 = "sha256:" + "1" * 64


def test_minimal_round_trip_and_field_names():
    d = Descriptor(mt.OCI_LAYER_GZIP, D1, 1234)
    assert d.to_dict() == {"mediaType": mt.OCI_LAYER_GZIP, "digest": D1, "size": 1234}
    assert list(d.to_dict()) == ["mediaType", "digest", "size"]
    assert Descriptor.from_dict(d.to_dict()) == d


def test_full_round_trip():
    d = Descriptor(
        media_type=mt.OCI_MANIFEST,
        digest=D1,
        size=7,
        annotations={"org.opencontainers.image.ref.name": "v1"},
        platform=Platform("linux", "arm64", "v8"),
        urls=("https://example.com/blob",),
        artifact_type="application/vnd.example+json",
        data="e30=",
    )
    wire = json.loads(json.dumps(d.to_dict()))
    assert wire["platform"] == {"architecture": "arm64", "os": "linux", "variant": "v8"}
    assert wire["artifactType"] == "application/vnd.example+json"
    assert wire["urls"] == ["https://example.com/blob"]
    assert Descriptor.from_dict(wire) == d


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "invalid layers[0]: expected an object"),
        ({"digest": D1, "size": 1}, "invalid layers[0]: mediaType must be a non-empty string"),
        ({"mediaType": 5, "digest": D1, "size": 1}, "mediaType must be a non-empty string"),
        ({"mediaType": "x", "size": 1}, "invalid layers[0]: digest must be a string"),
        ({"mediaType": "x", "digest": "sha256:abc", "size": 1}, "invalid checksum digest length"),
        ({"mediaType": "x", "digest": D1}, "size must be a non-negative integer"),
        ({"mediaType": "x", "digest": D1, "size": "1"}, "size must be a non-negative integer"),
        ({"mediaType": "x", "digest": D1, "size": -1}, "size must be a non-negative integer"),
        ({"mediaType": "x", "digest": D1, "size": True}, "size must be a non-negative integer"),
        ({"mediaType": "x", "digest": D1, "size": 1.5}, "size must be a non-negative integer"),
        ({"mediaType": "x", "digest": D1, "size": 1, "annotations": {"a": 1}}, "annotations: must be an object of strings"),
        ({"mediaType": "x", "digest": D1, "size": 1, "annotations": []}, "annotations: must be an object of strings"),
        ({"mediaType": "x", "digest": D1, "size": 1, "urls": "http://x"}, "urls must be a list of strings"),
        ({"mediaType": "x", "digest": D1, "size": 1, "platform": {"os": "linux"}}, "platform: missing architecture"),
        ({"mediaType": "x", "digest": D1, "size": 1, "artifactType": 3}, "artifactType must be a string"),
    ],
)
def test_malformed(doc, message):
    with pytest.raises(InvalidArgument) as exc:
        Descriptor.from_dict(doc, what="layers[0]")
    assert message in str(exc.value)
    assert str(exc.value).startswith("invalid layers[0]")


def test_mediatype_helpers():
    assert mt.is_manifest(mt.OCI_MANIFEST) and mt.is_manifest(mt.DOCKER_MANIFEST)
    assert not mt.is_manifest(mt.OCI_INDEX)
    assert mt.is_index(mt.DOCKER_MANIFEST_LIST) and mt.is_index(mt.OCI_INDEX)
    assert mt.is_config(mt.DOCKER_CONFIG) and mt.is_config(mt.OCI_CONFIG)
    assert mt.is_layer(mt.DOCKER_FOREIGN_LAYER_GZIP) and not mt.is_layer(mt.OCI_CONFIG)
    assert not mt.is_layer(None)
    assert mt.is_nondistributable(mt.OCI_LAYER_NONDISTRIBUTABLE_GZIP)
    assert not mt.is_nondistributable(mt.OCI_LAYER_GZIP)
    assert mt.is_docker(mt.DOCKER_LAYER_GZIP) and not mt.is_docker(mt.OCI_LAYER_GZIP)


@pytest.mark.parametrize(
    ("media_type", "compression"),
    [
        (mt.OCI_LAYER, None),
        (mt.OCI_LAYER_GZIP, "gzip"),
        (mt.OCI_LAYER_ZSTD, "zstd"),
        (mt.OCI_LAYER_NONDISTRIBUTABLE_ZSTD, "zstd"),
        (mt.DOCKER_LAYER, None),
        (mt.DOCKER_LAYER_GZIP, "gzip"),
        (mt.DOCKER_FOREIGN_LAYER_GZIP, "gzip"),
    ],
)
def test_layer_compression(media_type, compression):
    assert mt.layer_compression(media_type) == compression


@pytest.mark.parametrize(
    "media_type", [mt.OCI_CONFIG, "application/vnd.oci.image.layer.v1.tar+gzip+encrypted", ""]
)
def test_layer_compression_unknown(media_type):
    with pytest.raises(Unsupported, match="unsupported layer media type"):
        mt.layer_compression(media_type)


def test_layer_media_type():
    assert mt.layer_media_type("gzip") == mt.OCI_LAYER_GZIP
    assert mt.layer_media_type(None, docker=True) == mt.DOCKER_LAYER
    assert mt.layer_media_type("zstd") == mt.OCI_LAYER_ZSTD
    with pytest.raises(Unsupported):
        mt.layer_media_type("bzip2")
