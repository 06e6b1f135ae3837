"""A client for one registry: the OCI distribution API with Docker's auth.

Auth follows the challenge the registry answers with (``WWW-Authenticate``):
``Bearer realm=...,service=...,scope=...`` → a token from the realm (with the user's
Basic credentials when they have some, an identity token as an OAuth2 refresh token),
cached per scope until it expires; ``Basic`` → the user's credentials.  Insecure
registries (loopback, or listed) are tried over HTTPS without verification first, then
plain HTTP, as Docker does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from minke.errors import (
    CorruptData,
    InvalidArgument,
    MinkeError,
    NotFound,
    PermissionDenied,
    Unavailable,
)

if TYPE_CHECKING:
    import httpx

    from minke.registry.credentials import Credential
    from minke.registry.hosts import Endpoint

MANIFEST_ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
MAX_MANIFEST_BYTES = 4 << 20  # what distribution accepts; a larger "manifest" is hostile

_CHALLENGE_PARAM = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split ``Bearer realm="x",service="y"`` into ("bearer", {"realm": "x", ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
              for m in _CHALLENGE_PARAM.finditer(rest)}
    return scheme.lower(), params


def _with_digest(location: str, digest: str) -> str:
    """Add ?digest= to an upload URL, keeping the registry's own query (its upload state)."""
    import httpx

    return str(httpx.URL(location).copy_merge_params({"digest": digest}))


class RegistryError(MinkeError):
    pass


def _error_from(resp: httpx.Response, what: str) -> MinkeError:
    """Turn a registry error response into a typed minke error with its message."""
    detail = ""
    try:
        body = resp.json()
        errs = body.get("errors") if isinstance(body, dict) else None
        if errs:
            e0 = errs[0]
            detail = f"{str(e0.get('code', '')).lower().replace('_', ' ')}: {e0.get('message', '')}".strip(": ")
    except Exception:  # noqa: BLE001 - a non-JSON body just has no detail
        detail = ""
    msg = f"{what}: {detail}" if detail else f"{what}: http status {resp.status_code}"
    if resp.status_code == 404:
        return NotFound(msg)
    if resp.status_code in (401, 403):
        return PermissionDenied(msg)
    if resp.status_code == 400:
        return InvalidArgument(msg)
    if resp.status_code >= 500 or resp.status_code == 429:
        return Unavailable(msg)
    return RegistryError(msg)


class RegistryClient:
    """One registry endpoint; thread-safe for parallel blob downloads (httpx pools)."""

    def __init__(self, endpoint: Endpoint, credential: Credential | None = None, *,
                 timeout: float = 30.0, user_agent: str = "minke") -> None:
        import httpx

        self.endpoint = endpoint
        self.credential = credential
        self.base = endpoint.url.rstrip("/")
        self._tokens: dict[str, tuple[str, float]] = {}
        self._basic = False
        self._http = httpx.Client(
            verify=endpoint.tls_verify,
            timeout=httpx.Timeout(timeout, connect=10.0),
            follow_redirects=True,
            headers={"User-Agent": user_agent},
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
        )
        self._fell_back = False

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport and auth ---------------------------------------------------------
    def _auth_header(self, scope: str) -> dict[str, str]:
        tok = self._tokens.get(scope)
        if tok and tok[1] > time.time():
            return {"Authorization": f"Bearer {tok[0]}"}
        if self._basic and self.credential:
            import base64

            raw = f"{self.credential.username}:{self.credential.secret}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        return {}

    def _fetch_token(self, params: dict[str, str], scope: str) -> None:
        import httpx

        realm = params.get("realm")
        if not realm:
            raise PermissionDenied(f"registry {self.endpoint.host} sent a bearer challenge without a realm")
        # Several scopes (a cross-repository mount) go as repeated scope parameters.
        query = [("service", params["service"])] if params.get("service") else []
        query += [("scope", s) for s in scope.split() if s]
        cred = self.credential
        try:
            if cred and cred.is_identity_token:
                resp = self._http.post(realm, data={
                    "grant_type": "refresh_token", "refresh_token": cred.secret,
                    "service": params.get("service", ""), "scope": scope, "client_id": "minke"})
            else:
                auth = (cred.username, cred.secret) if cred else None
                resp = self._http.get(realm, params=query, auth=auth)
        except httpx.HTTPError as e:
            raise Unavailable(f"cannot reach token server {realm}: {e}") from None
        if resp.status_code in (401, 403):
            raise PermissionDenied(f"unauthorized: authentication to {self.endpoint.host} failed")
        if resp.status_code != 200:
            raise _error_from(resp, f"token server {realm}")
        try:
            body = resp.json()
            token = body.get("token") or body.get("access_token")
            expires = float(body.get("expires_in") or 60)
        except (ValueError, AttributeError):
            raise PermissionDenied(f"token server {realm} returned malformed JSON") from None
        if not token:
            raise PermissionDenied(f"token server {realm} returned no token")
        # Refresh a little early so a token never expires in flight.
        self._tokens[scope] = (token, time.time() + max(expires - 5, 1))

    def request(self, method: str, path: str, *, scope: str, stream: bool = False,
                headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        """Send a request, answering one auth challenge; the caller checks the status."""
        import httpx

        url = path if path.startswith(("http://", "https://")) else self.base + path
        challenged = False
        while True:
            h = dict(headers or {})
            h.update(self._auth_header(scope))
            try:
                req = self._http.build_request(method, url, headers=h, **kw)
                resp = self._http.send(req, stream=stream)
            except httpx.ConnectError as e:
                if self.endpoint.fallback_http and url.startswith("https://"):
                    # Insecure registry without TLS: retry over plain HTTP, as Docker does.
                    # Threads share the client: whichever fails first switches the base.
                    self._fell_back = True
                    if self.base.startswith("https://"):
                        self.base = "http://" + self.base[len("https://"):]
                    url = "http://" + url[len("https://"):]
                    continue
                raise Unavailable(f"cannot reach registry {self.endpoint.host}: {e}") from None
            except httpx.HTTPError as e:
                raise Unavailable(f"registry {self.endpoint.host}: {e}") from None
            if resp.status_code != 401 or challenged:
                return resp
            challenged = True
            challenge = resp.headers.get("www-authenticate", "")
            resp.close()
            scheme, params = parse_challenge(challenge)
            if scheme == "bearer":
                self._fetch_token(params, scope)
            elif scheme == "basic" and self.credential:
                self._basic = True  # idempotent: parallel requests may all get the challenge
            else:
                raise PermissionDenied(f"unauthorized: authentication required for {self.endpoint.host}")

    # --- manifests ------------------------------------------------------------------
    def get_manifest(self, repo: str, reference: str) -> tuple[bytes, str, str]:
        """Fetch a manifest or index: (bytes, media type, digest), digest verified."""
        from minke.oci.digest import sha256_digest

        resp = self.request("GET", f"/v2/{repo}/manifests/{reference}", scope=f"repository:{repo}:pull",
                            headers={"Accept": MANIFEST_ACCEPT}, stream=True)
        try:
            if resp.status_code != 200:
                resp.read()
                raise _error_from(resp, f"manifest for {self.endpoint.host}/{repo}:{reference}")
            data = bytearray()
            for chunk in resp.iter_bytes():
                data += chunk
                if len(data) > MAX_MANIFEST_BYTES:
                    raise CorruptData(f"manifest {repo}:{reference} is larger than 4 MiB")
        finally:
            resp.close()
        body = bytes(data)
        digest = sha256_digest(body)
        if reference.startswith("sha256:") and digest != reference:
            raise CorruptData(f"manifest digest mismatch for {repo}: expected {reference}, got {digest}")
        media_type = resp.headers.get("content-type", "").split(";")[0].strip()
        return body, media_type, digest

    def head_manifest(self, repo: str, reference: str) -> tuple[str, str, int] | None:
        resp = self.request("HEAD", f"/v2/{repo}/manifests/{reference}", scope=f"repository:{repo}:pull",
                            headers={"Accept": MANIFEST_ACCEPT})
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise _error_from(resp, f"manifest for {self.endpoint.host}/{repo}:{reference}")
        return (resp.headers.get("docker-content-digest", ""),
                resp.headers.get("content-type", "").split(";")[0],
                int(resp.headers.get("content-length", 0)))

    def put_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> str:
        from minke.oci.digest import sha256_digest

        resp = self.request("PUT", f"/v2/{repo}/manifests/{reference}", scope=f"repository:{repo}:pull,push",
                            headers={"Content-Type": media_type}, content=data)
        if resp.status_code not in (200, 201, 202):
            raise _error_from(resp, f"push manifest {repo}:{reference}")
        return resp.headers.get("docker-content-digest") or sha256_digest(data)

    def list_tags(self, repo: str) -> list[str]:
        resp = self.request("GET", f"/v2/{repo}/tags/list", scope=f"repository:{repo}:pull")
        if resp.status_code != 200:
            raise _error_from(resp, f"tags of {repo}")
        return list(resp.json().get("tags") or [])

    def ping(self) -> None:
        """Check the endpoint speaks the v2 API and the credentials are accepted."""
        resp = self.request("GET", "/v2/", scope="")
        if resp.status_code != 200:
            raise _error_from(resp, f"login to {self.endpoint.host}")

    # --- blobs ----------------------------------------------------------------------
    def blob_size(self, repo: str, digest: str) -> int | None:
        resp = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope=f"repository:{repo}:pull")
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise _error_from(resp, f"blob {digest}")
        return int(resp.headers.get("content-length", 0))

    @contextmanager
    def open_blob(self, repo: str, digest: str, offset: int = 0) -> Iterator[Iterator[bytes]]:
        """Stream a blob from ``offset`` (a Range request); yields an iterator of chunks."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        resp = self.request("GET", f"/v2/{repo}/blobs/{digest}", scope=f"repository:{repo}:pull",
                            headers=headers, stream=True)
        try:
            if resp.status_code not in (200, 206):
                resp.read()
                raise _error_from(resp, f"blob {digest}")
            if offset and resp.status_code != 206:
                raise Unavailable(f"registry {self.endpoint.host} ignored the range request for {digest}")
            # Small chunks: after a drop, what arrived is kept and the retry resumes from it.
            yield resp.iter_raw(1 << 16)
        finally:
            resp.close()

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool:
        """Cross-repository mount; True when the registry linked the blob."""
        resp = self.request("POST", f"/v2/{repo}/blobs/uploads/", params={"mount": digest, "from": from_repo},
                            scope=f"repository:{repo}:pull,push repository:{from_repo}:pull")
        if resp.status_code == 201:
            return True
        if resp.status_code == 202:
            # The registry started an upload instead; cancel it, the caller uploads.
            loc = resp.headers.get("location")
            if loc:
                self.request("DELETE", self._abs(loc), scope=f"repository:{repo}:pull,push")
            return False
        raise _error_from(resp, f"mount {digest} from {from_repo}")

    def _abs(self, location: str) -> str:
        if location.startswith(("http://", "https://")):
            return location
        return self.base + location

    def upload_blob(self, repo: str, digest: str, size: int, chunks: Iterator[bytes], *,
                    chunk_size: int | None = None) -> None:
        """Upload a blob: monolithic by default, chunked PATCHes when chunk_size is set."""
        scope = f"repository:{repo}:pull,push"
        resp = self.request("POST", f"/v2/{repo}/blobs/uploads/", scope=scope)
        if resp.status_code != 202:
            raise _error_from(resp, f"start upload of {digest}")
        location = self._abs(resp.headers["location"])
        if chunk_size is None:
            resp = self.request("PUT", _with_digest(location, digest), scope=scope,
                                headers={"Content-Type": "application/octet-stream",
                                         "Content-Length": str(size)}, content=chunks)
        else:
            offset = 0
            buf = bytearray()

            def send(part: bytes) -> str:
                nonlocal offset
                r = self.request("PATCH", location, scope=scope, content=bytes(part), headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(part) - 1}",
                    "Content-Length": str(len(part))})
                if r.status_code != 202:
                    raise _error_from(r, f"upload chunk of {digest}")
                offset += len(part)
                return self._abs(r.headers["location"])

            for c in chunks:
                buf += c
                while len(buf) >= chunk_size:
                    location = send(bytes(buf[:chunk_size]))
                    del buf[:chunk_size]
            if buf:
                location = send(bytes(buf))
            resp = self.request("PUT", _with_digest(location, digest), scope=scope,
                                headers={"Content-Length": "0"})
        if resp.status_code != 201:
            raise _error_from(resp, f"upload {digest}")
