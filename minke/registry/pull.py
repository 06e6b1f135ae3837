"""The pull pipeline: resolve, choose the platform, fetch blobs in parallel, verify.

Layers download in parallel (``max-concurrent-downloads``, 3 by default), each streamed
straight into a ``BlobStore`` writer that hashes as it writes, so no layer is held in
memory and a corrupt one is refused with its digest.  A dropped connection is retried
with back-off and resumed with a Range request from the bytes already written.  Every
blob goes through a temp file and is published only once verified, and the image rows
are written in one transaction at the end, so an interrupted pull (network error,
Ctrl-C, SIGKILL) leaves nothing half-made visible.  The caller (``RegistryService``)
leases every blob before it is written and, on an error, removes what the pull added;
after a SIGKILL the temp files and unleased blobs go with the next garbage collection.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from minke.errors import CorruptData, MinkeError, NotFound, Unavailable
from minke.oci import mediatypes as mt
from minke.oci.descriptor import Descriptor
from minke.oci.image import ImageConfig, Index, Manifest, parse_any
from minke.oci.platform import Platform, host_platform
from minke.oci.reference import Reference
from minke.registry.client import RegistryClient
from minke.registry.hosts import Endpoint, RegistryConfig
from minke.registry.progress import Progress

RETRIES = 5


@dataclass(frozen=True)
class Resolved:
    """What a reference resolved to on one endpoint."""

    endpoint: Endpoint
    repo: str
    manifest: Manifest
    manifest_bytes: bytes
    manifest_digest: str
    index_bytes: bytes | None
    index_digest: str | None  # the digest the tag points at when it is an index


@dataclass(frozen=True)
class PulledImage:
    """Everything the image service needs to register a pulled image."""

    reference: Reference
    manifest: Manifest
    manifest_digest: str
    repo_digest: str  # the digest the reference's tag points at (index or manifest)
    config: ImageConfig
    config_digest: str


def _client_for(ep: Endpoint, credentials: Any) -> RegistryClient:
    cred = credentials.get(ep.host if not ep.mirror else ep.url.split("://", 1)[-1]) if credentials else None
    return RegistryClient(ep, cred)


def resolve(ref: Reference, *, config: RegistryConfig, credentials: Any, platform: Platform | None = None,
            tls_verify: bool = True) -> tuple[Resolved, RegistryClient]:
    """Find the manifest for ``ref`` on the first endpoint that has it (mirrors first)."""
    want = platform or host_platform()
    errors: list[MinkeError] = []
    for ep in config.endpoints(ref.domain, tls_verify=tls_verify):
        client = _client_for(ep, credentials)
        try:
            body, media_type, digest = client.get_manifest(ref.path, ref.digest or ref.tag or "latest")
            parsed = parse_any(body, media_type or None)
            index_bytes = index_digest = None
            if isinstance(parsed, Index):
                index_bytes, index_digest = body, digest
                chosen = parsed.select(want)
                if chosen is None:
                    raise NotFound(f"no matching manifest for {want} in the manifest list entries")
                body, media_type, digest = client.get_manifest(ref.path, chosen.digest)
                parsed = parse_any(body, chosen.media_type)
                if isinstance(parsed, Index):
                    raise CorruptData(f"manifest list {index_digest} points at another manifest list")
            assert isinstance(parsed, Manifest)
            return Resolved(ep, ref.path, parsed, body, digest, index_bytes, index_digest), client
        except (Unavailable, NotFound) as e:
            client.close()
            if not ep.mirror:
                raise
            errors.append(e)  # a mirror that fails is skipped, as Docker does
        except BaseException:
            client.close()
            raise
    raise errors[-1] if errors else Unavailable(f"no endpoint for {ref.domain}")


def fetch_blob(client: RegistryClient, repo: str, desc: Descriptor, blobs: Any, *,
               progress: Progress | None = None, sleep: Callable[[float], None] = time.sleep,
               before_write: Callable[[str], None] | None = None) -> None:
    """Download one blob into the store, verified; resume with Range after a drop.

    ``before_write(digest)`` runs before the store is looked at: the caller leases the
    blob there so GC cannot take it between this check and the image rows."""
    if before_write is not None:
        before_write(desc.digest)
    if blobs.exists(desc.digest):
        if progress:
            progress.layer(desc.digest, "Already exists")
        return
    with blobs.writer(expected_digest=desc.digest, expected_size=desc.size) as w:
        attempt = 0
        while True:
            try:
                with client.open_blob(repo, desc.digest, offset=w.size) as chunks:
                    last = 0.0
                    for chunk in chunks:
                        w.write(chunk)
                        now = time.monotonic()
                        if progress and now - last > 0.1:
                            progress.layer(desc.digest, "Downloading", w.size, desc.size)
                            last = now
                break
            except Exception as e:  # Unavailable, or httpx read errors mid-stream
                if not isinstance(e, Unavailable) and not type(e).__module__.startswith(("httpx", "httpcore")):
                    raise
                attempt += 1
                if attempt > RETRIES:
                    raise Unavailable(f"download of {desc.digest} failed: {e}") from None
                delay = min(2 ** (attempt - 1), 8) * 0.5
                if progress:
                    progress.layer(desc.digest, f"Retrying in {delay:g} seconds")
                sleep(delay)
        if progress:
            progress.layer(desc.digest, "Verifying Checksum")
        w.commit()
        if progress:
            progress.layer(desc.digest, "Download complete")


def pull(ref: Reference, *, blobs: Any, register: Callable[[PulledImage], str], config: RegistryConfig,
         credentials: Any, progress: Progress, platform: Platform | None = None,
         tls_verify: bool = True, before_write: Callable[[str], None] | None = None) -> tuple[PulledImage, str]:
    """Pull ``ref`` into the blob store and hand it to ``register`` (the image service),
    which writes the image rows and unpacks; return the pulled image and its ID."""
    resolved, client = resolve(ref, config=config, credentials=credentials, platform=platform,
                               tls_verify=tls_verify)
    with client:
        tag_or_digest = ref.tag if ref.tag and not ref.digest else ref.digest
        progress.message(f"{tag_or_digest}: Pulling from {ref.path}")
        m = resolved.manifest
        for layer in m.layers:
            if not mt.is_layer(layer.media_type):
                raise CorruptData(f"unsupported layer media type {layer.media_type!r} in {resolved.manifest_digest}")
        fetch_blob(client, resolved.repo, m.config, blobs, before_write=before_write)
        config_obj = ImageConfig.from_json(blobs.read(m.config.digest))
        if len(config_obj.diff_ids) != len(m.layers):
            raise CorruptData(f"manifest {resolved.manifest_digest} has {len(m.layers)} layers "
                              f"but its config lists {len(config_obj.diff_ids)}")
        for layer in m.layers:
            if not blobs.exists(layer.digest):
                progress.layer(layer.digest, "Pulling fs layer")
        workers = max(1, config.max_concurrent_downloads)
        with ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(fetch_blob, client, resolved.repo, layer, blobs, progress=progress,
                                   before_write=before_write)
                       for layer in m.layers]
            for f in futures:
                f.result()
        for data, digest in ((resolved.manifest_bytes, resolved.manifest_digest),
                             (resolved.index_bytes, resolved.index_digest)):
            if data is not None and digest is not None:
                if before_write is not None:
                    before_write(digest)
                if not blobs.exists(digest):
                    blobs.put(data, digest)
        pulled = PulledImage(ref, m, resolved.manifest_digest, resolved.index_digest or resolved.manifest_digest,
                             config_obj, m.config.digest)
        image_id = register(pulled)
        for layer in m.layers:
            progress.layer(layer.digest, "Pull complete")
        return pulled, image_id
