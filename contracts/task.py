"""TaskSpec: one verifiable task, produced by `synth.tasks`, read by the hub and the agent."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StrictInt, StringConstraints, model_validator

from .base import Contract
from .formats import TASK_FORMAT

NonEmpty = Annotated[str, StringConstraints(min_length=1)]
# read: a question, the state must not change; write: a change to make; refusal: a change the
# environment's rules forbid, so the right answer is to make none and say why.
TaskKind = Literal["read", "write", "refusal"]


class GoldCall(Contract):
    """One tool call of the reference solution, as executed when the task was generated."""

    # Closed: a new key here (say, an expected error) would change what the call means, and a
    # reader that ignored it would verify against the wrong solution. Such a change bumps the format.
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: NonEmpty
    arguments: dict[str, Any] = Field(default_factory=dict)


class InitialState(Contract):
    """How the episode's starting state is built."""

    # Closed for the same reason as GoldCall: a new way to build the state (explicit rows, say)
    # must not be silently ignored by a reader that would then start from the wrong state.
    model_config = ConfigDict(extra="forbid", frozen=True)

    # None: the environment's own seed state; an integer: that seed, as `POST /envs/{env}/episodes` takes.
    seed: StrictInt | None = None


class Refusal(Contract):
    """Why a refusal task's request must be refused: the call the user asks for and the rule it breaks."""

    # Closed, like GoldCall: it says what the agent must not do.
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The call the user's request amounts to; the environment refuses it (state unchanged).
    call: GoldCall
    # The environment's own message when that call is made: the rule, as the agent may explain it.
    reason: NonEmpty


class Condition(Contract):
    """The condition of a conditional task ("if the order is still pending, cancel it; otherwise ...").

    The gold calls are the branch the initial state selects; this records which, so that a reader
    can check the gold against the state."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Index into gold_calls of the lookup whose result the condition reads.
    check_call: StrictInt = Field(ge=0)
    column: NonEmpty
    op: Literal["eq", "ne"] = "eq"
    value: Any = None
    # Whether the condition held when the task was generated (the `then` branch is in gold_calls).
    holds: bool
    # The change the user asked for when the condition does not hold ("otherwise, return the
    # lamp"); the last gold call when `holds` is false. Absent: the user then only wants to know
    # the record's value ("otherwise, just tell me its status").
    otherwise: GoldCall | None = Field(default=None, exclude_if=lambda v: v is None)


class TaskSpec(Contract):
    """One task. Field order is the on-disk key order."""

    # Open: keys a newer producer adds (tags, difficulty, provenance) are kept through a
    # read/write round trip and ignored by the readers, which act only on the fields below.
    model_config = ConfigDict(extra="allow", frozen=True)

    format: Literal[TASK_FORMAT] = TASK_FORMAT
    task_id: NonEmpty
    env: NonEmpty
    initial_state: InitialState = Field(default_factory=InitialState)
    kind: TaskKind = "write"
    goal: NonEmpty
    user_facts: dict[str, Any] = Field(default_factory=dict)
    gold_calls: list[GoldCall] = Field(default_factory=list)
    gold_state_hash: str | None = None
    expected_outputs: list[str] = Field(default_factory=list)
    steps: int = 0
    seed: StrictInt | None = None
    # Left out of the file when absent, so tasks without them keep the shape older files have.
    refusal: Refusal | None = Field(default=None, exclude_if=lambda v: v is None)
    condition: Condition | None = Field(default=None, exclude_if=lambda v: v is None)
    # Who the simulated user is (a seeded sketch, or an LLM's rewrite of it); optional.
    persona: str | None = Field(default=None, exclude_if=lambda v: v is None)

    @model_validator(mode="after")
    def _refusal_matches_kind(self) -> TaskSpec:
        if (self.kind == "refusal") != (self.refusal is not None):
            raise ValueError("refusal: a refusal task (kind 'refusal') needs `refusal`, and only it may have one")
        if self.condition is not None and self.condition.check_call >= len(self.gold_calls):
            raise ValueError(f"condition.check_call: {self.condition.check_call} is not an index of gold_calls")
        condition = self.condition
        if condition is not None and condition.otherwise is not None and not condition.holds \
                and (not self.gold_calls or self.gold_calls[-1] != condition.otherwise):
            raise ValueError("condition.otherwise: the condition does not hold, so the last gold call must be "
                             "the `otherwise` change")
        return self

    @model_validator(mode="before")
    @classmethod
    def _steps_default_to_gold_calls(cls, data: Any) -> Any:
        # Hand-written task files may leave `steps` out; it is the number of gold calls.
        if isinstance(data, dict) and not data.get("steps") and isinstance(data.get("gold_calls"), list):
            data = {**data, "steps": len(data["gold_calls"])}
        return data
