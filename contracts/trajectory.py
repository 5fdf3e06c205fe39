"""Trajectory: one finished episode, produced by `agent`, read by `trainer` (and by `datasets`/TRL).

`messages` and `tools` are exactly OpenAI chat format, so a trajectory file loads as-is with
`datasets.load_dataset("json", ...)` and feeds TRL's SFT trainer (`messages` + `tools` columns).

Extra keys are kept everywhere (`extra="allow"`): trajectories are read by tools we do not
control and written by producers we do not control (converted datasets, other agents, newer
envhub versions), and a message may carry keys OpenAI adds over time (`name`, `refusal`, ...).
A reader acts on the fields below and passes everything else through untouched.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StrictBool, StringConstraints, field_validator, model_validator

from .base import Contract
from .formats import TRAJECTORY_FORMAT
from .tool_budget import ToolBudget

NonEmpty = Annotated[str, StringConstraints(min_length=1)]
Role = Literal["system", "user", "assistant", "tool"]
_OPEN = ConfigDict(extra="allow")


def _is_none(value: Any) -> bool:
    # Optional keys left out when absent keep records in the exact shape producers have always
    # written: OpenAI messages carry `tool_calls` only on assistant turns and `tool_call_id` only
    # on tool results, not `null` everywhere else.
    return value is None


class FunctionCall(Contract):
    model_config = _OPEN

    name: NonEmpty
    # A JSON string (OpenAI format; keeps `datasets` from merging argument keys across rows).
    # An object is accepted from other producers. A string that is not valid JSON is still a
    # record of what the model said: the `valid` filter fails such a trajectory, the trainer
    # refuses to train on it, but it is not a broken file.
    arguments: Any = "{}"

    @field_validator("arguments")
    @classmethod
    def _string_or_object(cls, value: Any) -> Any:
        if not isinstance(value, str | dict):
            raise ValueError(f"must be a JSON string or an object, got {type(value).__name__}")
        return value


class ToolCall(Contract):
    model_config = _OPEN

    id: str | None = None
    type: Literal["function"] = "function"
    function: FunctionCall

    @model_validator(mode="before")
    @classmethod
    def _flat_call(cls, data: Any) -> Any:
        # Some producers write {"id", "name", "arguments"} without the "function" wrapper.
        if isinstance(data, dict) and "function" not in data and "name" in data:
            rest = {key: value for key, value in data.items() if key not in ("name", "arguments")}
            function = {key: data[key] for key in ("name", "arguments") if key in data}
            return {**rest, "function": function}
        return data


class Message(Contract):
    model_config = _OPEN

    role: Role
    tool_call_id: str | None = Field(default=None, exclude_if=_is_none)
    # Text; None on an assistant turn that only calls tools; a list of content parts, or a
    # JSON value on a tool result, from other producers.
    content: Any = None
    tool_calls: list[ToolCall] | None = Field(default=None, exclude_if=_is_none)


class FunctionSchema(Contract):
    model_config = _OPEN

    name: NonEmpty
    description: str | None = Field(default=None, exclude_if=_is_none)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class Tool(Contract):
    model_config = _OPEN

    type: Literal["function"] = "function"
    function: FunctionSchema


class Policy(Contract):
    model_config = _OPEN

    kind: str
    model: str | None = None


class Filters(Contract):
    """Each filter is True (passed), False (failed) or None (does not apply, or was not run)."""

    model_config = _OPEN
    __pydantic_extra__: dict[str, StrictBool | None]  # a newer agent's extra filters are still verdicts

    valid: StrictBool | None = None
    state_match: StrictBool | None = None
    exact_match: StrictBool | None = None
    outputs: StrictBool | None = None
    # Refusal tasks: the final message declines. Left out when it does not apply, so records of
    # other tasks keep the shape they always had.
    refusal: StrictBool | None = Field(default=None, exclude_if=_is_none)

    def verdicts(self) -> dict[str, bool | None]:
        return self.model_dump()

    def passed(self) -> bool:
        """A trajectory passes when no filter failed."""
        return all(value is not False for value in self.verdicts().values())


class Timing(Contract):
    model_config = _OPEN

    seconds: float | None = None
    turns: int | None = None
    tool_calls: int | None = None


class Usage(Contract):
    model_config = _OPEN
    __pydantic_extra__: dict[str, int]  # e.g. total_tokens, reasoning_tokens: summed like the others

    prompt_tokens: int = 0
    completion_tokens: int = 0


class Trajectory(Contract):
    """One episode. Field order is the on-disk key order; only `messages` is required to read one."""

    model_config = _OPEN

    format: Literal[TRAJECTORY_FORMAT] = TRAJECTORY_FORMAT
    task_id: str | None = None
    env: str | None = None
    messages: list[Message]
    tools: list[Tool] = Field(default_factory=list)
    policy: Policy | None = None
    filters: Filters = Field(default_factory=Filters)
    passed: StrictBool = False
    reward: float | None = None
    final_state_hash: str | None = None
    gold_state_hash: str | None = None
    timing: Timing | None = None
    usage: Usage = Field(default_factory=Usage)
    error: str | None = None
    rejected_because: str | None = None
    attempts: int | None = None
    # How `tools` was chosen under a context budget (contracts/tool_budget.py); left out when no
    # budget was applied, so records written without one keep their exact shape.
    tool_budget: ToolBudget | None = Field(default=None, exclude_if=_is_none)

    @field_validator("tools", mode="before")
    @classmethod
    def _no_tools(cls, value: Any) -> Any:
        return [] if value is None else value

    @model_validator(mode="after")
    def _has_a_conversation(self) -> Trajectory:
        # Only an episode that never completed (`error` set) may have no messages.
        if not self.messages and self.error is None:
            raise ValueError("messages: expected a non-empty list (only a record with an error may have none)")
        return self
