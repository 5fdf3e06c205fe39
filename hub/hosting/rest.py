"""The hub's REST routes (docs/CONTRACTS.md, "Hub HTTP API"): environments and episodes."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.hosting.metrics import HubMetrics
from servers.builddir import Skipped, TaskStart, spec_summary
from servers.mcp_server import mcp_tools
from servers.state import EnvRuntime, Episode, EpisodeError, EpisodeStore

_TRUE = frozenset({"1", "true", "yes", "on"})


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class RestApi:
    """Handlers over one episode store; `routes()` lists them for the Starlette router."""

    def __init__(
        self,
        store: EpisodeStore,
        metrics: HubMetrics,
        *,
        skipped: list[Skipped],
        tasks: dict[str, TaskStart],
    ):
        self.store = store
        self.metrics = metrics
        self.skipped = skipped
        self.tasks = tasks
        self._tool_cache: dict[str, list[dict[str, Any]]] = {}

    def routes(self) -> list[Route]:
        return [
            Route("/health", self.health, methods=["GET"]),
            Route("/metrics", self.metrics_text, methods=["GET"]),
            Route("/envs", self.list_envs, methods=["GET"]),
            Route("/envs/{env}", self.describe_env, methods=["GET"]),
            Route("/envs/{env}/episodes", self.create_episode, methods=["POST"]),
            Route("/episodes/{episode_id}", self.close_episode, methods=["DELETE"]),
            Route("/episodes/{episode_id}/state", self.episode_state, methods=["GET"]),
            Route("/episodes/{episode_id}/diff", self.episode_diff, methods=["GET"]),
            Route("/episodes/{episode_id}/fork", self.fork_episode, methods=["POST"]),
            Route("/episodes/{episode_id}/snapshot", self.snapshot_episode, methods=["POST"]),
            Route("/episodes/{episode_id}/restore", self.restore_episode, methods=["POST"]),
        ]

    # -- service --------------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return JSONResponse(
            {"status": "ok", "envs": len(self.store.runtimes), "live_episodes": self.store.live_count}
        )

    async def metrics_text(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type=self.metrics.content_type)

    # -- environments ---------------------------------------------------------------------------

    async def list_envs(self, request: Request) -> Response:
        envs = [spec_summary(runtime.spec) for runtime in self.store.runtimes.values()]
        return JSONResponse({"envs": envs, "skipped": [s.to_json() for s in self.skipped]})

    async def describe_env(self, request: Request) -> Response:
        runtime = self._runtime(request.path_params["env"])
        spec = runtime.spec
        return JSONResponse(
            {
                "name": spec.name,
                "description": spec.description,
                "domain": spec.domain,
                "source": list(spec.source),
                "tools": self._tools_json(runtime),
                "tables": [table.model_dump(mode="json") for table in spec.tables],
                "dependencies": [d.model_dump(mode="json") for d in spec.dependencies],
                "mcp_url": _absolute(request, f"/envs/{spec.name}/mcp"),
            }
        )

    def _tools_json(self, runtime: EnvRuntime) -> list[dict[str, Any]]:
        cached = self._tool_cache.get(runtime.spec.name)
        if cached is None:
            cached = [
                tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in mcp_tools(runtime)
            ]
            self._tool_cache[runtime.spec.name] = cached
        return cached

    # -- episodes -------------------------------------------------------------------------------

    async def create_episode(self, request: Request) -> Response:
        env = request.path_params["env"]
        self._runtime(env)
        body = await _json_body(request, allowed={"seed", "task_id", "episode_id"})
        seed, task_id, episode_id = body.get("seed"), body.get("task_id"), body.get("episode_id")
        if episode_id is not None and not isinstance(episode_id, str):
            raise HTTPException(400, f"episode_id: must be a string or null, got {episode_id!r}")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise HTTPException(400, f"seed: must be an integer or null, got {seed!r}")
        if task_id is not None:
            if not isinstance(task_id, str):
                raise HTTPException(400, f"task_id: must be a string or null, got {task_id!r}")
            if seed is not None:
                raise HTTPException(400, "give either seed or task_id, not both: a task fixes its own seed")
            task = self.tasks.get(task_id)
            if task is None:
                raise HTTPException(404, f"task_id: unknown task '{task_id}' (this hub loaded "
                                    f"{len(self.tasks)} task(s) from the build's tasks.jsonl)")
            if task.env != env:
                raise HTTPException(400, f"task '{task_id}' is a task of environment '{task.env}', not '{env}'")
            seed = task.seed
        # A caller-chosen id lets a client that is stopped mid-request still close what it created.
        episode = self.store.create(env, seed=seed, episode_id=episode_id)
        self.metrics.episode_created(env)
        return self._created(request, episode)

    async def fork_episode(self, request: Request) -> Response:
        episode = self.store.fork(request.path_params["episode_id"])
        self.metrics.episode_created(episode.env)
        return self._created(request, episode)

    def _created(self, request: Request, episode: Episode) -> Response:
        mcp_url = _absolute(request, f"/envs/{episode.env}/episodes/{episode.id}/mcp")
        return JSONResponse(
            {"episode_id": episode.id, "env": episode.env, "mcp_url": mcp_url, "state_hash": episode.state_hash()},
            status_code=201,
            headers={"location": _absolute(request, f"/episodes/{episode.id}/state")},
        )

    async def episode_state(self, request: Request) -> Response:
        episode = self.store.get(request.path_params["episode_id"])
        payload: dict[str, Any] = {
            "episode_id": episode.id,
            "env": episode.env,
            "state_hash": episode.state_hash(),
            "row_counts": episode.row_counts(),
        }
        if request.query_params.get("rows", "").lower() in _TRUE:
            payload["rows"] = episode.rows(request.query_params.get("table"))
        return JSONResponse(payload)

    async def episode_diff(self, request: Request) -> Response:
        episode = self.store.get(request.path_params["episode_id"])
        return JSONResponse({"episode_id": episode.id, "changes": episode.diff()})

    async def snapshot_episode(self, request: Request) -> Response:
        snapshot_id = self.store.snapshot(request.path_params["episode_id"])
        return JSONResponse({"snapshot_id": snapshot_id}, status_code=201)

    async def restore_episode(self, request: Request) -> Response:
        episode_id = request.path_params["episode_id"]
        body = await _json_body(request, allowed={"snapshot_id"})
        snapshot_id = body.get("snapshot_id")
        if not isinstance(snapshot_id, str) or not snapshot_id:
            raise HTTPException(400, "snapshot_id: required, the id returned by POST /episodes/{id}/snapshot")
        self.store.restore(episode_id, snapshot_id)
        episode = self.store.get(episode_id)
        return JSONResponse({"episode_id": episode.id, "env": episode.env, "state_hash": episode.state_hash()})

    async def close_episode(self, request: Request) -> Response:
        self.store.close(request.path_params["episode_id"])
        return Response(status_code=204)

    def _runtime(self, env: str) -> EnvRuntime:
        runtime = self.store.runtimes.get(env)
        if runtime is None:
            raise HTTPException(404, f"unknown environment '{env}' (GET /envs lists the {len(self.store.runtimes)} served)")
        return runtime


async def _json_body(request: Request, allowed: set[str]) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise HTTPException(400, f"request body is not valid JSON: {err}") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise HTTPException(400, f"request body must be a JSON object, got {type(body).__name__}")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise HTTPException(400, f"unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    return body


def _absolute(request: Request, path: str) -> str:
    return str(request.base_url).rstrip("/") + path


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    # Keeps the headers the router set, such as `Allow` on 405 Method Not Allowed.
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def episode_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status", 400)
    return error_response(status, str(exc))


__all__ = ["RestApi", "JSONResponse", "error_response", "http_error", "episode_error", "EpisodeError"]
