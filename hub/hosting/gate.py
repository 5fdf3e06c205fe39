"""Checks in front of every route: where the request arrived, Host/Origin, bearer token, body size
and read time.

This is the one auth/limits layer of the hub: `create_app` always wraps the app in it, so
`envhub serve`, `uvicorn --factory hub.app:create_app` and the compose service all pass through
the same checks. Decisions that depend on how the hub is exposed are taken per request from the
socket the request arrived on (the ASGI `server` scope, filled by the server from getsockname),
not from start-up flags a start-up path might not pass and not from headers a client chooses:

- no token configured: only requests that arrived on a loopback address (or a Unix socket) are
  served, whatever the Host header says;
- the body is counted as it is read, whatever Content-Length or Transfer-Encoding announce, and
  must arrive within the read timeout; the whole body is read here, so a client that disconnects
  mid-upload ends the request quietly instead of as an exception in a route.

Written as plain ASGI because it sits on the hot path of every tool call. Errors are JSON: a
JSON-RPC error object on MCP routes (so MCP clients show the message), `{"error": …}` elsewhere.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

import anyio
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.hosting.config import LOOPBACK_HOST_NAMES, TOKEN_ENV_VAR, HubConfig, is_loopback

# Routes a load balancer or compose healthcheck must reach without the token.
OPEN_PATHS = frozenset({"/health"})
_CACHE_LIMIT = 1024
# JSON-RPC "Invalid Request": the request was refused before its method was looked at.
JSONRPC_INVALID_REQUEST = -32600


def is_mcp_path(path: str) -> bool:
    return path.startswith("/envs/") and (path.endswith("/mcp") or path.endswith("/mcp/"))


def error_body(message: str, *, mcp: bool) -> bytes:
    if mcp:
        # id null: the request was refused before its JSON-RPC id was read; the SDK client
        # matches the error to its pending request.
        return orjson.dumps(
            {"jsonrpc": "2.0", "id": None, "error": {"code": JSONRPC_INVALID_REQUEST, "message": message}}
        )
    return orjson.dumps({"error": message})


async def send_error(
    send: Send, status: int, message: str, *, mcp: bool, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = error_body(message, mcp=mcp)
    all_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    all_headers += headers or []
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


# A refused upload may still be arriving: closing the connection saves reading the rest.
_CLOSE = [(b"connection", b"close")]


class HubGate:
    """Rejects a request before it reaches a route when it fails a check, with a JSON error."""

    def __init__(self, app: ASGIApp, config: HubConfig):
        self.app = app
        self._token = config.token.encode() if config.token else None
        self._explicit_hosts = bool(config.allowed_hosts)
        self._public_bind = not is_loopback(config.bind_host)
        self._allowed_names = frozenset(
            n.lower().strip("[]") for n in (*LOOPBACK_HOST_NAMES, *config.allowed_hosts)
        )
        self._max_body = config.max_body_bytes
        self._read_timeout = config.request_read_timeout_seconds
        self._host_ok: dict[bytes, bool] = {}
        self._local_socket: dict[str, bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "websocket":  # the hub has no websocket routes; never let one past the checks
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)  # lifespan
            return
        path: str = scope["path"]
        mcp = is_mcp_path(path)
        host = authorization = origin = length = chunked = None
        for key, value in scope["headers"]:
            if key == b"host":
                host = value
            elif key == b"authorization":
                authorization = value
            elif key == b"content-length":
                length = value
            elif key == b"transfer-encoding":
                chunked = value
            elif key == b"origin":
                origin = value
        local = self._arrived_locally(scope.get("server"))
        if self._token is None and not local:
            await send_error(send, 403, _no_token_message(scope.get("server")), mcp=mcp)
            return
        # With a token, a public listener accepts any Host: DNS rebinding lets a web page reach a
        # server by a name the attacker controls, and the token already stops such a page (it
        # cannot know it); insisting on a host list would only break proxies and container networks.
        any_host = self._token is not None and not self._explicit_hosts and (self._public_bind or not local)
        if not any_host:
            if host is None or not self._host_allowed(host):
                shown = host.decode("latin-1") if host else "(none)"
                await send_error(send, 421, f"Host header {shown!r} is not allowed by this hub (DNS-rebinding "
                                 "protection); start it with --allowed-host NAME to accept that name", mcp=mcp)
                return
            if origin is not None and not self._origin_allowed(origin):
                await send_error(send, 403, f"Origin {origin.decode('latin-1')!r} is not allowed by this hub",
                                 mcp=mcp)
                return
        if self._token is not None and path not in OPEN_PATHS and not self._authorized(authorization):
            await send_error(
                send, 401,
                "missing bearer token" if authorization is None
                else "invalid bearer token",
                mcp=mcp, headers=[(b"www-authenticate", b'Bearer realm="envhub"')],
            )
            return
        declared = 0
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0:
                await send_error(send, 400, f"Content-Length {length.decode('latin-1')!r} is not a number",
                                 mcp=mcp, headers=_CLOSE)
                return
            if declared > self._max_body:
                await send_error(send, 413, self._too_large, mcp=mcp, headers=_CLOSE)
                return
        if declared or chunked is not None:
            await self._with_body_read(scope, receive, send, mcp)
            return
        await self.app(scope, receive, send)

    @property
    def _too_large(self) -> str:
        return f"request body is larger than this hub's limit of {self._max_body} bytes (--max-body-bytes)"

    async def _with_body_read(self, scope: Scope, receive: Receive, send: Send, mcp: bool) -> None:
        """Read the body here, counting the bytes that actually arrive, then replay it to the app.

        Content-Length is only a claim: with `Transfer-Encoding: chunked` as well, the server reads
        chunks, so only counting protects the limit. Reading up front also bounds how long a slow
        client may hold the request, and turns a disconnect mid-upload into a quiet end.
        """
        chunks: list[bytes] = []
        size = 0
        with anyio.move_on_after(self._read_timeout) as deadline:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # http.disconnect: the client is gone, there is no one to answer
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self._max_body:
                    await send_error(send, 413, self._too_large, mcp=mcp, headers=_CLOSE)
                    return
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        if deadline.cancelled_caught:
            await send_error(send, 408, f"request body not received within {self._read_timeout:g} s "
                             "(--request-read-timeout)", mcp=mcp, headers=_CLOSE)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _arrived_locally(self, server: object) -> bool:
        """Whether the listening socket the request came through is loopback or a Unix socket."""
        if not isinstance(server, tuple | list) or not server:
            return False  # unknown: fail closed
        address = server[0]
        if len(server) > 1 and server[1] is None:
            return True  # a Unix socket path: reachable from this machine only
        if not isinstance(address, str):
            return False
        known = self._local_socket.get(address)
        if known is None:
            known = is_loopback(address)
            if len(self._local_socket) >= _CACHE_LIMIT:
                self._local_socket.clear()
            self._local_socket[address] = known
        return known

    def _host_allowed(self, host: bytes) -> bool:
        known = self._host_ok.get(host)
        if known is not None:
            return known
        allowed = _host_name(host.decode("latin-1")) in self._allowed_names
        if len(self._host_ok) >= _CACHE_LIMIT:
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


def _no_token_message(server: object) -> str:
    where = f"{server[0]}:{server[1]}" if isinstance(server, tuple | list) and len(server) == 2 else "an unknown address"
    return (
        f"this hub has no bearer token, so it only answers requests that arrive on a loopback address; "
        f"this one arrived on {where}. Start the hub with --token TOKEN (or set {TOKEN_ENV_VAR}) "
        "and send 'Authorization: Bearer TOKEN', or connect through 127.0.0.1."
    )


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
