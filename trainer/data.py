"""Trajectory JSONL files → token ids and next-token targets, assistant-only.

Each conversation becomes one `Document`: its token ids and, per position, the id the model
should predict next, or -100 where the next token is not assistant output. Shifting inside each
document (rather than after packing) is what keeps packed batches exact: no document ever
predicts the first token of its neighbour.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from contracts import ContractError, Message, ToolCall, Trajectory, read_jsonl
from contracts.tool_budget import (
    BudgetResult,
    BudgetSettings,
    TokenCounter,
    apply_tool_budget,
    first_user_text,
)

IGNORE_INDEX = -100
_GENERATION_TAG = re.compile(r"{%-?\s*generation\s*-?%}")
_CHATML_EOT_LINE = "{%- set eot = '<|im_end|>' -%}"


class TrajectoryError(ValueError):
    """A trajectory file or line that cannot be used, with `file:line: problem` in its message."""


@dataclass
class Document:
    """One tokenized conversation: `targets[i]` is the label for the logits at position i."""

    input_ids: list[int]
    targets: list[int]
    source: str
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_target_tokens(self) -> int:
        return sum(1 for t in self.targets if t != IGNORE_INDEX)


@dataclass
class DataStats:
    """What happened to every trajectory read: the numbers `train_report.json` reports."""

    files: list[str] = field(default_factory=list)
    read: int = 0
    skipped_failed: int = 0
    dropped_overlong: int = 0
    truncated_overlong: int = 0
    dropped_no_assistant: int = 0
    # The context budget (contracts/tool_budget.py): trajectories whose tool list was compacted,
    # trimmed (tools dropped), dropped because a tool the conversation calls did not fit, and
    # whose recorded choice (same settings and counter) differs from the one made here.
    tool_budget: dict[str, Any] | None = None
    tool_budget_compacted: int = 0
    tool_budget_trimmed: int = 0
    dropped_tool_budget: int = 0
    tool_budget_mismatch: int = 0
    tool_tokens_before: int = 0
    tool_tokens_after: int = 0
    drop_reasons: dict[str, int] = field(default_factory=dict)
    # Assistant turns marked `"weight": 0` (a dialogue's mistake that the environment rejects and the
    # agent then repairs) kept as context but not trained on; and conversations where the template's
    # assistant mask could not be matched to the turns, so such a turn was trained on after all.
    zero_weight_turns: int = 0
    zero_weight_unmatched: int = 0
    documents: int = 0
    tokens: int = 0
    target_tokens: int = 0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


# --------------------------------------------------------------------------- reading files


def read_trajectories(paths: Iterable[Path | str], include_failed: bool = False,
                      stats: DataStats | None = None) -> list[tuple[str, Trajectory]]:
    """Read JSONL trajectories; returns `(origin, trajectory)` with origin = `file:line`, in a
    canonical order (environment, task id, then the conversation itself), not the files' order.

    A concurrent collection writes episodes in the order they finish, so two runs of the same
    collection hold the same trajectories in different orders; ordered by content, the same
    trajectories (and the same seed) train the same model. Failed trajectories are skipped (and
    counted) unless `include_failed`; an episode that never completed (`error` set) is never
    trained on. Malformed lines raise `TrajectoryError` naming the file, the line and the problem.
    """
    stats = stats if stats is not None else DataStats()
    records: list[tuple[str, Trajectory]] = []
    for path in paths:
        stats.files.append(str(path))
        try:
            lines = read_jsonl(path, Trajectory)
        except ContractError as err:
            raise TrajectoryError(str(err)) from None
        for line in lines:
            stats.read += 1
            record = line.record
            if record.error is not None or (not include_failed and not record.passed):
                stats.skipped_failed += 1
                continue
            records.append((line.where, record))
    return sorted(records, key=lambda item: _canonical_key(item[1]))


def _canonical_key(record: Trajectory) -> tuple[str, str, str]:
    return record.env or "", record.task_id or "", record.model_dump_json(include={"messages", "tools"})


# --------------------------------------------------------------------------- normalising messages


def normalize_messages(messages: Sequence[Message], origin: str) -> list[dict[str, Any]]:
    """OpenAI chat messages (already checked by the Trajectory contract) → the shape chat templates expect.

    Tool-call arguments become dicts (templates would JSON-encode a string a second time), text
    content parts are joined, and `None` content becomes "" except on assistant tool-call turns.
    """
    normalized = []
    for index, message in enumerate(messages):
        where = f"{origin}: messages[{index}]"
        role = message.role
        out: dict[str, Any] = {"role": role, "content": _text_content(message.content, where)}
        if role == "assistant" and message.tool_calls:
            out["tool_calls"] = [_normalize_call(call, f"{where}.tool_calls[{i}]")
                                 for i, call in enumerate(message.tool_calls)]
        if role == "tool" and message.tool_call_id is not None:
            out["tool_call_id"] = message.tool_call_id
        normalized.append(out)
    return normalized


def _text_content(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                parts.append(str(part.get("text", "")))
            elif isinstance(part, str):
                parts.append(part)
            else:
                raise TrajectoryError(f"{where}.content: only text parts can be trained on, got {part!r:.80}")
        return "".join(parts)
    # Tool results are sometimes stored as JSON values rather than strings.
    return json.dumps(content, ensure_ascii=False)


def _normalize_call(call: ToolCall, where: str) -> dict[str, Any]:
    name, arguments = call.function.name, call.function.arguments
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as err:
            raise TrajectoryError(f"{where}.function.arguments: not valid JSON: {err.msg}") from err
    if not isinstance(arguments, dict):
        raise TrajectoryError(f"{where}.function.arguments: expected a JSON object, got {type(arguments).__name__}")
    return {"id": call.id, "type": "function", "function": {"name": name, "arguments": arguments}}


# --------------------------------------------------------------------------- chat templates


def template_text(name: str) -> str:
    """The source of one shipped template: `chatml_tools` or `llama3_tools`."""
    return resources.files("trainer.templates").joinpath(f"{name}.jinja").read_text(encoding="utf-8")


def has_generation_markers(template: str | None) -> bool:
    return bool(template) and bool(_GENERATION_TAG.search(template))


def choose_training_template(tokenizer: Any) -> tuple[str, str]:
    """The template to train with and its name.

    The tokenizer's own template is kept when it already marks assistant output; otherwise the
    family is read off the vocabulary: ChatML if it has `<|im_start|>`, Llama-3 if it has
    `<|start_header_id|>`, else ChatML ending turns with the model's EOS token.
    """
    own = getattr(tokenizer, "chat_template", None)
    if isinstance(own, str) and has_generation_markers(own):
        return own, "tokenizer"
    vocab = tokenizer.get_vocab()
    if "<|im_start|>" in vocab:
        return template_text("chatml_tools"), "chatml_tools"
    if "<|start_header_id|>" in vocab:
        return template_text("llama3_tools"), "llama3_tools"
    eos = tokenizer.eos_token
    if not eos:
        raise TrajectoryError("the tokenizer has no chat template with generation markers and no EOS token")
    text = template_text("chatml_tools").replace(_CHATML_EOT_LINE, "{%- set eot = " + json.dumps(eos) + " -%}")
    return text, "chatml_tools+eos"


# --------------------------------------------------------------------------- tokenizing


def encode_conversation(tokenizer: Any, messages: list[dict[str, Any]],
                        tools: list[dict[str, Any]] | None) -> tuple[list[int], list[int]]:
    """Token ids and the assistant mask (1 = assistant output) of one conversation."""
    encoded = tokenizer.apply_chat_template(
        messages, tools=tools or None, tokenize=True, return_dict=True,
        return_assistant_tokens_mask=True,
    )
    ids = list(encoded["input_ids"])
    mask = list(encoded["assistant_masks"])
    return ids, mask


def to_document(ids: list[int], mask: list[int], source: str, truncated: bool = False) -> Document:
    targets = [ids[i + 1] if mask[i + 1] else IGNORE_INDEX for i in range(len(ids) - 1)]
    targets.append(IGNORE_INDEX)
    return Document(input_ids=ids, targets=targets, source=source, truncated=truncated)


def budget_trajectory_tools(record: Trajectory, settings: BudgetSettings, counter: TokenCounter) -> BudgetResult:
    """The tools a trajectory is trained with: the context-budget rule on its recorded tools.

    The inputs are the ones the evaluator uses (agent/rollout.py): the tool list, the first user
    message and the task id. A trajectory collected without a budget records the environment's
    full list, so training and evaluation make the same choice; one collected under a budget
    records what its policy was shown, which the rule leaves as it is when it already fits.
    """
    tools = [tool.to_json() for tool in record.tools]
    goal = first_user_text(record.messages)
    return apply_tool_budget(tools, goal, record.task_id or goal, settings, counter)


def _called_tools(record: Trajectory) -> set[str]:
    return {call.function.name for message in record.messages for call in (message.tool_calls or [])}


def _drop(stats: DataStats, reason: str) -> None:
    stats.drop_reasons[reason] = stats.drop_reasons.get(reason, 0) + 1


def build_documents(tokenizer: Any, records: list[tuple[str, Trajectory]], max_seq_len: int,
                    overlong: str = "drop", stats: DataStats | None = None,
                    tool_budget: BudgetSettings | None = None, counter: TokenCounter | None = None
                    ) -> list[Document]:
    """Tokenize every trajectory, applying the context budget and the over-long policy, counting both.

    With `tool_budget`, each trajectory's tools go through the budget rule first (counted by
    `counter`, the tokenizer's own by default); a trajectory that calls a tool the rule did not
    keep is dropped, since training on it would teach calling tools that are not listed.
    `drop` discards conversations longer than `max_seq_len`; `truncate-turns` keeps the longest
    prefix that ends right after an assistant turn (never inside a tool call) and fits.
    """
    from contracts.tool_budget import tokenizer_counter

    stats = stats if stats is not None else DataStats()
    if tool_budget is not None:
        counter = counter or tokenizer_counter(tokenizer)
        stats.tool_budget = {**tool_budget.to_json(), "counter": counter.name}
    documents = []
    for origin, record in records:
        messages = normalize_messages(record.messages, origin)
        untrained = zero_weight_turns(record)
        tool_list = [tool.to_json() for tool in record.tools]
        if tool_budget is not None and counter is not None:
            chosen = budget_trajectory_tools(record, tool_budget, counter)
            stats.tool_tokens_before += chosen.record.tokens_before
            stats.tool_tokens_after += chosen.record.tokens_after
            stats.tool_budget_compacted += bool(chosen.record.compacted)
            stats.tool_budget_trimmed += bool(chosen.record.dropped)
            recorded = record.tool_budget
            if (recorded is not None and recorded.settings() == tool_budget and recorded.counter == counter.name
                    and set(recorded.kept) != chosen.names):
                stats.tool_budget_mismatch += 1
            # Only tools the rule removed count: a call to a tool that was never listed is the
            # validity filter's business (and such a trajectory only gets here with --include-failed).
            missing = _called_tools(record) & set(chosen.record.dropped)
            if missing:
                stats.dropped_tool_budget += 1
                _drop(stats, "tool budget: a called tool did not fit")
                continue
            tool_list = chosen.tools
        tools = tool_list or None
        ids, mask = _encode(tokenizer, messages, tools, untrained, stats)
        truncated = False
        if len(ids) > max_seq_len:
            if overlong == "drop":
                stats.dropped_overlong += 1
                _drop(stats, f"longer than --max-seq-len {max_seq_len}")
                continue
            prefix = _longest_fitting_prefix(tokenizer, messages, tools, max_seq_len, untrained)
            if prefix is None:
                stats.dropped_overlong += 1
                _drop(stats, f"no assistant turn ends within --max-seq-len {max_seq_len}")
                continue
            ids, mask = prefix
            truncated = True
            stats.truncated_overlong += 1
        if not any(mask):
            stats.dropped_no_assistant += 1
            _drop(stats, "no assistant output")
            continue
        document = to_document(ids, mask, origin, truncated)
        documents.append(document)
        stats.documents += 1
        stats.tokens += len(document)
        stats.target_tokens += document.n_target_tokens
    return documents


def _longest_fitting_prefix(tokenizer: Any, messages: list[dict[str, Any]], tools: Any,
                            max_seq_len: int, untrained: set[int] | None = None) -> tuple[list[int], list[int]] | None:
    ends = [i + 1 for i, m in enumerate(messages) if m["role"] == "assistant"]
    for end in reversed(ends):
        ids, mask = _encode(tokenizer, messages[:end], tools, untrained or set(), None)
        if len(ids) <= max_seq_len:
            return ids, mask
    return None


def zero_weight_turns(record: Trajectory) -> set[int]:
    """Indices of the assistant messages marked `"weight": 0` (OpenAI's fine-tuning convention)."""
    return {i for i, m in enumerate(record.messages)
            if m.role == "assistant" and (m.model_extra or {}).get("weight") == 0}


def _encode(tokenizer: Any, messages: list[dict[str, Any]], tools: Any, untrained: set[int],
            stats: DataStats | None) -> tuple[list[int], list[int]]:
    ids, mask = encode_conversation(tokenizer, messages, tools)
    if untrained:
        mask = mask_turns(mask, messages, untrained, stats)
    return ids, mask


def mask_turns(mask: list[int], messages: list[dict[str, Any]], untrained: set[int],
               stats: DataStats | None = None) -> list[int]:
    """`mask` with the tokens of the assistant messages in `untrained` set to 0.

    The template's assistant mask is one run of 1s per assistant turn, in order; when the runs do
    not pair up with the turns (a template that splits a turn), nothing is masked and it is counted."""
    runs: list[tuple[int, int]] = []
    start = None
    for i, bit in enumerate([*mask, 0]):
        if bit and start is None:
            start = i
        elif not bit and start is not None:
            runs.append((start, i))
            start = None
    turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if len(runs) != len(turns):
        if stats is not None:
            stats.zero_weight_unmatched += 1
        return mask
    out = list(mask)
    for (a, b), index in zip(runs, turns, strict=True):
        if index in untrained:
            out[a:b] = [0] * (b - a)
            if stats is not None:
                stats.zero_weight_turns += 1
    return out


def replay_sample(documents: Sequence[Document], target_count: int, fraction: float, seed: int) -> list[Document]:
    """Phase-1 documents to mix into phase 2 so that they make up `fraction` of the mixture."""
    if fraction <= 0 or not documents or target_count == 0:
        return []
    wanted = round(fraction / (1.0 - fraction) * target_count)
    wanted = max(1, min(wanted, len(documents)))
    return random.Random(seed).sample(list(documents), wanted)
