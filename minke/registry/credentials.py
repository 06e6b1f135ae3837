"""Registry credentials in Docker's ``~/.docker/config.json`` format.

A user's existing Docker logins work: ``auths`` entries (base64 ``user:password`` in
``auth``), ``credsStore`` (one helper for every registry) and ``credHelpers`` (a helper per
registry), speaking the ``docker-credential-<name> get|store|erase`` protocol (server URL
or JSON on stdin, JSON on stdout).  ``DOCKER_CONFIG`` moves the directory, as in Docker.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass

from minke.errors import InvalidArgument, NotFound, Unavailable

# Docker keys docker.io logins under this legacy URL; keep it so both tools share them.
DOCKER_HUB_KEY = "https://index.docker.io/v1/"


@dataclass(frozen=True)
class Credential:
    username: str
    secret: str  # password or identity token

    @property
    def is_identity_token(self) -> bool:
        return self.username == "<token>"


def config_path(env: dict[str, str] | None = None) -> str:
    env = dict(os.environ) if env is None else env
    base = env.get("DOCKER_CONFIG") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def server_key(host: str) -> str:
    """The key Docker uses in config.json for a registry host."""
    if host in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        return DOCKER_HUB_KEY
    return host


class CredentialStore:
    """Reads and writes logins for registry hosts."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path or config_path()

    def _load(self) -> dict:
        try:
            with open(self.path, "rb") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise InvalidArgument(f"invalid docker config {self.path}: {e}") from None
        if not isinstance(data, dict):
            raise InvalidArgument(f"invalid docker config {self.path}: not a JSON object")
        return data

    def _save(self, data: dict) -> None:
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        tmp = f"{self.path}.tmp{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent="\t")
            f.write("\n")
        os.replace(tmp, self.path)

    def _helper_for(self, data: dict, host: str) -> str | None:
        helpers = data.get("credHelpers") or {}
        for key in (host, server_key(host)):
            if key in helpers:
                return str(helpers[key])
        store = data.get("credsStore")
        return str(store) if store else None

    def get(self, host: str) -> Credential | None:
        data = self._load()
        helper = self._helper_for(data, host)
        if helper:
            return _helper_get(helper, server_key(host))
        auths = data.get("auths") or {}
        entry = None
        for key in (server_key(host), host, f"https://{host}", f"http://{host}"):
            if key in auths:
                entry = auths[key]
                break
        if not entry:
            return None
        if entry.get("identitytoken"):
            return Credential("<token>", entry["identitytoken"])
        auth = entry.get("auth")
        if not auth:
            return None
        try:
            user, _, password = base64.b64decode(auth).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise InvalidArgument(f"invalid auth entry for {host} in {self.path}") from None
        return Credential(user, password)

    def store(self, host: str, cred: Credential) -> None:
        data = self._load()
        helper = self._helper_for(data, host)
        if helper:
            _helper_call(helper, "store", json.dumps(
                {"ServerURL": server_key(host), "Username": cred.username, "Secret": cred.secret}))
            data.setdefault("auths", {}).setdefault(server_key(host), {})
        else:
            token = base64.b64encode(f"{cred.username}:{cred.secret}".encode()).decode()
            data.setdefault("auths", {})[server_key(host)] = {"auth": token}
        self._save(data)

    def erase(self, host: str) -> bool:
        """Forget the login for host; False when there was none."""
        data = self._load()
        helper = self._helper_for(data, host)
        found = False
        if helper:
            try:
                _helper_call(helper, "erase", server_key(host))
                found = True
            except NotFound:
                pass
        auths = data.get("auths") or {}
        for key in (server_key(host), host):
            if key in auths:
                del auths[key]
                found = True
        if found:
            self._save(data)
        return found


def _helper_call(helper: str, action: str, stdin: str) -> str:
    prog = f"docker-credential-{helper}"
    try:
        proc = subprocess.run([prog, action], input=stdin.encode(), capture_output=True, timeout=60)
    except FileNotFoundError:
        raise Unavailable(f"credential helper {prog} not found in PATH") from None
    out = proc.stdout.decode(errors="replace").strip()
    if proc.returncode != 0:
        if "credentials not found" in out.lower():
            raise NotFound(f"credentials not found in {prog}")
        raise Unavailable(f"{prog} {action} failed: {out or proc.stderr.decode(errors='replace').strip()}")
    return out


def _helper_get(helper: str, server: str) -> Credential | None:
    try:
        out = _helper_call(helper, "get", server)
    except NotFound:
        return None
    try:
        data = json.loads(out)
        return Credential(str(data["Username"]), str(data["Secret"]))
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument(f"docker-credential-{helper} returned malformed JSON") from None
