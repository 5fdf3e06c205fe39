"""Glue used by the CLI and by each Ray shard: build the policy and user, run the engine into a store."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
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
            with _sigterm_cancels_this_task() as terminated:
                try:
                    return await collect(tasks, config, policy, make_user, store, on_result)
                except asyncio.CancelledError:
                    if terminated.is_set():
                        raise CollectionTerminated("terminated by SIGTERM") from None
                    raise
    finally:
        await policy.aclose()


class CollectionTerminated(RuntimeError):
    """SIGTERM stopped the run; finished episodes are stored and open ones were closed."""


@contextlib.contextmanager
def _sigterm_cancels_this_task() -> Iterator[threading.Event]:
    """SIGTERM cancels the running task like Ctrl-C does, so the engine's cleanup runs.

    Without it SIGTERM (the default of `kill`, systemd, Kubernetes, Ray) ends the process on the
    spot and every episode in flight stays open on the hub until its TTL. Signal handlers can
    only be installed from the main thread; elsewhere (a Ray worker thread) this does nothing.
    """
    terminated = threading.Event()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if threading.current_thread() is not threading.main_thread() or task is None:
        yield terminated
        return

    def on_sigterm() -> None:
        terminated.set()
        task.cancel()

    try:
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    except (NotImplementedError, RuntimeError):  # no signal support in this loop (e.g. Windows)
        yield terminated
        return
    try:
        yield terminated
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def collect_sync(*args: Any, **kwargs: Any) -> Summary:
    return asyncio.run(collect_to_file(*args, **kwargs))
