"""The async collection engine: N episodes in flight over one shared HTTP connection pool.

Each worker pulls the next task, runs its episode under a per-episode timeout, retries it from
scratch on a new episode when it failed for a transient reason (transport error, 5xx, timeout,
the hub lost the episode in a restart), and hands the trajectory to the single store writer.
An episode that still fails after `retries` is written with `error` set and counted.

Every HTTP request goes through one `OutageWatch`: when nothing has answered for `max_outage`
seconds the run stops with `HubUnreachable` (the tasks not done stay out of the output, so
`--resume` runs them later). However the run ends (done, error, Ctrl-C, SIGTERM via
agent.run), episodes still open on the hub are closed before the HTTP clients are.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2

from agent.filters import FILTER_NAMES
from agent.hubclient import HubClient
from agent.policies.base import Policy
from agent.retry import (
    UNREACHABLE_ERRORS,
    UNREACHABLE_STATUSES,
    OutageWatch,
    backoff_delay,
    cancellation_pending,
    describe,
    is_transient,
)
from agent.rollout import EpisodeTools, Limits, Target, error_trajectory, run_episode
from agent.settings import EngineConfig
from agent.store import TrajectoryStore
from agent.user import SimulatedUser
from contracts import BudgetSettings, TaskSpec, Trajectory

MAX_POOL = 512


@dataclass
class Summary:
    total: int = 0
    skipped: int = 0
    done: int = 0
    passed: int = 0
    errors: int = 0
    retries: int = 0
    seconds: float = 0.0
    filters: dict[str, Counter] = field(default_factory=lambda: {name: Counter() for name in FILTER_NAMES})
    per_env: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    # "kind" or "kind:model" -> episodes, passed, errors: the filter yield of each policy.
    per_policy: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    tokens: Counter = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)

    def add(self, trajectory: Trajectory) -> None:
        self.done += 1
        env = self.per_env[trajectory.env or ""]
        env["episodes"] += 1
        policy = self.per_policy[policy_label(trajectory)]
        policy["episodes"] += 1
        if trajectory.passed:
            self.passed += 1
            env["passed"] += 1
            policy["passed"] += 1
        if trajectory.error:
            self.errors += 1
            env["errors"] += 1
            policy["errors"] += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(f"{trajectory.task_id}: {trajectory.error}")
        verdicts = trajectory.filters.verdicts()
        for name in FILTER_NAMES:
            value = verdicts.get(name)
            self.filters[name]["n/a" if value is None else ("pass" if value else "fail")] += 1
        for key, value in trajectory.usage.model_dump().items():
            self.tokens[key] += value

    def merge(self, other: Summary) -> None:
        for name in ("total", "skipped", "done", "passed", "errors", "retries"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in FILTER_NAMES:
            self.filters[name].update(other.filters[name])
        for env, counts in other.per_env.items():
            self.per_env[env].update(counts)
        for policy, counts in other.per_policy.items():
            self.per_policy[policy].update(counts)
        self.tokens.update(other.tokens)
        self.error_samples = (self.error_samples + other.error_samples)[:5]

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total, "skipped": self.skipped, "done": self.done, "passed": self.passed,
            "errors": self.errors, "retries": self.retries, "seconds": round(self.seconds, 3),
            "filters": {k: dict(v) for k, v in self.filters.items()},
            "per_env": {k: dict(v) for k, v in self.per_env.items()},
            "per_policy": {k: dict(v) for k, v in self.per_policy.items()},
            "tokens": dict(self.tokens), "error_samples": self.error_samples,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        summary = cls(**{k: data[k] for k in ("total", "skipped", "done", "passed", "errors", "retries", "seconds")})
        for name, counts in data["filters"].items():
            summary.filters[name] = Counter(counts)
        for env, counts in data["per_env"].items():
            summary.per_env[env] = Counter(counts)
        for policy, counts in data.get("per_policy", {}).items():
            summary.per_policy[policy] = Counter(counts)
        summary.tokens = Counter(data["tokens"])
        summary.error_samples = list(data["error_samples"])
        return summary


def policy_label(trajectory: Trajectory) -> str:
    policy = trajectory.policy
    if policy is None:
        return "unknown"
    return f"{policy.kind}:{policy.model}" if policy.model else policy.kind


class WatchedTransport(httpx2.AsyncBaseTransport):
    """Reports every request's fate to an OutageWatch: any answer means the server is reachable."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, watch: OutageWatch):
        self._inner = inner
        self._watch = watch

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            response = await self._inner.handle_async_request(request)
        except UNREACHABLE_ERRORS as err:
            self._watch.failed(err)
            raise
        if response.status_code in UNREACHABLE_STATUSES:
            self._watch.failed(f"HTTP {response.status_code} from {request.url.host}")
        else:
            self._watch.reached()
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def shared_http_client(concurrency: int, call_timeout: float, token: str | None = None,
                       watch: OutageWatch | None = None) -> httpx2.AsyncClient:
    """One pool for every episode; verify=False skips the per-client SSL context build (loopback/HTTP).

    The pool grows with the concurrency up to MAX_POOL connections: beyond that, extra sockets only
    cost the hub accept/parse work, since requests are short and keep-alive connections are reused.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else None
    size = max(8, min(concurrency, MAX_POOL))
    # Expire idle connections before uvicorn's 5 s keep-alive timeout closes them under us.
    limits = httpx2.Limits(max_connections=size, max_keepalive_connections=size, keepalive_expiry=4.0)
    # The pool timeout must cover waiting behind every other in-flight request at full load.
    timeout = httpx2.Timeout(call_timeout, pool=max(60.0, call_timeout))
    if watch is None:
        return httpx2.AsyncClient(verify=False, limits=limits, timeout=timeout, headers=headers)
    transport = WatchedTransport(httpx2.AsyncHTTPTransport(verify=False, limits=limits), watch)
    return httpx2.AsyncClient(transport=transport, timeout=timeout, headers=headers)


async def collect(
    tasks: list[TaskSpec],
    config: EngineConfig,
    policy: Policy,
    make_user: Callable[[], SimulatedUser],
    store: TrajectoryStore,
    on_result: Callable[[Trajectory, Summary], None] | None = None,
) -> Summary:
    """Run every task not already in the store; returns the run's summary."""
    summary = Summary(total=len(tasks))
    todo = [t for t in tasks if t.task_id not in store.done_ids]
    summary.skipped = len(tasks) - len(todo)
    queue: asyncio.Queue[TaskSpec] = asyncio.Queue()
    for task in todo:
        queue.put_nowait(task)
    limits = Limits(max_turns=config.max_turns, call_timeout=config.call_timeout, tool_budget=BudgetSettings.coerce(config.tool_budget))
    started = time.perf_counter()
    pool = min(max(1, config.concurrency), MAX_POOL)
    per_client = config.connections_per_client or pool
    n_clients = max(1, -(-pool // per_client))
    watch = OutageWatch(config.url, config.max_outage)
    async with contextlib.AsyncExitStack() as stack:
        targets = []
        tool_lists: dict[str, EpisodeTools] = {}  # shared by every client's episodes
        for _ in range(n_clients):
            http = await stack.enter_async_context(
                shared_http_client(min(per_client, pool), config.call_timeout, config.token, watch))
            hub = HubClient(http, config.url, config.token, config.call_timeout) if config.is_hub else None
            targets.append(Target(http=http, hub=hub, mcp_url=None if config.is_hub else config.url,
                                  mcp_client=config.mcp_client, tool_lists=tool_lists))

        async def run_with_retries(task: TaskSpec, target: Target) -> Trajectory:
            task_started = time.perf_counter()
            error = "no attempt made"
            for attempt in range(1, config.retries + 2):
                watch.check()  # a hub gone for good ends the run, not each episode's retries
                user = make_user()
                try:
                    return await asyncio.wait_for(run_episode(task, policy, user, target, limits, attempt),
                                                  config.episode_timeout)
                except TimeoutError:
                    error = f"episode timed out after {config.episode_timeout:g}s"
                    retryable = True
                except Exception as err:
                    if cancellation_pending():  # a stop request the client turned into its own error
                        raise asyncio.CancelledError from err
                    error = describe(err)
                    retryable = is_transient(err)
                finally:
                    await user.aclose()
                if not retryable or attempt > config.retries:
                    watch.check()  # the error above may be the outage itself: not a result to record
                    break
                summary.retries += 1
                await asyncio.sleep(backoff_delay(attempt - 1, base=0.5, cap=8.0))
            return error_trajectory(task, policy, error, time.perf_counter() - task_started, attempt)

        async def worker(target: Target) -> None:
            while not queue.empty():
                task = queue.get_nowait()
                trajectory = await run_with_retries(task, target)
                store.write(trajectory)
                summary.add(trajectory)
                if on_result is not None:
                    on_result(trajectory, summary)

        n_workers = max(1, min(config.concurrency, len(todo)))
        workers = [asyncio.create_task(worker(targets[i % n_clients])) for i in range(n_workers)]
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            # Episodes whose own close was cut short (Ctrl-C, SIGTERM, an outage, a crash): close
            # them now rather than leave them to the hub's TTL. Bounded, as the hub may be gone.
            await asyncio.gather(*(t.hub.close_open_episodes() for t in targets if t.hub is not None),
                                 return_exceptions=True)
            summary.seconds = time.perf_counter() - started
    return summary
