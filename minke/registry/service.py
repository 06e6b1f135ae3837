"""RegistryService: pull, push, login and logout, over the image service.

The Engine builds it; it joins the distribution client (``client``, ``pull``, ``push``)
to the store: pulled blobs are staged under a lease (``minke.images.staging``), unpacked
into snapshots, then recorded as an image in one transaction.  A failed pull removes
what it added, so the store is as it was.
"""

from __future__ import annotations

from typing import IO, Any

from minke.errors import InvalidArgument, NotFound


class RegistryService:
    def __init__(self, config: Any, images: Any, blobs: Any, db: Any) -> None:
        self.config = config
        self.images = images
        self.blobs = blobs
        self.db = db

    def registry_config(self) -> Any:
        from minke.registry.hosts import RegistryConfig

        return RegistryConfig.load(self.config.config_dir)

    def credentials(self) -> Any:
        from minke.registry.credentials import CredentialStore

        return CredentialStore()

    # --- pull ------------------------------------------------------------------------
    def pull(self, ref_text: str, *, out: IO[str], quiet: bool = False, platform: str | None = None,
             tls_verify: bool = True, all_tags: bool = False) -> list[str]:
        """Pull an image (every tag of the repository with all_tags); return image IDs."""
        from minke.oci.platform import parse_platform
        from minke.oci.reference import parse_reference
        from minke.registry.progress import Progress

        given = parse_reference(ref_text, default_tag=False)
        ref = parse_reference(ref_text)
        plat = parse_platform(platform) if platform else None
        progress = Progress(out, quiet=quiet)
        cfg = self.registry_config()
        creds = self.credentials()
        if all_tags:
            if given.tag or given.digest:
                raise InvalidArgument("tag can't be used with --all-tags/-a")
            from minke.registry.client import RegistryClient

            ep = cfg.endpoints(ref.domain, tls_verify=tls_verify)[-1]
            with RegistryClient(ep, creds.get(ref.domain)) as c:
                tags = sorted(c.list_tags(ref.path))
            refs = [ref.with_tag(t) for t in tags]
        else:
            refs = [ref]
        ids = []
        for r in refs:
            ids.append(self._pull_one(r, cfg=cfg, creds=creds, progress=progress, platform=plat,
                                      tls_verify=tls_verify))
            self.images.event("pull", ids[-1], r.familiar())
        if quiet:
            out.write("".join(f"{r}\n" for r in refs))
        else:
            out.write(f"{refs[-1] if not all_tags else refs[-1].name}\n")
        return ids

    def _pull_one(self, ref: Any, *, cfg: Any, creds: Any, progress: Any, platform: Any, tls_verify: bool) -> str:
        from minke.images.staging import staging
        from minke.images.unpack import LayerRef
        from minke.registry.pull import PulledImage, pull

        existing = None
        try:
            existing = self.images.get(str(ref), builtin=False).id
        except NotFound:
            pass

        with staging(self.images) as st:
            def before_write(digest: str) -> None:
                st.lease.add_blob(digest)
                st._track(digest, self.blobs.exists(digest))

            def register(p: PulledImage) -> str:
                layers = [LayerRef(d, layer.digest) for d, layer in zip(p.config.diff_ids, p.manifest.layers, strict=True)]
                for layer in p.manifest.layers:
                    progress.layer(layer.digest, "Extracting")
                chain, sizes = st.unpack(layers)
                image_id, _ = self.images.store_image(
                    config_bytes=self.blobs.read(p.config_digest),
                    manifest_bytes=self.blobs.read(p.manifest_digest),
                    manifest_media_type=p.manifest.media_type,
                    layers=[(d, layer.digest, layer.media_type, layer.size)
                            for d, layer in zip(p.config.diff_ids, p.manifest.layers, strict=True)],
                    chain_id=chain,
                    size=sum(sizes),
                    tags=[f"{ref.name}:{ref.tag}"] if ref.tag and not ref.digest else [],
                    repo_digests=[f"{ref.name}@{p.repo_digest}"],
                )
                return str(image_id)

            pulled, image_id = pull(ref, blobs=self.blobs, register=register, config=cfg, credentials=creds,
                                    progress=progress, platform=platform, tls_verify=tls_verify,
                                    before_write=before_write)
        progress.message(f"Digest: {pulled.repo_digest}")
        status = "Image is up to date for" if existing == image_id else "Downloaded newer image for"
        progress.message(f"Status: {status} {ref.familiar()}")
        return image_id

    # --- push ------------------------------------------------------------------------
    def push(self, ref_text: str, *, out: IO[str], quiet: bool = False, tls_verify: bool = True,
             chunk_size: int | None = None) -> str:
        from minke.oci.reference import parse_reference
        from minke.registry.progress import Progress
        from minke.registry.push import push

        ref = parse_reference(ref_text)
        if ref.digest:
            raise InvalidArgument("cannot push a digest reference")
        try:
            image = self.images.get(str(ref), builtin=False)
        except NotFound:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name()}") from None
        manifest_bytes = self.blobs.read(image.manifest_digest)
        mount_from = []
        for rd in image.repo_digests:
            other = parse_reference(rd)
            if other.domain == ref.domain and other.path != ref.path:
                mount_from.append(other.path)
        progress = Progress(out, quiet=quiet)
        digest, _ = push(ref, manifest_bytes=manifest_bytes, media_type=image.manifest_media_type,
                         blobs=self.blobs, config=self.registry_config(), credentials=self.credentials(),
                         progress=progress, mount_from=mount_from, chunk_size=chunk_size,
                         tls_verify=tls_verify)
        self.images.add_repo_digest(f"{ref.name}@{digest}", image.id)
        self.images.event("push", image.id, ref.familiar())
        if quiet:
            out.write(f"{ref.familiar()}\n")
        return digest

    # --- login -----------------------------------------------------------------------
    def login(self, server: str | None, username: str, password: str, *, tls_verify: bool = True) -> str:
        from minke.registry.client import RegistryClient
        from minke.registry.credentials import Credential

        host = _login_host(server)
        cfg = self.registry_config()
        ep = cfg.endpoints(host, tls_verify=tls_verify)[-1]
        cred = Credential(username, password)
        with RegistryClient(ep, cred) as c:
            c.ping()
        self.credentials().store(host, cred)
        return host

    def logout(self, server: str | None) -> tuple[str, bool]:
        host = _login_host(server)
        return host, self.credentials().erase(host)


def _login_host(server: str | None) -> str:
    if not server:
        return "docker.io"
    host = server.split("://", 1)[-1].split("/", 1)[0]
    if host in ("index.docker.io", "registry-1.docker.io"):
        return "docker.io"
    if not host:
        raise InvalidArgument(f"invalid registry address {server!r}")
    return host


__all__ = ["RegistryService"]
