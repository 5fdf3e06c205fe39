"""Ray: two shards on a local Ray instance produce the same trajectories as one process."""

from __future__ import annotations

import pytest

from agent.engine import EngineConfig
from agent.ray_runner import collect_with_ray
from agent.run import collect_to_file
from agent.settings import PolicySettings
from agent.store import read_trajectories
from agent.tasks import load_tasks
from tests.test_agent_e2e import order_desk_tasks
from tests.test_agent_support import order_desk_hub, write_tasks


@pytest.mark.slow
async def test_ray_shards_match_a_single_process_run(tmp_path):
    import ray

    with order_desk_hub(tmp_path) as hub_url:
        tasks = load_tasks(write_tasks(tmp_path / "t.jsonl", await order_desk_tasks(hub_url, copies=2)))
        config = EngineConfig(url=hub_url, concurrency=3)
        single = tmp_path / "single.jsonl"
        await collect_to_file(tasks, config, PolicySettings(), single)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            merged = tmp_path / "ray.jsonl"
            summary = collect_with_ray(tasks, config, PolicySettings(), merged, shards=2, quiet=True)
        finally:
            ray.shutdown()
    ray_records = read_trajectories(merged)
    assert [r["task_id"] for r in ray_records] == [t.task_id for t in tasks]  # task order
    single_by_id = {r["task_id"]: r for r in read_trajectories(single)}
    assert set(single_by_id) == {r["task_id"] for r in ray_records}
    for record in ray_records:
        assert record["passed"] and record["messages"] == single_by_id[record["task_id"]]["messages"]
    assert summary.done == len(tasks) and summary.passed == len(tasks) and summary.errors == 0
    assert len(list((tmp_path / "ray.jsonl.parts").glob("part-*.jsonl"))) == 2
