"""Trajectories → token ids and assistant-only targets, for both shipped template families."""

from __future__ import annotations

import json

import pytest

from contracts import Trajectory
from trainer import data
from trainer.data import IGNORE_INDEX, TrajectoryError
from trainer.packing import best_fit_decreasing, pack_documents
from trainer.testing import build_tiny_model, sample_trajectories

EOT = {"chatml": "<|im_end|>", "llama3": "<|eot_id|>"}


@pytest.fixture(scope="module", params=["chatml", "llama3"])
def family_tokenizer(request, tmp_path_factory):
    from transformers import AutoTokenizer

    path = build_tiny_model(tmp_path_factory.mktemp(request.param), request.param)
    tokenizer = AutoTokenizer.from_pretrained(path)
    template, name = data.choose_training_template(tokenizer)
    tokenizer.chat_template = template
    return request.param, tokenizer, name


def _expected_assistant_spans(family: str, messages: list[dict]) -> list[str]:
    spans = []
    for message in messages:
        if message["role"] != "assistant":
            continue
        parts = [message["content"]] if message.get("content") else []
        for call in message.get("tool_calls") or []:
            fn = call["function"]
            args = json.dumps(json.loads(fn["arguments"]))
            if family == "chatml":
                parts.append(f'<tool_call>\n{{"name": "{fn["name"]}", "arguments": {args}}}\n</tool_call>')
            else:
                parts.append(f'{{"name": "{fn["name"]}", "parameters": {args}}}')
        spans.append("\n".join(parts) + EOT[family])
    return spans


def _label_spans(tokenizer, document) -> list[str]:
    # targets[i] labels token i+1, so token j is trained on exactly when targets[j-1] is set.
    trained = [False] + [t != IGNORE_INDEX for t in document.targets[:-1]]
    spans, current = [], []
    for token, is_trained in zip(document.input_ids, trained, strict=True):
        if is_trained:
            current.append(token)
        elif current:
            spans.append(tokenizer.decode(current))
            current = []
    if current:
        spans.append(tokenizer.decode(current))
    return spans


def test_template_choice_follows_vocabulary(family_tokenizer):
    family, _, name = family_tokenizer
    assert name == {"chatml": "chatml_tools", "llama3": "llama3_tools"}[family]


def test_labels_cover_exactly_the_assistant_turns_including_end_of_turn(family_tokenizer):
    family, tokenizer, _ = family_tokenizer
    records = [(f"fixture:{i}", Trajectory.model_validate(r)) for i, r in enumerate(sample_trajectories())]
    documents = data.build_documents(tokenizer, records, max_seq_len=4096)
    assert len(documents) == len(records)
    for (_, record), document in zip(records, documents, strict=True):
        assert _label_spans(tokenizer, document) == _expected_assistant_spans(family, record.to_json()["messages"])
        # Targets are the next token wherever they are set: the shift is inside the document.
        for i, target in enumerate(document.targets):
            if target != IGNORE_INDEX:
                assert target == document.input_ids[i + 1]
        assert document.targets[-1] == IGNORE_INDEX


def test_system_user_and_tool_text_never_labelled(family_tokenizer):
    _, tokenizer, _ = family_tokenizer
    record = Trajectory.model_validate(sample_trajectories()[0])
    document = data.build_documents(tokenizer, [("fixture", record)], max_seq_len=4096)[0]
    labelled = "".join(_label_spans(tokenizer, document))
    assert "Please cancel my order" not in labelled
    assert "shop assistant" not in labelled
    assert '"status": "pending"' not in labelled
    # The tools and the tool results are in the prompt.
    prompt = tokenizer.decode(document.input_ids)
    assert '"status": "pending"' in prompt and "cancel_order" in prompt


def test_string_arguments_are_parsed_once_not_double_encoded(family_tokenizer):
    _, tokenizer, _ = family_tokenizer
    record = Trajectory.model_validate(sample_trajectories()[0])
    messages = data.normalize_messages(record.messages, "fixture")
    assert messages[2]["tool_calls"][0]["function"]["arguments"] == {"order_id": "O-1000"}
    document = data.build_documents(tokenizer, [("fixture", record)], 4096)[0]
    assert '\\"order_id\\"' not in tokenizer.decode(document.input_ids)


def test_overlong_policies_drop_or_cut_at_assistant_turn_end(family_tokenizer):
    family, tokenizer, _ = family_tokenizer
    record = Trajectory.model_validate(sample_trajectories()[0])
    full = data.build_documents(tokenizer, [("f", record)], 4096)[0]
    limit = len(full) - 5
    stats = data.DataStats()
    assert data.build_documents(tokenizer, [("f", record)], limit, "drop", stats) == []
    assert stats.dropped_overlong == 1
    stats = data.DataStats()
    truncated = data.build_documents(tokenizer, [("f", record)], limit, "truncate-turns", stats)
    assert stats.truncated_overlong == 1 and len(truncated) == 1
    document = truncated[0]
    assert len(document) <= limit and document.truncated
    # The cut falls right after an assistant turn: the kept text ends with its end-of-turn token,
    # and every tool call in it is complete.
    spans = _label_spans(tokenizer, document)
    assert spans == _expected_assistant_spans(family, record.to_json()["messages"])[: len(spans)]
    assert tokenizer.decode(document.input_ids).rstrip().endswith(EOT[family])
    stats = data.DataStats()
    assert data.build_documents(tokenizer, [("f", record)], 50, "truncate-turns", stats) == []
    assert stats.dropped_overlong == 1


def test_failed_trajectories_skipped_unless_included(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(t) for t in sample_trajectories()) + "\n\n")
    stats = data.DataStats()
    assert len(data.read_trajectories([path], stats=stats)) == 5
    assert stats.skipped_failed == 1 and stats.read == 6
    assert len(data.read_trajectories([path], include_failed=True)) == 6


def test_error_records_are_never_trained_on(tmp_path):
    # An episode that never completed has no conversation; it is counted, not refused.
    path = tmp_path / "t.jsonl"
    error = {"task_id": "e", "messages": [], "error": "ConnectError: refused", "passed": False}
    path.write_text(json.dumps(sample_trajectories()[0]) + "\n" + json.dumps(error) + "\n")
    stats = data.DataStats()
    assert len(data.read_trajectories([path], include_failed=True, stats=stats)) == 1
    assert stats.read == 2 and stats.skipped_failed == 1


@pytest.mark.parametrize(("line", "problem"), [
    ("{not json", "not valid JSON"),
    ('{"format": "other/1", "messages": [{"role": "user", "content": "x"}]}', "format"),
    ('{"messages": []}', "messages"),
])
def test_bad_lines_name_file_line_and_problem(tmp_path, line, problem):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(sample_trajectories()[0]) + "\n" + line + "\n")
    with pytest.raises(TrajectoryError, match=rf"bad.jsonl:2: .*{problem}"):
        data.read_trajectories([path])


def test_bad_tool_arguments_are_reported_with_their_path():
    record = sample_trajectories()[0]
    record["messages"][2]["tool_calls"][0]["function"]["arguments"] = "{broken"
    with pytest.raises(TrajectoryError, match=r"f:3: messages\[2\]\.tool_calls\[0\]\.function\.arguments"):
        data.normalize_messages(Trajectory.model_validate(record).messages, "f:3")


def test_fallback_template_uses_eos_when_no_chat_tokens():
    class Plain:
        chat_template = None
        eos_token = "</s>"

        def get_vocab(self):
            return {"</s>": 0, "a": 1}

    template, name = data.choose_training_template(Plain())
    assert name == "chatml_tools+eos"
    assert "'</s>'" in template or '"</s>"' in template
    assert data.has_generation_markers(template)


def test_best_fit_decreasing_fills_bins_without_overflow():
    lengths = [700, 300, 600, 400, 500, 500, 100, 900]
    bins = best_fit_decreasing(lengths, 1000)
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= 1000 for b in bins)
    assert len(bins) == 4  # 4000 tokens in total: perfect fit
    with pytest.raises(ValueError, match="more than the bin capacity"):
        best_fit_decreasing([1001], 1000)


def test_packed_positions_restart_per_document(family_tokenizer):
    _, tokenizer, _ = family_tokenizer
    records = [(f"f:{i}", Trajectory.model_validate(r)) for i, r in enumerate(sample_trajectories())]
    documents = data.build_documents(tokenizer, records, 4096)
    batch = pack_documents(documents, [0, 1, 2])
    starts = [i for i, p in enumerate(batch.position_ids) if p == 0]
    assert starts == [0, len(documents[0]), len(documents[0]) + len(documents[1])]
    assert batch.n_target_tokens == sum(d.n_target_tokens for d in documents[:3])


def test_zero_weight_assistant_turns_are_context_not_targets(family_tokenizer):
    """A dialogue's rejected call carries `"weight": 0`: it stays in the prompt (the repair reads its
    error) but none of its tokens is a target; the other assistant turns keep theirs."""
    _, tokenizer, _ = family_tokenizer
    raw = sample_trajectories()[0]
    assistant = [i for i, m in enumerate(raw["messages"]) if m["role"] == "assistant"]
    assert len(assistant) >= 2
    weighted = json.loads(json.dumps(raw))
    weighted["messages"][assistant[0]]["weight"] = 0
    plain = data.build_documents(tokenizer, [("plain", Trajectory.model_validate(raw))], 4096)[0]
    stats = data.DataStats()
    masked = data.build_documents(tokenizer, [("masked", Trajectory.model_validate(weighted))], 4096,
                                  stats=stats)[0]
    assert masked.input_ids == plain.input_ids
    plain_spans, masked_spans = _label_spans(tokenizer, plain), _label_spans(tokenizer, masked)
    assert masked_spans == plain_spans[1:]
    assert 0 < masked.n_target_tokens < plain.n_target_tokens
    assert stats.zero_weight_turns == 1 and stats.zero_weight_unmatched == 0


def test_trajectories_are_read_in_content_order_not_file_order(tmp_path):
    """A concurrent collection writes episodes as they finish: the same episodes in another order
    must give the trainer the same sequence (the demo's model depended on it: 16/48 vs 5/48)."""
    records = sample_trajectories()
    forward, backward = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    forward.write_text("\n".join(json.dumps(t) for t in records) + "\n")
    backward.write_text("\n".join(json.dumps(t) for t in reversed(records)) + "\n")
    a = [t.model_dump_json() for _, t in data.read_trajectories([forward], include_failed=True)]
    b = [t.model_dump_json() for _, t in data.read_trajectories([backward], include_failed=True)]
    assert a == b and len(a) == len(records)
    assert [t.task_id for _, t in data.read_trajectories([forward], include_failed=True)] == \
        sorted(t.task_id for _, t in data.read_trajectories([forward], include_failed=True))
