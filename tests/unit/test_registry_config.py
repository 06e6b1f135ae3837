"""Registry endpoints, insecure hosts, mirrors, and Docker's credential store format."""

from __future__ import annotations

import base64
import io
import json
import os
import stat

import pytest

from minke.errors import InvalidArgument
from minke.registry.client import parse_challenge
from minke.registry.credentials import DOCKER_HUB_KEY, Credential, CredentialStore
from minke.registry.hosts import RegistryConfig
from minke.registry.progress import Progress


def test_loopback_registries_are_insecure_like_docker():
    cfg = RegistryConfig(insecure=("10.1.0.0/16", "myreg:5000"))
    for host in ("localhost:5000", "127.0.0.1:5000", "127.3.4.5", "[::1]:5000", "10.1.2.3:80", "myreg:5000"):
        assert cfg.is_insecure(host), host
    for host in ("quay.io", "10.2.0.1:5000", "myreg:5001", "localhost.example.com"):
        assert not cfg.is_insecure(host), host


def test_endpoints_try_mirrors_before_docker_hub():
    cfg = RegistryConfig(mirrors=("https://mirror.example", "http://127.0.0.1:5001"))
    eps = cfg.endpoints("docker.io")
    assert [e.url for e in eps] == ["https://mirror.example", "http://127.0.0.1:5001", "https://registry-1.docker.io"]
    assert [e.mirror for e in eps] == [True, True, False]
    (ep,) = cfg.endpoints("quay.io")
    assert ep.url == "https://quay.io" and ep.tls_verify and not ep.fallback_http
    (ep,) = cfg.endpoints("localhost:5000")
    assert ep.fallback_http and not ep.tls_verify
    (ep,) = cfg.endpoints("quay.io", tls_verify=False)
    assert not ep.tls_verify


def test_registry_config_files_use_docker_keys(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "registries.json").write_text(json.dumps(
        {"registry-mirrors": ["http://127.0.0.1:5000/"], "max-concurrent-downloads": 5}))
    cfg = RegistryConfig.load(str(tmp_path / "etc"), home=str(tmp_path / "home"))
    assert cfg.mirrors == ("http://127.0.0.1:5000",) and cfg.max_concurrent_downloads == 5
    (tmp_path / "etc" / "registries.json").write_text("{not json")
    with pytest.raises(InvalidArgument, match="registries.json"):
        RegistryConfig.load(str(tmp_path / "etc"), home=str(tmp_path / "home"))


def test_parse_challenge():
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                      "scope": "repository:library/busybox:pull"}
    assert parse_challenge('Basic realm="r"') == ("basic", {"realm": "r"})


def test_credentials_round_trip_in_docker_format(tmp_path):
    store = CredentialStore(str(tmp_path / "config.json"))
    assert store.get("docker.io") is None
    store.store("docker.io", Credential("alice", "pw:with:colons"))
    store.store("localhost:5000", Credential("bob", "x"))
    data = json.loads((tmp_path / "config.json").read_text())
    assert base64.b64decode(data["auths"][DOCKER_HUB_KEY]["auth"]) == b"alice:pw:with:colons"
    assert stat.S_IMODE(os.stat(tmp_path / "config.json").st_mode) == 0o600
    assert store.get("docker.io") == Credential("alice", "pw:with:colons")
    assert store.get("index.docker.io") == Credential("alice", "pw:with:colons")
    assert store.erase("localhost:5000") is True
    assert store.erase("localhost:5000") is False
    assert store.get("localhost:5000") is None


def test_credential_helpers_protocol(tmp_path, monkeypatch):
    helper = tmp_path / "bin" / "docker-credential-fake"
    helper.parent.mkdir()
    log = tmp_path / "helper.log"
    helper.write_text(f"""#!/bin/sh
read input
echo "$1 $input" >> {log}
case "$1" in
  get) if [ "$input" = "reg.example" ]; then echo '{{"Username":"u","Secret":"s"}}'; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store|erase) exit 0 ;;
esac
""")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}:{os.environ['PATH']}")
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"credHelpers": {"reg.example": "fake"}, "auths": {}}))
    store = CredentialStore(str(cfg))
    assert store.get("reg.example") == Credential("u", "s")
    assert store.get("other.example") is None  # no helper for it, no auths entry
    cfg.write_text(json.dumps({"credsStore": "fake"}))
    assert store.get("nothing.example") is None  # helper says not found
    store.store("reg.example", Credential("u", "s2"))
    assert '"Secret": "s2"' in log.read_text()


def test_progress_plain_lines_and_quiet():
    out = io.StringIO()
    p = Progress(out, tty=False)
    p.layer("sha256:" + "a" * 64, "Pulling fs layer")
    p.layer("sha256:" + "a" * 64, "Downloading", 10, 100)
    p.layer("sha256:" + "a" * 64, "Pull complete")
    assert out.getvalue() == "aaaaaaaaaaaa: Pulling fs layer\naaaaaaaaaaaa: Pull complete\n"
    q = io.StringIO()
    Progress(q, quiet=True).layer("sha256:" + "a" * 64, "Pull complete")
    assert q.getvalue() == ""


def test_blocked_registries_are_never_contacted():
    from minke.errors import PermissionDenied

    cfg = RegistryConfig(blocked=("docker.io",), mirrors=("http://127.0.0.1:1",))
    with pytest.raises(PermissionDenied, match="registry docker.io is blocked"):
        cfg.endpoints("docker.io")
    assert cfg.endpoints("localhost:5000")
