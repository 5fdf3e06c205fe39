"""Settings of one hub process and the start-up checks that protect it."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
LOOPBACK_HOST_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


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
        if self.episode_ttl_seconds <= 0:
            raise HubConfigError(f"ttl: must be a positive number of seconds, got {self.episode_ttl_seconds}")
        if self.max_live_episodes <= 0:
            raise HubConfigError(f"max-episodes: must be positive, got {self.max_live_episodes}")
        if self.max_body_bytes <= 0:
            raise HubConfigError(f"max-body-bytes: must be positive, got {self.max_body_bytes}")
        if self.state_url is not None and self.state_dir is None:
            raise HubConfigError("state-url: needs --state-dir too: the registry lists episodes, their "
                                 "databases are files in the state folder")
        check_bind_security(self.bind_host, self.token)

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


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the hub reachable from this machine only."""
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        # A host name other than localhost may resolve to anything.
        return False


def check_bind_security(bind_host: str, token: str | None) -> None:
    """Refuse to expose the hub beyond this machine without a bearer token."""
    if not is_loopback(bind_host) and not token:
        raise HubConfigError(
            f"refusing to listen on {bind_host!r} without a bearer token: anyone who can reach "
            "this address could create episodes and call tools. Pass --token TOKEN (or set "
            "ENVHUB_TOKEN), or bind 127.0.0.1."
        )
