"""The local Hugging Face policy: a tiny random model built offline runs an episode through MCP."""

from __future__ import annotations

import pytest

from agent.engine import EngineConfig
from agent.run import collect_to_file
from agent.settings import PolicySettings
from agent.store import read_trajectories
from agent.tasks import load_tasks
from tests.test_agent_e2e import order_desk_tasks
from tests.test_agent_support import make_tiny_model, order_desk_hub, write_tasks


@pytest.mark.slow  # builds a model and imports torch/transformers (~10 s on 2 cores)
async def test_local_policy_runs_an_episode_end_to_end(tmp_path):
    model_dir = make_tiny_model(tmp_path / "tiny")
    with order_desk_hub(tmp_path) as hub_url:
        tasks = [t for t in await order_desk_tasks(hub_url) if t["task_id"] in ("od-read-order", "od-cancel")]
        out = tmp_path / "traj.jsonl"
        settings = PolicySettings(policy="local", model_dir=str(model_dir), max_tokens=12)
        summary = await collect_to_file(load_tasks(write_tasks(tmp_path / "t.jsonl", tasks)),
                                        EngineConfig(url=hub_url, concurrency=2, max_turns=3, retries=0),
                                        settings, out)
    records = read_trajectories(out)
    assert summary.errors == 0 and len(records) == 2
    for record in records:
        assert record["error"] is None and record["policy"] == {"kind": "local", "model": str(model_dir)}
        assert record["messages"][0]["role"] == "system" and record["messages"][2]["role"] == "assistant"
        assert record["usage"]["prompt_tokens"] > 0 and record["usage"]["completion_tokens"] > 0
        assert all(isinstance(v, bool) or v is None for v in record["filters"].values())
        assert record["final_state_hash"].startswith("sha256:")
        # random weights cannot produce the gold calls
        assert record["passed"] is False
    read = next(r for r in records if r["task_id"] == "od-read-order")
    assert read["filters"]["exact_match"] is False and read["filters"]["state_match"] is True
