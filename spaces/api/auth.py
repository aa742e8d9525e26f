"""API keys: with ``--api-key`` (or ``--auth``), every API route answers 401 unless the request carries a credential.

- ``Authorization: Bearer KEY`` for a key given with ``--api-key`` / ``--api-key-file`` / ``$MMHUB_API_KEY`` (what
  the ``openai`` SDK sends as ``api_key=``, and ``huggingface_hub.InferenceClient`` as ``api_key=`` / ``token=``);
- ``Authorization: Basic`` with the app's ``--auth USER:PASSWORD`` login, so that an app protected by a login does
  not leave its API open.

Without either the API is open, and `spaces.api.options.check_exposure` keeps the server on a loopback address.
Keys are compared in constant time; the log never shows one. A request's owner (``scope["state"]["owner"]``: a
key's fingerprint, ``login:USER``, or None when the API is open) scopes what it may see (saved voices).

>>> from spaces.api.auth import Credentials
>>> creds = Credentials(keys=("secret-key-1",))
>>> creds.owner(b"Bearer secret-key-1") is not None, creds.owner(b"Bearer wrong")
(True, None)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from .errors import ApiError, error_parts
from .requestid import is_api_request

OPEN = ""  # the owner of every request when the API needs no credential


def fingerprint(key: str) -> str:
    """A key's public name: ``key:`` + the first 16 hex digits of its SHA-256 (never the key)."""
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Credentials:
    keys: tuple[str, ...] = ()
    login: tuple[str, str] | None = None

    @property
    def required(self) -> bool:
        return bool(self.keys) or self.login is not None

    def owner(self, authorization: bytes | None) -> str | None:
        """The owner the ``Authorization`` header proves, or None when it proves nothing."""
        if not authorization:
            return None
        try:
            scheme, _, value = authorization.decode("latin-1").strip().partition(" ")
        except UnicodeDecodeError:
            return None
        value = value.strip()
        if scheme.lower() == "bearer" and value:
            found = None
            for key in self.keys:  # every key compared: the time does not say which one matched
                if hmac.compare_digest(value.encode("latin-1", "replace"), key.encode()):
                    found = key
            return fingerprint(found) if found is not None else None
        if scheme.lower() == "basic" and self.login is not None:
            try:
                user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            ok_user = hmac.compare_digest(user.encode(), self.login[0].encode())
            ok_password = hmac.compare_digest(password.encode(), self.login[1].encode())
            return f"login:{user}" if ok_user and ok_password else None
        return None


class AuthMiddleware:
    """ASGI middleware: requests under `prefixes` need a credential when `credentials.required` (401 otherwise).

    A middleware rather than a route dependency, so that an unauthenticated request is refused before anything else
    (its body is not even parsed) and on every path under the prefixes, unknown routes included."""

    def __init__(self, app: Any, credentials: Credentials, prefixes: tuple[str, ...]):
        self.app, self.credentials, self.prefixes = app, credentials, prefixes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if not is_api_request(scope, self.prefixes):
            await self.app(scope, receive, send)
            return
        owner: str | None = OPEN
        if self.credentials.required:
            header = next((v for k, v in scope.get("headers", []) if k == b"authorization"), None)
            owner = self.credentials.owner(header)
            if owner is None:
                await self._refuse(scope.get("path", ""), send, header is not None)
                return
        scope.setdefault("state", {})["owner"] = owner or None
        await self.app(scope, receive, send)

    async def _refuse(self, path: str, send: Any, had_header: bool) -> None:
        message = ("Invalid API key." if had_header else "Missing API key: send the header 'Authorization: Bearer "
                                                         "KEY' (openai: api_key=KEY; InferenceClient: api_key=KEY).")
        status, body, headers = error_parts(path, ApiError(401, message, code="invalid_api_key"))
        raw = [(b"content-type", b"application/json"), (b"www-authenticate", b'Bearer realm="mmhub"')]
        raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})
