"""The push pipeline: blobs the registry lacks, cross-repository mounts, the manifest.

Each blob is checked with HEAD first and skipped when the registry has it ("Layer
already exists"); when another repository on the same registry is known to hold it (an
image's other repo digests), it is mounted from there instead of uploaded; otherwise it
is uploaded, monolithic by default or in chunks.  The manifest goes last, so a registry
never serves a manifest whose blobs are missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from minke.oci.descriptor import Descriptor
from minke.oci.image import Manifest, parse_any
from minke.oci.reference import Reference
from minke.registry.client import RegistryClient
from minke.registry.hosts import RegistryConfig
from minke.registry.progress import Progress


def _chunks(f: Any, size: int = 1 << 20) -> Iterator[bytes]:
    with f:
        while True:
            b = f.read(size)
            if not b:
                return
            yield b


def push_blob(client: RegistryClient, repo: str, desc: Descriptor, blobs: Any, *, mount_from: list[str],
              progress: Progress | None, chunk_size: int | None) -> str:
    """Make ``desc`` present in ``repo``; return what was done: exists, mounted or pushed."""
    if client.blob_size(repo, desc.digest) is not None:
        if progress:
            progress.layer(desc.digest, "Layer already exists")
        return "exists"
    for source in mount_from:
        if source != repo and client.mount_blob(repo, desc.digest, source):
            if progress:
                progress.layer(desc.digest, f"Mounted from {source}")
            return "mounted"
    if progress:
        progress.layer(desc.digest, "Pushing", 0, desc.size)
    client.upload_blob(repo, desc.digest, desc.size, _chunks(blobs.open(desc.digest)), chunk_size=chunk_size)
    if progress:
        progress.layer(desc.digest, "Pushed")
    return "pushed"


def push(ref: Reference, *, manifest_bytes: bytes, media_type: str, blobs: Any, config: RegistryConfig,
         credentials: Any, progress: Progress, mount_from: list[str] | None = None,
         chunk_size: int | None = None, tls_verify: bool = True) -> tuple[str, int]:
    """Push one image manifest (and its blobs) as ``ref``; return (digest, size)."""
    parsed = parse_any(manifest_bytes, media_type)
    if not isinstance(parsed, Manifest):
        raise TypeError("push of an index is done per manifest by the caller")
    ep = config.endpoints(ref.domain, tls_verify=tls_verify)[-1]  # never push to a mirror
    cred = credentials.get(ref.domain) if credentials else None
    tag = ref.tag or ref.digest or "latest"
    progress.message(f"The push refers to repository [{ref.name}]")
    with RegistryClient(ep, cred) as client:
        sources = [s for s in (mount_from or []) if s != ref.path]
        descs = [*parsed.layers, parsed.config]
        with ThreadPoolExecutor(max(1, config.max_concurrent_uploads)) as pool:
            futures = [pool.submit(push_blob, client, ref.path, d, blobs, mount_from=sources,
                                   progress=progress if d is not parsed.config else None,
                                   chunk_size=chunk_size) for d in descs]
            for f in futures:
                f.result()
        digest = client.put_manifest(ref.path, tag, manifest_bytes, parsed.media_type or media_type)
    progress.message(f"{tag}: digest: {digest} size: {len(manifest_bytes)}")
    return digest, len(manifest_bytes)
