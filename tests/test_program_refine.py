"""LLM refinement may answer with program operations: the prompt describes them, the answer loads,
gets fresh seed rows and dependencies, and passes the quality gate."""

from __future__ import annotations

import copy

from servers.spec import parse_envspec
from synth.envs.quality_gate import run_gate
from synth.envs.refine import SYSTEM_PROMPT, _rebuild
from tests.test_program_language import SHOP


def test_prompt_describes_the_program_kind():
    for word in ('"kind":"program"', '"require"', '"for_each"', "json_each(:ids)", "envhub_next_id", "rolls the whole"):
        assert word in SYSTEM_PROMPT


def test_an_answer_with_programs_is_rebuilt_and_gated():
    draft = parse_envspec(copy.deepcopy(SHOP))
    answer = copy.deepcopy(SHOP)
    answer.pop("seed")
    refined = _rebuild(answer, draft, seed=3)
    assert refined.tool("cancel_order").operation.kind == "program"
    assert refined.seed.rows["orders"]  # regenerated seed rows
    gated = run_gate(refined, min_tools=1)
    assert gated.passed
    verdicts = {v.name: v.ok for v in gated.verdicts}
    assert verdicts["cancel_order"] and verdicts["order_lines"]
