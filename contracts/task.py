"""TaskSpec: one verifiable task, produced by `synth.tasks`, read by the hub and the agent."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StrictInt, StringConstraints, model_validator

from .base import Contract
from .formats import TASK_FORMAT

NonEmpty = Annotated[str, StringConstraints(min_length=1)]
TaskKind = Literal["read", "write"]


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

    @model_validator(mode="before")
    @classmethod
    def _steps_default_to_gold_calls(cls, data: Any) -> Any:
        # Hand-written task files may leave `steps` out; it is the number of gold calls.
        if isinstance(data, dict) and not data.get("steps") and isinstance(data.get("gold_calls"), list):
            data = {**data, "steps": len(data["gold_calls"])}
        return data
