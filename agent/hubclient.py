"""The hub's REST API (docs/CONTRACTS.md), spoken over a shared httpx2 client.

Only the routes the collector needs: health (to tell a hub from a plain MCP server), episode
creation, the final state hash, and closing an episode.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass
from typing import Any

import httpx2

from agent.retry import EpisodeGoneError, HubRequestError, TransientError, retry_transient


@dataclass(frozen=True)
class Episode:
    episode_id: str
    env: str
    mcp_url: str
    state_hash: str | None


class HubClient:
    def __init__(self, http: httpx2.AsyncClient, base_url: str, token: str | None = None,
                 call_timeout: float = 30.0, attempts: int = 6):
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.call_timeout = call_timeout
        self.attempts = attempts
        # Episodes created and not yet closed: what an interrupted run still has to close.
        self.open_episodes: set[str] = set()

    async def _request(self, method: str, path: str, json: Any = None, params: dict | None = None,
                       episode_route: bool = False) -> Any:
        url = self.base_url + path
        response = await self.http.request(method, url, json=json, params=params, headers=self.headers,
                                           timeout=self.call_timeout)
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise TransientError(f"{method} {url}: HTTP {response.status_code}: {response.text[:200]}")
        if response.status_code == 404 and episode_route:
            raise EpisodeGoneError(f"{method} {url}: episode not found (hub restarted or episode expired)")
        if response.status_code >= 400:
            raise HubRequestError(f"{method} {url}: HTTP {response.status_code}: {_error_text(response)}",
                                  response.status_code)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def health(self) -> dict[str, Any]:
        return await retry_transient(lambda: self._request("GET", "/health"), self.attempts)

    async def create_episode(self, env: str, seed: int | None, task_id: str | None) -> Episode:
        # The id is chosen here and remembered before the request: a run stopped while the hub is
        # creating the episode (Ctrl-C, SIGTERM) still knows what to close.
        episode_id = "ep-" + secrets.token_hex(12)
        body = {"seed": seed, "task_id": task_id, "episode_id": episode_id}
        self.open_episodes.add(episode_id)
        try:
            data = await retry_transient(lambda: self._request("POST", f"/envs/{env}/episodes", json=body),
                                         self.attempts)
        except HubRequestError as err:
            if err.status != 409:
                self.open_episodes.discard(episode_id)
                raise
            # A retry after a lost response: the first attempt created it (the id is ours alone).
            data = {"episode_id": episode_id, "env": env}
        except Exception:
            self.open_episodes.discard(episode_id)
            raise
        mcp_url = data.get("mcp_url") or f"/envs/{env}/episodes/{data['episode_id']}/mcp"
        if mcp_url.startswith("/"):
            mcp_url = self.base_url + mcp_url
        return Episode(data["episode_id"], data.get("env", env), mcp_url, data.get("state_hash"))

    async def state_hash(self, episode_id: str) -> str:
        data = await retry_transient(
            lambda: self._request("GET", f"/episodes/{episode_id}/state", episode_route=True), self.attempts
        )
        return data["state_hash"]

    async def close_episode(self, episode_id: str) -> None:
        """Best effort: the hub also reaps idle episodes, so a failed close loses nothing.

        A close cut short by cancellation (Ctrl-C, SIGTERM) keeps the id in `open_episodes`, so the
        engine's final `close_open_episodes` sends the DELETE again instead of forgetting it."""
        with contextlib.suppress(Exception):
            await self._request("DELETE", f"/episodes/{episode_id}", episode_route=True)
        self.open_episodes.discard(episode_id)

    async def close_open_episodes(self, timeout: float = 5.0) -> None:
        """Close every episode this client created and did not close yet (a run that is stopping)."""
        pending = list(self.open_episodes)
        if pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(self.close_episode(e) for e in pending)), timeout)


def _error_text(response: httpx2.Response) -> str:
    try:
        return str(response.json().get("error", response.text))[:300]
    except Exception:
        return response.text[:300]


async def probe_hub(http: httpx2.AsyncClient, url: str, token: str | None = None) -> bool:
    """True when `url` answers `GET /health` like an envhub hub; False for a plain MCP server."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = await http.get(url.rstrip("/") + "/health", headers=headers, timeout=10.0)
        data = response.json()
    except Exception:
        return False
    return response.status_code == 200 and isinstance(data, dict) and "live_episodes" in data
