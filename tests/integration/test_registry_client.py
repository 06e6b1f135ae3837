"""The registry client against a real docker-registry on loopback."""

from __future__ import annotations

import json
import os

import pytest

from minke.errors import CorruptData, NotFound, PermissionDenied
from minke.oci.digest import sha256_digest
from minke.registry.client import RegistryClient
from minke.registry.credentials import Credential
from minke.registry.hosts import RegistryConfig
from tests.fixtures.registry import start_registry

pytestmark = pytest.mark.root


@pytest.fixture
def registry(tmp_path):
    reg = start_registry(str(tmp_path / "reg"))
    yield reg
    reg.stop()


def client_for(host: str, cred: Credential | None = None) -> RegistryClient:
    (ep,) = RegistryConfig().endpoints(host)
    return RegistryClient(ep, cred)


def push_image(c: RegistryClient, repo: str, tag: str, layer: bytes, *, chunk: int | None = None) -> str:
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "rootfs": {"type": "layers", "diff_ids": [sha256_digest(layer)]}}).encode()
    for blob in (layer, cfg):
        c.upload_blob(repo, sha256_digest(blob), len(blob), iter([blob]), chunk_size=chunk)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256_digest(cfg), "size": len(cfg)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256_digest(layer), "size": len(layer)}],
    }).encode()
    return c.put_manifest(repo, tag, manifest, "application/vnd.oci.image.manifest.v1+json")


def test_push_then_fetch_round_trip(registry):
    layer = os.urandom(300_000)
    with client_for(registry.host) as c:
        digest = push_image(c, "minke/test", "v1", layer, chunk=65536)
        body, media_type, got = c.get_manifest("minke/test", "v1")
        assert got == digest
        assert media_type == "application/vnd.oci.image.manifest.v1+json"
        assert c.get_manifest("minke/test", digest)[2] == digest
        ldig = json.loads(body)["layers"][0]["digest"]
        assert c.blob_size("minke/test", ldig) == len(layer)
        with c.open_blob("minke/test", ldig) as chunks:
            assert b"".join(chunks) == layer
        with c.open_blob("minke/test", ldig, offset=1000) as chunks:
            assert b"".join(chunks) == layer[1000:]
        assert c.list_tags("minke/test") == ["v1"]
        # Cross-repository mount: the blob appears in the other repository without upload.
        assert c.mount_blob("minke/other", ldig, "minke/test") is True
        assert c.blob_size("minke/other", ldig) == len(layer)


def test_missing_manifest_and_blob_are_not_found(registry):
    with client_for(registry.host) as c:
        with pytest.raises(NotFound, match="manifest unknown"):
            c.get_manifest("minke/nothing", "latest")
        assert c.blob_size("minke/nothing", sha256_digest(b"x")) is None


def test_digest_reference_is_verified(registry):
    with client_for(registry.host) as c:
        digest = push_image(c, "minke/test", "v1", b"layer")
        wrong = sha256_digest(b"other")
        with pytest.raises(NotFound):
            c.get_manifest("minke/test", wrong)
        assert c.get_manifest("minke/test", digest)[2] == digest
    with pytest.raises(CorruptData):
        # A manifest is checked against the digest it was asked by, whatever the server says.
        class Lying(RegistryClient):
            def request(self, method, path, **kw):
                return super().request(method, path.replace(wrong, "v1"), **kw)

        (ep,) = RegistryConfig().endpoints(registry.host)
        with Lying(ep) as c2:
            c2.get_manifest("minke/test", wrong)


def test_basic_auth_with_htpasswd(tmp_path):
    bcrypt = pytest.importorskip("bcrypt")
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("alice:" + bcrypt.hashpw(b"s3cret", bcrypt.gensalt(5, prefix=b"2a")).decode() + "\n")
    reg = start_registry(str(tmp_path / "reg"), auth="htpasswd", htpasswd_file=str(htpasswd))
    try:
        with client_for(reg.host) as c, pytest.raises(PermissionDenied):
            c.ping()
        with client_for(reg.host, Credential("alice", "wrong")) as c, pytest.raises(PermissionDenied):
            c.ping()
        with client_for(reg.host, Credential("alice", "s3cret")) as c:
            c.ping()
            digest = push_image(c, "private/app", "1", b"data")
            assert c.get_manifest("private/app", "1")[2] == digest
    finally:
        reg.stop()


def test_bearer_token_auth_reuses_tokens(tmp_path):
    pytest.importorskip("cryptography")
    from tests.fixtures.token_server import TokenServer

    ts = TokenServer(str(tmp_path / "token"), users={"bob": "pw"}, anonymous_pull=True)
    reg = start_registry(str(tmp_path / "reg"), auth="token", token=ts.registry_config())
    try:
        with client_for(reg.host, Credential("bob", "pw")) as c:
            digest = push_image(c, "team/app", "1", os.urandom(1000))
            n = len(ts.requests)
            for _ in range(3):
                assert c.get_manifest("team/app", "1")[2] == digest
            # One token for the pull scope, reused for the next requests.
            assert len(ts.requests) == n + 1
            assert ts.requests[-1] == {"user": "bob", "scopes": ["repository:team/app:pull"]}
        with client_for(reg.host) as anon:
            assert anon.get_manifest("team/app", "1")[2] == digest
            with pytest.raises(PermissionDenied):
                push_image(anon, "team/app", "2", b"x")
        with client_for(reg.host, Credential("bob", "bad")) as c, pytest.raises(PermissionDenied):
            c.get_manifest("team/app", "1")
    finally:
        reg.stop()
        ts.stop()
