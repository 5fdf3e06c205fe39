"""Which failures are worth retrying, and the exponential backoff used for them.

A hub that restarts mid-run refuses connections for a moment and forgets its episodes; both are
transient from the collector's point of view. Bad requests (4xx other than 404/408/429) are not.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx2

T = TypeVar("T")


class TransientError(RuntimeError):
    """A failure that may go away on its own: transport error, 5xx, 429, timeout."""


class EpisodeGoneError(TransientError):
    """The hub no longer knows the episode (restart or TTL expiry): start the episode again."""


class HubRequestError(RuntimeError):
    """The hub rejected a request for a reason retrying will not fix (4xx)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class HubUnreachable(RuntimeError):
    """The hub has answered nothing for longer than the allowed outage: the run stops."""


# Failures that mean "nothing answered", as opposed to a slow or unhappy server.
UNREACHABLE_ERRORS = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.ReadError, httpx2.WriteError,
                      httpx2.RemoteProtocolError)
# What a proxy in front of a stopped hub answers.
UNREACHABLE_STATUSES = frozenset({502, 503, 504})


class OutageWatch:
    """Consecutive failures to reach one server; once they have lasted `limit` seconds, `check` raises.

    A restart that comes back within the limit costs a few retries; a hub gone for good ends the
    run after `limit` seconds with one clear error, instead of every remaining episode burning
    its retries. Any answer from the server ends the outage. `limit` None or <= 0 never gives up.
    """

    def __init__(self, url: str, limit: float | None, clock: Callable[[], float] = time.monotonic):
        self.url = url
        self.limit = limit if limit is not None and limit > 0 else None
        self._clock = clock
        self._since: float | None = None
        self.failures = 0
        self.last_error = ""

    def reached(self) -> None:
        self._since = None
        self.failures = 0

    def failed(self, err: BaseException | str) -> None:
        if self._since is None:
            self._since = self._clock()
        self.failures += 1
        self.last_error = err if isinstance(err, str) else describe(err)

    def check(self) -> None:
        if self.limit is None or self._since is None:
            return
        lasted = self._clock() - self._since
        if lasted >= self.limit:
            raise HubUnreachable(
                f"{self.url} has not been reachable for {lasted:.0f} s ({self.failures} failed attempt(s) in a "
                f"row; last: {self.last_error}); giving up after the allowed outage of {self.limit:g} s "
                "(--max-outage)"
            )


def cancellation_pending() -> bool:
    """Whether the running task has been asked to stop (Ctrl-C, SIGTERM, a cancelled gather).

    An HTTP or MCP client may turn the CancelledError it receives into its own error (a closed
    stream, a broken connection), which then looks transient; a retry loop must not take that for
    an outage and start the episode again, or a stopped collector keeps running."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def leaf_errors(err: BaseException) -> list[BaseException]:
    """The real errors inside (possibly nested) exception groups, such as the MCP client's task group raises."""
    if isinstance(err, BaseExceptionGroup):
        return [leaf for sub in err.exceptions for leaf in leaf_errors(sub)]
    return [err]


def describe(err: BaseException) -> str:
    return "; ".join(f"{type(leaf).__name__}: {leaf}" for leaf in leaf_errors(err))


def is_transient(err: BaseException) -> bool:
    if isinstance(err, BaseExceptionGroup):
        return any(is_transient(leaf) for leaf in leaf_errors(err))
    if isinstance(err, HubRequestError):
        return False
    if isinstance(err, TransientError | httpx2.TransportError | TimeoutError | ConnectionError):
        return True
    # The MCP SDK wraps transport failures in its own errors; judge those by their text.
    text = f"{type(err).__name__}: {err}".lower()
    return any(
        hint in text
        for hint in ("connect", "connection", "timed out", "timeout", "reset", "refused", "404", "not found",
                     "502", "503", "504", "500", "internal server error", "unknown episode", "closed")
    )


def backoff_delay(attempt: int, base: float = 0.2, cap: float = 5.0) -> float:
    """Full-jitter exponential backoff: spreads the retries of many episodes after a restart."""
    return random.uniform(0.5, 1.0) * min(cap, base * (2**attempt))


async def retry_transient(
    fn: Callable[[], Awaitable[T]], attempts: int = 6, base: float = 0.2, cap: float = 3.0
) -> T:
    """Call `fn` until it succeeds or fails with a non-transient error; the last error is raised."""
    for attempt in range(attempts):
        try:
            return await fn()
        except EpisodeGoneError:
            raise  # retrying the same call cannot bring the episode back
        except Exception as err:
            if attempt == attempts - 1 or not is_transient(err):
                raise
            await asyncio.sleep(backoff_delay(attempt, base, cap))
    raise AssertionError("unreachable")
