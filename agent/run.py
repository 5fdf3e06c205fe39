"""Glue used by the CLI and by each Ray shard: build the policy and user, run the engine into a store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.engine import EngineConfig, Summary, collect
from agent.factory import build_policy, build_user_factory
from agent.settings import PolicySettings
from agent.store import TrajectoryStore
from contracts import TaskSpec, Trajectory


async def collect_to_file(
    tasks: list[TaskSpec], config: EngineConfig, settings: PolicySettings, out: str | Path,
    keep: str = "all", resume: bool = False, overwrite: bool = False, fsync: bool = False,
    on_start: Callable[[Summary], None] | None = None,
    on_result: Callable[[Trajectory, Summary], None] | None = None,
) -> Summary:
    policy = build_policy(settings)
    make_user = build_user_factory(settings)
    try:
        with TrajectoryStore(out, keep=keep, resume=resume, overwrite=overwrite, fsync=fsync) as store:
            if on_start is not None:
                on_start(Summary(total=len(tasks), skipped=sum(t.task_id in store.done_ids for t in tasks)))
            return await collect(tasks, config, policy, make_user, store, on_result)
    finally:
        await policy.aclose()


def collect_sync(*args: Any, **kwargs: Any) -> Summary:
    return asyncio.run(collect_to_file(*args, **kwargs))
