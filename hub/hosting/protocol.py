"""uvicorn's h11 protocol with a deadline for receiving a request's headers.

uvicorn times out idle keep-alive connections, but not a connection that sends nothing after
connecting, nor one that sends half its headers and stops: each such connection is held open
for as long as the client likes, so a few hundred of them pin sockets and memory. This protocol
closes a connection whose request headers have not fully arrived within the read timeout. The
body has its own deadline in the gate (hub/hosting/gate.py), which works under any ASGI server.

`envhub serve` uses it; with uvicorn directly, pass `--http hub.hosting.protocol:HubH11Protocol`
(the deadline then comes from ENVHUB_READ_TIMEOUT, default 30 s).
"""

from __future__ import annotations

import asyncio
import os

from uvicorn.protocols.http.h11_impl import H11Protocol

from hub.hosting.config import DEFAULT_REQUEST_READ_TIMEOUT, HubConfigError

READ_TIMEOUT_ENV_VAR = "ENVHUB_READ_TIMEOUT"


def _timeout_from_env() -> float:
    raw = os.environ.get(READ_TIMEOUT_ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_REQUEST_READ_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise HubConfigError(f"{READ_TIMEOUT_ENV_VAR}={raw!r}: expected a positive number of seconds")
    return value


class HubH11Protocol(H11Protocol):
    """H11Protocol that drops a connection whose request headers take longer than the deadline."""

    header_timeout: float = _timeout_from_env()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        between_requests = self._between_requests()
        super().data_received(data)
        if not self._between_requests():
            self._cancel_header_deadline()  # the headers are in; the gate times the body
        elif between_requests and self._header_deadline is None:
            # The first bytes of the next request on a kept-alive connection: uvicorn has just
            # cancelled its keep-alive timer, so nothing else would end a stalled request.
            self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_deadline()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        self._cancel_header_deadline()  # uvicorn's keep-alive timer takes over until the next bytes
        super().on_response_complete()

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm_header_deadline(self) -> None:
        self._cancel_header_deadline()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._header_deadline_passed)

    def _cancel_header_deadline(self) -> None:
        timer = getattr(self, "_header_deadline", None)
        if timer is not None:
            timer.cancel()
            self._header_deadline = None

    def _header_deadline_passed(self) -> None:
        self._header_deadline = None
        if self._between_requests() and not self.transport.is_closing():
            self.logger.debug("closing a connection that sent no complete request within %g s", self.header_timeout)
            self.transport.close()


def h11_protocol_with_timeout(seconds: float) -> type[HubH11Protocol]:
    """HubH11Protocol with its own deadline, for `uvicorn.run(http=...)`."""
    return type("HubH11Protocol", (HubH11Protocol,), {"header_timeout": seconds})
