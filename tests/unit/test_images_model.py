from __future__ import annotations

import hashlib

import pytest

from minke.errors import CorruptData
from minke.images.model import (
    chain_ids,
    familiar_name,
    familiar_tagged,
    format_time,
    load_json,
    parse_time,
    split_tagged,
)
from minke.images.resolve import id_prefix, is_id_prefix, parse_query


def test_chain_ids_follow_the_oci_spec():
    d0 = "sha256:" + "a" * 64
    d1 = "sha256:" + "b" * 64
    c1 = "sha256:" + hashlib.sha256(f"{d0} {d1}".encode()).hexdigest()
    assert chain_ids([d0, d1]) == [d0, c1]
    assert chain_ids([]) == []


def test_parse_time_go_formats():
    assert parse_time("1970-01-01T00:00:00Z") == 0
    assert parse_time("2024-01-02T03:04:05.123456789Z") == pytest.approx(1704164645.123456789)
    assert parse_time("2024-01-02T05:04:05+02:00") == parse_time("2024-01-02T03:04:05Z")
    assert parse_time("not a time") is None
    assert parse_time(None) is None
    assert format_time(0) == "1970-01-01T00:00:00Z"
    assert format_time(1.5) == "1970-01-01T00:00:01.5Z"


def test_familiar_names():
    assert familiar_name("docker.io/library/busybox") == "busybox"
    assert familiar_name("docker.io/user/app") == "user/app"
    assert familiar_name("docker.io/library/a/b") == "library/a/b"
    assert familiar_name("localhost:5000/x") == "localhost:5000/x"
    assert split_tagged("localhost:5000/x:1") == ("localhost:5000/x", "1")
    assert familiar_tagged("docker.io/library/busybox:latest") == "busybox:latest"


def test_load_json_is_one_line_corrupt_data():
    with pytest.raises(CorruptData) as e:
        load_json(b"{nope", "manifest.json")
    assert "manifest.json" in str(e.value) and "\n" not in str(e.value)


def test_query_parsing():
    q = parse_query("busybox")
    assert q.ref is not None and str(q.ref) == "docker.io/library/busybox:latest"
    assert str(q.not_found) == "No such image: busybox:latest"
    full = "a" * 64
    assert parse_query(full).id == "sha256:" + full
    assert parse_query("sha256:" + full).id == "sha256:" + full
    assert parse_query("hello-whale").is_hello_whale
    assert parse_query("docker.io/library/hello-whale:latest").is_hello_whale
    assert not parse_query("hello-whale:1").is_hello_whale
    assert id_prefix("abc") == "abc" and id_prefix("sha256:ab") == "ab" and id_prefix("xyz") is None
    assert is_id_prefix("sha256:abcdef", "abc") and is_id_prefix("sha256:abcdef", "sha256:ab")
    assert not is_id_prefix("sha256:abcdef", "busybox")


def test_go_json_and_oci_config_order():
    from minke.images.model import go_json, oci_config_bytes

    assert go_json({"a": "x<y>&z\u2028"}) == b'{"a":"x\\u003cy\\u003e\\u0026z\\u2028"}'
    data = oci_config_bytes(
        created="2024-01-01T00:00:00Z",
        architecture="amd64",
        os="linux",
        config={"Labels": {"b": "1", "a": "2"}, "Cmd": ["x"], "User": "u", "OnBuild": ["RUN x"]},
        diff_ids=["sha256:" + "a" * 64],
        history=[{"comment": "c", "created": "2024-01-01T00:00:00Z", "empty_layer": False}],
    )
    # Go's field order (what skopeo re-marshals to), maps sorted, omitempty.
    assert data == (
        b'{"created":"2024-01-01T00:00:00Z","architecture":"amd64","os":"linux",'
        b'"config":{"User":"u","Cmd":["x"],"Labels":{"a":"2","b":"1"},"OnBuild":["RUN x"]},'
        b'"rootfs":{"type":"layers","diff_ids":["sha256:' + b"a" * 64 + b'"]},'
        b'"history":[{"created":"2024-01-01T00:00:00Z","comment":"c"}]}'
    )


def test_hello_whale_is_deterministic():
    from minke.images.hello_whale import image_config, rootfs_tar

    assert rootfs_tar(b"\x7fELF...") == rootfs_tar(b"\x7fELF...")
    d = sha256_of_bytes(rootfs_tar(b"\x7fELF..."))
    assert image_config("amd64", d) == image_config("amd64", d)
    assert b'"Cmd":["/hello"]' in image_config("arm64", d)


def sha256_of_bytes(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()
