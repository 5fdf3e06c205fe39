"""Prometheus metrics of one hub, in a registry of its own so several hubs can share a process."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Tool calls on SQLite state take tens of microseconds; slow ones are rare but worth seeing.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5)


class HubMetrics:
    """Counters the hub updates on every tool call and episode, exposed at GET /metrics."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, live_episodes: Callable[[], int], mcp_sessions: Callable[[], int] | None = None):
        self.registry = CollectorRegistry()
        gauge = Gauge("envhub_live_episodes", "Episodes currently alive", registry=self.registry)
        gauge.set_function(live_episodes)
        sessions = Gauge("envhub_mcp_sessions", "Open stateful (2025-11-25) MCP sessions", registry=self.registry)
        sessions.set_function(mcp_sessions or (lambda: 0))
        self._tool_calls = Counter(
            "envhub_tool_calls", "MCP tool calls served", ["env"], registry=self.registry
        )
        self._tool_errors = Counter(
            "envhub_tool_errors", "MCP tool calls that returned an error", ["env"], registry=self.registry
        )
        self._episodes_created = Counter(
            "envhub_episodes_created", "Episodes created (REST, fork, legacy sessions)", ["env"],
            registry=self.registry,
        )
        self._episodes_expired = Counter(
            "envhub_episodes_expired", "Episodes dropped after their idle TTL", registry=self.registry
        )
        # One histogram for all environments: a per-environment label would multiply the
        # bucket series by thousands of environments.
        self._latency = Histogram(
            "envhub_tool_call_seconds", "Server-side tool call latency", buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        # labels() hashes its arguments on every call; the hot path reuses the children.
        self._per_env: dict[str, tuple[Counter, Counter]] = {}

    def tool_call(self, env: str, ok: bool, seconds: float) -> None:
        children = self._per_env.get(env)
        if children is None:
            children = (self._tool_calls.labels(env), self._tool_errors.labels(env))
            self._per_env[env] = children
        children[0].inc()
        if not ok:
            children[1].inc()
        self._latency.observe(seconds)

    def episode_created(self, env: str) -> None:
        self._episodes_created.labels(env).inc()

    def episodes_expired(self, count: int) -> None:
        if count:
            self._episodes_expired.inc(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
