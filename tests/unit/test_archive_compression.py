"""Compression sniffing and streaming decompression (no root, no files)."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma

import pytest
import zstandard

from minke.archive.compression import compressor, decompressed, detect
from minke.errors import CorruptData, InvalidArgument

RAW = b"layer bytes " * 50_000  # 600 KB: more than any read buffer


def _zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


PACK = {
    "gzip": gzip.compress,
    "zstd": _zstd,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
}


class ReadOnly:
    """A stream with nothing but read(): what an HTTP response body can look like."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._f.read(min(n, 1000) if n and n > 0 else n)


@pytest.mark.parametrize("kind", sorted(PACK))
def test_detect_each_kind(kind):
    assert detect(PACK[kind](b"x")[:8]) == kind


@pytest.mark.parametrize("head", [b"", b"etc/\x00\x00", b"\x1f", b"ustar"])
def test_detect_plain(head):
    assert detect(head) is None


@pytest.mark.parametrize("kind", sorted(PACK))
def test_decompressed_streams_each_kind(kind):
    out = decompressed(ReadOnly(PACK[kind](RAW)))
    got = bytearray()
    while chunk := out.read(4096):
        got += chunk
    assert bytes(got) == RAW


def test_plain_passes_through():
    assert decompressed(io.BytesIO(RAW)).read() == RAW
    assert decompressed(ReadOnly(RAW)).read() == RAW


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz"])
def test_truncated_stream_is_corrupt(kind):
    data = PACK[kind](RAW + bytes(range(256)) * 400)
    with pytest.raises(CorruptData, match=kind):
        decompressed(io.BytesIO(data[: len(data) // 2])).read()


def test_truncated_zstd_layer_is_corrupt(tmp_path):
    # zstandard's stream reader ends quietly at a cut frame; the tar parser above it is
    # what notices the layer is short.
    import tarfile

    from minke.archive.apply import apply_layer

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo("f")
        info.size = len(RAW)
        t.addfile(info, io.BytesIO(RAW))
    data = _zstd(buf.getvalue())
    with pytest.raises(CorruptData):
        apply_layer(io.BytesIO(data[: len(data) // 2]), str(tmp_path), whiteouts="native")


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz"])
def test_garbage_after_magic_is_corrupt(kind):
    data = PACK[kind](RAW)
    bad = data[:10] + b"\xff" * 64 + data[74:]
    with pytest.raises(CorruptData, match=kind):
        decompressed(io.BytesIO(bad)).read()


@pytest.mark.parametrize("kind", sorted(PACK))
def test_compressor_round_trip_leaves_out_open(kind):
    buf = io.BytesIO()
    w = compressor(kind, buf)
    w.write(RAW)
    w.close()
    assert not buf.closed
    assert detect(buf.getvalue()[:8]) == kind
    assert decompressed(io.BytesIO(buf.getvalue())).read() == RAW


def test_compressor_unknown_kind():
    with pytest.raises(InvalidArgument, match="lz4"):
        compressor("lz4", io.BytesIO())


def test_light_imports():
    # bz2 and lzma come with shutil; tarfile and the codecs must wait for a layer.
    import subprocess
    import sys

    code = ("import sys, minke.snapshots, minke.snapshots.base, minke.archive.compression; "
            "print(sorted(m for m in ('tarfile', 'zstandard', 'gzip') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
