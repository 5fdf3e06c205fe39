"""Settings of one hub process and the start-up checks that protect it."""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# An episode of a synthesized environment is tens to hundreds of KiB; 16 MiB leaves room for
# agents that write a lot while keeping 20,000 episodes from taking the machine.
DEFAULT_MAX_EPISODE_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_SNAPSHOTS = 16
DEFAULT_MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024
# Seconds a client may take to send a request's headers and body; slower ones are dropped.
DEFAULT_REQUEST_READ_TIMEOUT = 30.0
LOOPBACK_HOST_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
TOKEN_ENV_VAR = "ENVHUB_TOKEN"


class HubConfigError(ValueError):
    """A setting that would make the hub unsafe or unusable; the message says which and why."""


@dataclass(frozen=True)
class HubConfig:
    """Everything `create_app` needs to know about how the hub is exposed."""

    # Where the environments come from: a build folder, or None for the built-in examples.
    build_dir: Path | None = None
    # The address uvicorn binds; it decides whether a token is required and which Host
    # headers are accepted by default.
    bind_host: str = "127.0.0.1"
    token: str | None = None
    # Host names (no port) accepted in the Host header besides the loopback names.
    allowed_hosts: tuple[str, ...] = ()
    episode_ttl_seconds: float = 900.0
    max_live_episodes: int = 20_000
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Bytes one episode's database may grow to; a write beyond it fails and changes nothing.
    max_episode_bytes: int = DEFAULT_MAX_EPISODE_BYTES
    # Snapshots one episode may hold, and their bytes together.
    max_snapshots_per_episode: int = DEFAULT_MAX_SNAPSHOTS
    max_snapshot_bytes: int = DEFAULT_MAX_SNAPSHOT_BYTES
    # Seconds to receive a request's headers (with `envhub serve`) and its whole body (always).
    request_read_timeout_seconds: float = DEFAULT_REQUEST_READ_TIMEOUT
    # How often the background task drops idle episodes; None = a quarter of the TTL (max 30 s).
    expiry_interval_seconds: float | None = None
    # Durable episodes (docs/durability.md): a folder for episode files, and the registry's
    # SQLAlchemy URL (None = DIR/registry.sqlite). None = episodes live in memory only.
    state_dir: Path | None = None
    state_url: str | None = None
    state_fsync: bool = False

    def __post_init__(self) -> None:
        if self.token is not None and not self.token.strip():
            raise HubConfigError("token: an empty token is not a token; leave it unset instead")
        _positive("ttl", self.episode_ttl_seconds)
        _positive("request-read-timeout", self.request_read_timeout_seconds)
        for flag, value in (("max-episodes", self.max_live_episodes), ("max-body-bytes", self.max_body_bytes),
                            ("max-snapshots", self.max_snapshots_per_episode)):
            if value <= 0:
                raise HubConfigError(f"{flag}: must be positive, got {value}")
        # SQLite needs a few pages for the schema alone; below 64 KiB no environment fits.
        for flag, value in (("max-episode-bytes", self.max_episode_bytes),
                            ("max-snapshot-bytes", self.max_snapshot_bytes)):
            if value < 64 * 1024:
                raise HubConfigError(f"{flag}: must be at least 65536 bytes, got {value}")
        if self.state_url is not None and self.state_dir is None:
            raise HubConfigError("state-url: needs --state-dir too: the registry lists episodes, their "
                                 "databases are files in the state folder")
        check_bind_security(self.bind_host, self.token)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> HubConfig:
        """Settings from ENVHUB_* variables, for start-up paths with no command line of their own
        (`uvicorn --factory hub.app:create_app`); see docs/hosting-security.md for the list."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, (variable, parse) in _ENV_SETTINGS.items():
            raw = environ.get(variable)
            if raw is None or not raw.strip():
                continue
            try:
                values[name] = parse(raw.strip())
            except ValueError:
                raise HubConfigError(f"{variable}={raw!r}: {_ENV_EXPECTS[parse]}") from None
        values.update(overrides)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise HubConfigError(f"unknown hub setting(s) {unknown}")
        return cls(**values)

    @property
    def expiry_interval(self) -> float:
        if self.expiry_interval_seconds is not None:
            return self.expiry_interval_seconds
        return max(0.05, min(30.0, self.episode_ttl_seconds / 4))

    @property
    def accepts_any_host(self) -> bool:
        """A public bind with a token and no explicit host list accepts any Host header.

        DNS rebinding lets a web page reach a server by a name the attacker controls; the
        bearer token already stops such a page (it cannot know the token), so insisting on
        a host list as well would only break reverse proxies and container networks.
        """
        return not is_loopback(self.bind_host) and self.token is not None and not self.allowed_hosts


def _positive(flag: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise HubConfigError(f"{flag}: must be a positive number of seconds, got {value}")


def _host_list(raw: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in raw.split(",") if name.strip())


_ENV_EXPECTS = {int: "expected a whole number", float: "expected a number of seconds", Path: "expected a path",
                str: "expected text", _host_list: "expected comma-separated host names"}
_ENV_SETTINGS = {
    "build_dir": ("ENVHUB_BUILD_DIR", Path),
    "bind_host": ("ENVHUB_HOST", str),
    "token": (TOKEN_ENV_VAR, str),
    "allowed_hosts": ("ENVHUB_ALLOWED_HOSTS", _host_list),
    "episode_ttl_seconds": ("ENVHUB_TTL", float),
    "max_live_episodes": ("ENVHUB_MAX_EPISODES", int),
    "max_body_bytes": ("ENVHUB_MAX_BODY_BYTES", int),
    "max_episode_bytes": ("ENVHUB_MAX_EPISODE_BYTES", int),
    "max_snapshots_per_episode": ("ENVHUB_MAX_SNAPSHOTS", int),
    "max_snapshot_bytes": ("ENVHUB_MAX_SNAPSHOT_BYTES", int),
    "request_read_timeout_seconds": ("ENVHUB_READ_TIMEOUT", float),
}


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the hub reachable from this machine only."""
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        # A host name other than localhost may resolve to anything.
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 arrives on dual-stack sockets
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def check_bind_security(bind_host: str, token: str | None) -> None:
    """Refuse to expose the hub beyond this machine without a bearer token."""
    if not is_loopback(bind_host) and not token:
        raise HubConfigError(
            f"refusing to listen on {bind_host!r} without a bearer token: anyone who can reach "
            "this address could create episodes and call tools. Pass --token TOKEN (or set "
            f"{TOKEN_ENV_VAR}), or bind 127.0.0.1."
        )
