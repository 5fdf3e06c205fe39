"""Checks in front of every route: Host/Origin allow-list, bearer token, request body size.

One pass over the headers per request, written as plain ASGI because it sits on the hot path
of every tool call.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.hosting.config import LOOPBACK_HOST_NAMES, HubConfig

# Routes a load balancer or compose healthcheck must reach without the token.
OPEN_PATHS = frozenset({"/health"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_HOST_CACHE_LIMIT = 1024


class HubGate:
    """Rejects a request before it reaches a route when it fails a check, with a JSON error."""

    def __init__(self, app: ASGIApp, config: HubConfig):
        self.app = app
        self._token = config.token.encode() if config.token else None
        self._any_host = config.accepts_any_host
        self._allowed_names = frozenset(
            n.lower().strip("[]") for n in (*LOOPBACK_HOST_NAMES, *config.allowed_hosts)
        )
        self._max_body = config.max_body_bytes
        self._host_ok: dict[bytes, bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = authorization = origin = length = None
        for key, value in scope["headers"]:
            if key == b"host":
                host = value
            elif key == b"authorization":
                authorization = value
            elif key == b"content-length":
                length = value
            elif key == b"origin":
                origin = value
        if not self._any_host:
            if host is None or not self._host_allowed(host):
                shown = host.decode("latin-1") if host else "(none)"
                await _error(send, 421, f"Host header {shown!r} is not allowed by this hub (DNS-rebinding "
                             "protection); start it with --allowed-host NAME to accept that name")
                return
            if origin is not None and not self._origin_allowed(origin):
                await _error(send, 403, f"Origin {origin.decode('latin-1')!r} is not allowed by this hub")
                return
        if self._token is not None and scope["path"] not in OPEN_PATHS and not self._authorized(authorization):
            await _error(
                send, 401,
                "missing bearer token" if authorization is None else "invalid bearer token",
                extra_headers=[(b"www-authenticate", b'Bearer realm="envhub"')],
            )
            return
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _error(send, 400, f"Content-Length {length.decode('latin-1')!r} is not a number")
                return
            if declared > self._max_body:
                await _too_large(send, self._max_body)
                return
            # The HTTP server never delivers more body than Content-Length announced.
            await self.app(scope, receive, send)
            return
        if scope["method"] in _BODY_METHODS:
            await self._with_counted_body(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _with_counted_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A chunked body has no declared size: read it up to the limit, then replay it."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                await _too_large(send, self._max_body)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _host_allowed(self, host: bytes) -> bool:
        known = self._host_ok.get(host)
        if known is not None:
            return known
        allowed = _host_name(host.decode("latin-1")) in self._allowed_names
        if len(self._host_ok) >= _HOST_CACHE_LIMIT:
            self._host_ok.clear()
        self._host_ok[host] = allowed
        return allowed

    def _origin_allowed(self, origin: bytes) -> bool:
        try:
            name = urlsplit(origin.decode("latin-1")).hostname
        except ValueError:
            return False
        return name is not None and name.lower() in self._allowed_names

    def _authorized(self, authorization: bytes | None) -> bool:
        if authorization is None or self._token is None:
            return False
        scheme, _, credentials = authorization.partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        # Constant time, so response timing does not reveal how much of a guess was right.
        return hmac.compare_digest(credentials.strip(), self._token)


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _too_large(send: Send, limit: int) -> None:
    await _error(send, 413, f"request body is larger than this hub's limit of {limit} bytes "
                 "(--max-body-bytes)")


async def _error(send: Send, status: int, message: str, extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = orjson.dumps({"error": message})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if extra_headers:
        headers += extra_headers
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
