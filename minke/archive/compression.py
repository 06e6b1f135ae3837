"""Compression of layer streams: sniffing, streaming decompression, compressors.

Everything streams: a layer is never read whole into memory.  A broken compressed
stream raises ``CorruptData`` when the bad bytes are reached, naming the compression.
"""

from __future__ import annotations

import io
from typing import Any, BinaryIO

from minke.errors import CorruptData, InvalidArgument

MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
)


def detect(head: bytes) -> str | None:
    """The compression a stream starting with ``head`` uses, or None for plain bytes."""
    for magic, kind in MAGIC:
        if head.startswith(magic):
            return kind
    return None


class _Guarded(io.RawIOBase):
    """A read-only stream that turns a decompressor's errors into CorruptData."""

    def __init__(self, inner: Any, kind: str) -> None:
        self._inner = inner
        self._kind = kind

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        try:
            data = self._inner.read(len(buf))
        except CorruptData:
            raise
        except (OSError, EOFError, ValueError, Exception) as e:  # zlib.error, ZstdError, LZMAError
            raise CorruptData(f"invalid {self._kind} stream: {e or type(e).__name__}") from None
        n = len(data)
        buf[:n] = data
        return n

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


class _AnyReader(io.RawIOBase):
    """Adapts any object with ``read(n)`` to a raw stream BufferedReader can wrap."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        data = self._inner.read(len(buf))
        n = len(data)
        buf[:n] = data
        return n


def decompressed(stream: BinaryIO) -> BinaryIO:
    """Sniff ``stream`` and return a stream of its decompressed bytes (plain passes through)."""
    buffered: Any = stream if hasattr(stream, "peek") else io.BufferedReader(_AnyReader(stream), 1 << 16)
    head = buffered.peek(8)[:8]
    kind = detect(head)
    if kind is None:
        return buffered  # type: ignore[no-any-return]
    inner: Any
    if kind == "gzip":
        import gzip

        inner = gzip.GzipFile(fileobj=buffered, mode="rb")
    elif kind == "zstd":
        import zstandard

        inner = zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True)
    elif kind == "bzip2":
        import bz2

        inner = bz2.BZ2File(buffered, "rb")
    else:
        import lzma

        inner = lzma.LZMAFile(buffered, "rb")
    return io.BufferedReader(_Guarded(inner, kind), 1 << 16)  # type: ignore[return-value]


def compressor(kind: str, out: BinaryIO, level: int | None = None) -> BinaryIO:
    """A writable stream compressing into ``out``; close it to finish (``out`` stays open)."""
    if kind == "gzip":
        import gzip

        return gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6 if level is None else level, mtime=0)  # type: ignore[return-value]
    if kind == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=3 if level is None else level).stream_writer(out, closefd=False)  # type: ignore[return-value]
    if kind == "bzip2":
        import bz2

        return bz2.BZ2File(out, "wb", compresslevel=9 if level is None else level)  # type: ignore[return-value]
    if kind == "xz":
        import lzma

        return lzma.LZMAFile(out, "wb", preset=level)  # type: ignore[return-value]
    raise InvalidArgument(f"unsupported compression {kind!r}: use gzip, zstd, bzip2 or xz")
