"""Image reference parsing against Docker's behaviour.

Most cases are Docker's own test vectors from distribution/reference (reference_test.go,
normalize_test.go), re-typed as data and run through the normalising parser, so the
expected strings are what ``ParseNormalizedNamed`` + ``TagNameOnly`` give.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from minke.errors import InvalidArgument, InvalidReference
from minke.oci.reference import (
    Reference,
    is_full_id,
    is_valid_short_id,
    parse_any_reference,
    parse_reference,
    parse_strict,
)

F64 = "f" * 64
D = "sha256:" + F64
HEX64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"

# input -> (canonical string, domain, path, tag, digest)
VALID = [
    ("busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest", None),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "docker.io", "library/busybox", "1.36", None),
    ("user/app", "docker.io/user/app:latest", "docker.io", "user/app", "latest", None),
    ("library/busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest", None),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest", None),
    ("index.docker.io/x/y", "docker.io/x/y:latest", "docker.io", "x/y", "latest", None),
    ("index.docker.io/debian", "docker.io/library/debian:latest", "docker.io", "library/debian", "latest", None),
    ("docker.io/library/foo/bar", "docker.io/library/foo/bar:latest", "docker.io", "library/foo/bar", "latest", None),
    ("localhost/x", "localhost/x:latest", "localhost", "x", "latest", None),
    ("localhost:5000/x", "localhost:5000/x:latest", "localhost:5000", "x", "latest", None),
    ("localhost/library/debian", "localhost/library/debian:latest", "localhost", "library/debian", "latest", None),
    ("LOCALDOMAIN/debian", "LOCALDOMAIN/debian:latest", "LOCALDOMAIN", "debian", "latest", None),
    ("Docker/docker", "Docker/docker:latest", "Docker", "docker", "latest", None),
    ("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000", "x", "latest", None),
    ("[2001:db8::1]/repo", "[2001:db8::1]/repo:latest", "[2001:db8::1]", "repo", "latest", None),
    ("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", "tag", None),
    ("[2001:db8::1]:5000/repo@" + D, "[2001:db8::1]:5000/repo@" + D, "[2001:db8::1]:5000", "repo", None, D),
    ("[2001:db8::1]:5000/repo:tag@" + D, "[2001:db8::1]:5000/repo:tag@" + D, "[2001:db8::1]:5000", "repo", "tag", D),
    ("[2001:db8::]:5000/repo", "[2001:db8::]:5000/repo:latest", "[2001:db8::]:5000", "repo", "latest", None),
    ("[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000/library/debian:latest", "[fc00:1:2:3:4:5:6:7]:5000", "library/debian", "latest", None),
    ("test_com", "docker.io/library/test_com:latest", "docker.io", "library/test_com", "latest", None),
    # A single component is never a host: "test.com:5000" is a name and a tag.
    ("test.com:tag", "docker.io/library/test.com:tag", "docker.io", "library/test.com", "tag", None),
    ("test.com:5000", "docker.io/library/test.com:5000", "docker.io", "library/test.com", "5000", None),
    ("test.com/repo:tag", "test.com/repo:tag", "test.com", "repo", "tag", None),
    ("test:5000/repo", "test:5000/repo:latest", "test:5000", "repo", "latest", None),
    ("test:5000/repo@" + D, "test:5000/repo@" + D, "test:5000", "repo", None, D),
    ("test:5000/repo:tag@" + D, "test:5000/repo:tag@" + D, "test:5000", "repo", "tag", D),
    ("test-com:8080/foo", "test-com:8080/foo:latest", "test-com:8080", "foo", "latest", None),
    ("lowercase:Uppercase", "docker.io/library/lowercase:Uppercase", "docker.io", "library/lowercase", "Uppercase", None),
    ("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", "some-long-tag", None),
    ("b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app", "test.example.com", None),
    ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com", None),
    ("xn--7o8h.com/myimage:xn--7o8h.com@" + D, "xn--7o8h.com/myimage:xn--7o8h.com@" + D, "xn--7o8h.com", "myimage", "xn--7o8h.com", D),
    ("foo_bar.com:8080", "docker.io/library/foo_bar.com:8080", "docker.io", "library/foo_bar.com", "8080", None),
    ("foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com", "8080", None),
    ("192.168.1.1", "docker.io/library/192.168.1.1:latest", "docker.io", "library/192.168.1.1", "latest", None),
    ("192.168.1.1:5000", "docker.io/library/192.168.1.1:5000", "docker.io", "library/192.168.1.1", "5000", None),
    ("192.168.1.1/repo", "192.168.1.1/repo:latest", "192.168.1.1", "repo", "latest", None),
    ("192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "5050", None),
    ("127.0.0.1:5000/docker/docker", "127.0.0.1:5000/docker/docker:latest", "127.0.0.1:5000", "docker/docker", "latest", None),
    ("thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest", "docker.io", "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "latest", None),
    ("docker.io/" + HEX64, "docker.io/library/" + HEX64 + ":latest", "docker.io", "library/" + HEX64, "latest", None),
    ("docker---rules/docker", "docker.io/docker---rules/docker:latest", "docker.io", "docker---rules/docker", "latest", None),
    ("dock__er/docker", "docker.io/dock__er/docker:latest", "docker.io", "dock__er/docker", "latest", None),
    ("d/docker", "docker.io/d/docker:latest", "docker.io", "d/docker", "latest", None),
    ("jess/t", "docker.io/jess/t:latest", "docker.io", "jess/t", "latest", None),
    ("busybox@" + D, "docker.io/library/busybox@" + D, "docker.io", "library/busybox", None, D),
    ("busybox:latest@" + D, "docker.io/library/busybox:latest@" + D, "docker.io", "library/busybox", "latest", D),
    ("busybox@sha512:" + "a" * 128, "docker.io/library/busybox@sha512:" + "a" * 128, "docker.io", "library/busybox", None, "sha512:" + "a" * 128),
    ("example.com/" + "a" * 255 + ":tag", "example.com/" + "a" * 255 + ":tag", "example.com", "a" * 255, "tag", None),
    # Normalised onto docker.io, the whole 255-char string is the path: exactly the limit.
    ("a/" * 127 + "a:tag-puts-this-over-max", "docker.io/" + "a/" * 127 + "a:tag-puts-this-over-max", "docker.io", "a/" * 127 + "a", "tag-puts-this-over-max", None),
    ("busybox:" + "t" * 128, "docker.io/library/busybox:" + "t" * 128, "docker.io", "library/busybox", "t" * 128, None),
    # Docker quirk: "foo_bar.com" is not a valid host, so the name keeps no domain.
    ("foo_bar.com/x", "foo_bar.com/x:latest", "", "foo_bar.com/x", "latest", None),
]

LOWER = "invalid reference format: repository name ({}) must be lowercase"

# input -> Docker's error message
INVALID = [
    ("", "invalid reference format"),
    (":justtag", "invalid reference format"),
    ("@" + D, "invalid reference format"),
    ("repo@sha256:" + "f" * 34, "invalid checksum digest length"),
    ("validname@invaliddigest:" + F64, "unsupported digest algorithm"),
    ("validname@sha384:" + "f" * 96, "unsupported digest algorithm"),
    ("repo@sha256:" + "F" * 64, "invalid checksum digest format"),
    ("Uppercase:tag", LOWER.format("library/Uppercase")),
    ("library/Busybox", LOWER.format("library/Busybox")),
    ("Busybox", LOWER.format("library/Busybox")),
    ("test:5000/Uppercase/lowercase:tag", LOWER.format("Uppercase/lowercase")),
    ("docker/Docker", LOWER.format("docker/Docker")),
    ("docker.io/docker/Docker", LOWER.format("docker/Docker")),
    ("domain/" + "a" * 256 + ":tag", "repository name must not be more than 255 characters"),
    ("a" * 256, "repository name must not be more than 255 characters"),
    ("busybox:" + "t" * 129, "invalid reference format"),
    ("busybox:-tag", "invalid reference format"),
    ("aa/asdf$$^/aa", "invalid reference format"),
    ("[2001:db8::1]", "invalid reference format"),
    ("[2001:db8::1]:5000", "invalid reference format"),
    ("[2001:db8::1]:tag", "invalid reference format"),
    ("[fe80::1%eth0]:5000/repo", "invalid reference format"),
    ("[fe80::1%@invalidzone]:5000/repo", "invalid reference format"),
    ("[2001:db8:3:4::192.0.2.33]:5000/debian", "invalid reference format"),
    ("fc00::1:5000/debian", "invalid reference format"),
    ("[fc00::1]", "invalid reference format"),
    ("https://github.com/docker/docker", "invalid reference format"),
    ("-docker", "invalid reference format"),
    ("-docker/docker", "invalid reference format"),
    ("-docker.io/docker/docker", "invalid reference format"),
    ("docker-/docker", "invalid reference format"),
    ("docker///docker", "invalid reference format"),
    ("docker.io/docker///docker", "invalid reference format"),
    ("____/____", "invalid reference format"),
    ("_docker/_docker", "invalid reference format"),
    ("dock..er/docker", "invalid reference format"),
    ("dock_.er/docker", "invalid reference format"),
    ("docker/", "invalid reference format"),
    ("busybox latest", "invalid reference format"),
    ("busybox\n", "invalid reference format"),
    ("büsybox", "invalid reference format"),
    ("busybox:tåg", "invalid reference format"),
    (HEX64, f"invalid repository name ({HEX64}), cannot specify 64-byte hexadecimal strings"),
]


@pytest.mark.parametrize(("text", "canonical", "domain", "path", "tag", "digest"), VALID)
def test_valid(text, canonical, domain, path, tag, digest):
    ref = parse_reference(text)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)
    assert str(ref) == canonical
    # The canonical form is a fixed point.
    assert parse_reference(canonical) == ref


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_invalid(text, message):
    with pytest.raises(InvalidReference) as exc:
        parse_reference(text)
    assert str(exc.value) == message
    assert isinstance(exc.value, InvalidArgument)


def test_table_sizes():
    assert len(VALID) + len(INVALID) >= 80


# TestParseRepositoryInfo: every spelling -> (familiar name, full name, domain, path)
REPOSITORY_INFO = [
    (["localhost/fooo"], "localhost/fooo", "localhost/fooo", "localhost", "fooo"),
    (["localhost/fooo/bar"], "localhost/fooo/bar", "localhost/fooo/bar", "localhost", "fooo/bar"),
    (["LOCALDOMAIN/fooo"], "LOCALDOMAIN/fooo", "LOCALDOMAIN/fooo", "LOCALDOMAIN", "fooo"),
    (["fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar"], "fooo/bar", "docker.io/fooo/bar", "docker.io", "fooo/bar"),
    (["ubuntu", "docker.io/library/ubuntu", "library/ubuntu"], "ubuntu", "docker.io/library/ubuntu", "docker.io", "library/ubuntu"),
    (["nonlibrary/ubuntu"], "nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", "docker.io", "nonlibrary/ubuntu"),
    (["other/library"], "other/library", "docker.io/other/library", "docker.io", "other/library"),
    (["127.0.0.1:8000/private/moonbase"], "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000", "private/moonbase"),
    (["example.com:8000/privatebasee"], "example.com:8000/privatebasee", "example.com:8000/privatebasee", "example.com:8000", "privatebasee"),
    (["ubuntu-12.04-base", "index.docker.io/library/ubuntu-12.04-base"], "ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base", "docker.io", "library/ubuntu-12.04-base"),
    (["foo", "docker.io/foo"], "foo", "docker.io/library/foo", "docker.io", "library/foo"),
    # "library/" is only dropped when one component remains.
    (["library/foo/bar"], "library/foo/bar", "docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
    (["store/foo/bar"], "store/foo/bar", "docker.io/store/foo/bar", "docker.io", "store/foo/bar"),
    (["Foo/bar"], "Foo/bar", "Foo/bar", "Foo", "bar"),
    (["FOO/bar"], "FOO/bar", "FOO/bar", "FOO", "bar"),
]


@pytest.mark.parametrize(("spellings", "familiar", "full", "domain", "path"), REPOSITORY_INFO)
def test_repository_info(spellings, familiar, full, domain, path):
    for text in spellings:
        ref = parse_reference(text, default_tag=False)
        assert ref.familiar_name() == familiar
        assert ref.name == full
        assert str(ref) == full  # no tag added with default_tag=False
        assert (ref.domain, ref.path) == (domain, path)


def test_familiar_strings():
    assert parse_reference("busybox").familiar() == "busybox:latest"
    assert parse_reference("busybox@" + D).familiar() == "busybox@" + D
    short = "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
    ref = parse_reference(short)
    assert str(ref) == "docker.io/library/" + short
    assert ref.familiar() == short
    assert parse_reference("localhost:5000/x:1").familiar() == "localhost:5000/x:1"
    assert parse_reference("user/app").familiar_name() == "user/app"


def test_default_tag_only_when_neither_tag_nor_digest():
    assert parse_reference("busybox", default_tag=False).tag is None
    assert parse_reference("busybox@" + D).tag is None
    assert parse_reference("busybox:1").tag == "1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # TestParseDockerRef
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:latest", "docker.io/library/busybox:latest"),
        ("busybox@" + D, "docker.io/library/busybox@" + D),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest"),
        ("gcr.io/library/busybox", "gcr.io/library/busybox:latest"),
        ("gcr.io/library/busybox:latest@" + D, "gcr.io/library/busybox@" + D),
    ],
)
def test_docker_ref(text, expected):
    assert str(parse_reference(text, default_tag=False).docker_ref()) == expected


def test_with_tag_and_digest():
    ref = parse_reference("test.com:8000/foo", default_tag=False)
    assert str(ref.with_tag("TAG5")) == "test.com:8000/foo:TAG5"
    assert str(ref.with_digest(D)) == "test.com:8000/foo@" + D
    assert str(ref.with_tag("latest").with_digest(D)) == "test.com:8000/foo:latest@" + D
    assert str(ref.with_digest(D).with_tag("t")) == "test.com:8000/foo:t@" + D
    assert ref.with_tag("x").name_only() == ref
    with pytest.raises(InvalidReference, match="^invalid tag format$"):
        ref.with_tag("-foo")
    with pytest.raises(InvalidReference, match="^invalid tag format$"):
        ref.with_tag("a" * 129)
    with pytest.raises(InvalidReference, match="^invalid digest format$"):
        ref.with_digest("foo")
    with pytest.raises(InvalidReference, match="^invalid checksum digest length$"):
        ref.with_digest("sha256:" + "f" * 40)


def test_reference_is_frozen_and_hashable():
    ref = parse_reference("busybox")
    with pytest.raises(AttributeError):
        ref.tag = "x"  # type: ignore[misc]
    assert {ref, parse_reference("docker.io/library/busybox:latest")} == {ref}
    assert Reference("docker.io", "library/busybox", "latest") == ref


@pytest.mark.parametrize(
    ("text", "domain", "path", "tag"),
    [  # reference.Parse (no normalisation): TestReferenceParse / TestDomainAndPath
        ("test_com", "", "test_com", None),
        ("test.com:5000", "", "test.com", "5000"),
        ("test.com/foo", "test.com", "foo", None),
        ("test:8080/foo", "test:8080", "foo", None),
        ("foo/foo_bar.com:8080", "foo", "foo_bar.com", "8080"),
        ("a/" * 127 + "a:x", "a", "a/" * 126 + "a", "x"),
    ],
)
def test_parse_strict(text, domain, path, tag):
    ref = parse_strict(text)
    assert (ref.domain, ref.path, ref.tag) == (domain, path, tag)
    assert str(ref) == text


def test_parse_strict_errors():
    with pytest.raises(InvalidReference, match="^repository name must have at least one component$"):
        parse_strict("")
    # Parse's own uppercase check (only reachable when the domain guess is bypassed).
    with pytest.raises(InvalidReference, match="^repository name must be lowercase$"):
        parse_strict("Uppercase:tag")


def test_ids_and_parse_any():
    assert is_full_id(HEX64)
    assert not is_full_id(HEX64.upper())
    assert not is_full_id(HEX64[:-1])
    assert is_valid_short_id("dbcc1")
    assert not is_valid_short_id("")
    assert not is_valid_short_id("xyz")
    assert not is_valid_short_id("a" * 65)
    assert parse_any_reference(HEX64) == "sha256:" + HEX64
    assert parse_any_reference(D) == D
    # 63 hex chars is a name, and ParseAnyReference adds no tag.
    assert str(parse_any_reference(HEX64[:-1])) == "docker.io/library/" + HEX64[:-1]
    assert str(parse_any_reference("dbcc1")) == "docker.io/library/dbcc1"


@pytest.mark.parametrize(
    "text",
    ["a" * 5000 + "!", "a-" * 3000 + "!", "a." * 3000, ("a" * 10 + "/") * 300 + "!", "a__" * 2000 + "_"],
)
def test_pathological_inputs_are_rejected_quickly(text):
    import time

    start = time.monotonic()
    with pytest.raises(InvalidReference):
        parse_reference(text)
    assert time.monotonic() - start < 0.5


def test_import_is_light():
    # The CLI parses a reference on every `run`; keep the module to the stdlib `re`.
    code = (
        "import sys; before = set(sys.modules); import minke.oci.reference; "
        "new = set(sys.modules) - before; "
        "print(','.join(sorted(m for m in new if not m.startswith(('minke', '_')))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    loaded = set(filter(None, out.split(",")))
    heavy = loaded & {"hashlib", "json", "typing", "platform", "subprocess", "socket"}
    assert not heavy, f"minke.oci.reference imports {sorted(heavy)}"
