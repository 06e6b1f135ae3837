from __future__ import annotations

import pytest

from minke.errors import CorruptData, Unsupported
from minke.images.archive_formats import _clean_name, _expected, _is_meta


def test_clean_name():
    assert _clean_name("./manifest.json") == "manifest.json"
    assert _clean_name("a/./b/../c") == "a/c"
    assert _clean_name("blobs/sha256/") == "blobs/sha256"
    assert _clean_name("./") == ""
    for bad in ("../x", "a/../../x", "/etc/passwd", ".."):
        with pytest.raises(CorruptData):
            _clean_name(bad)


def test_expected_digest_of_blob_names():
    hexd = "a" * 64
    assert _expected(f"blobs/sha256/{hexd}") == f"sha256:{hexd}"
    assert _expected("l1/layer.tar") is None
    with pytest.raises(CorruptData):
        _expected("blobs/sha256/xyz")
    with pytest.raises(Unsupported):
        _expected("blobs/sha512/" + "a" * 128)


def test_metadata_files_are_kept_in_memory():
    for name in ("manifest.json", "index.json", "oci-layout", "repositories", "abc.json", "x/json", "x/VERSION"):
        assert _is_meta(name)
    assert not _is_meta("x/layer.tar")
