"""The context budget: which tools, in which form, a model is shown for one task.

One rule, used unchanged by the collector and the evaluator (`agent/rollout.py`) and by the
trainer (`trainer/data.py`), so a model is trained on exactly the tool lists it is evaluated with.

The rule's inputs are only what is known at both times: the environment's tool list, the
conversation's first user message (the goal as the user states it), a key naming the task
(its `task_id`), the settings (`max_tokens`, `strategy`, `seed`) and a token counter. It never
looks at the gold calls: an evaluated policy must not be handed the answer through the tool
list, and a rule that kept gold tools at training time but could not at evaluation time would
train on lists the model never sees at evaluation.

Strategy `compact-rank` (the default):
1. If the tools fit as they are, they are shown unchanged.
2. Otherwise every schema is compacted, one level at a time, until the list fits: level 1
   removes schema noise (`title`, `examples`, `$schema`, ...) and shortens long descriptions;
   level 2 also drops the per-argument descriptions and keeps each tool's first sentence.
   Names, types, enums, bounds and `required` are always kept: they are what a call needs.
3. If even level 2 does not fit, tools are dropped, least relevant first: relevance is the
   overlap between the goal's words and the tool's name (weighted 3) and description words;
   ties are broken by a seeded hash of (seed, key, tool name), so the choice is deterministic
   and varies between tasks rather than always favouring the same tools. Kept tools stay in the
   environment's order. A tool alone larger than what is left is skipped, not truncated.
`off`: every tool, unchanged, counted but never trimmed.

Tokens are counted per tool on the JSON the chat template renders (`tojson` of the function
object plus its line break), by a pluggable counter: the model's tokenizer where one is at hand
(training, a local model's evaluation), a conservative characters/3 estimate elsewhere
(measured on SmolLM2 over the default collection's tools: 3.0-3.6 characters per token).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import ConfigDict, Field

from .base import Contract

Strategy = Literal["compact-rank", "off"]
STRATEGIES: Final = ("compact-rank", "off")
DEFAULT_MAX_TOKENS: Final = 1024
MAX_COMPACTION: Final = 2

# Keys that describe a schema to humans or validators but tell a model nothing it needs to call.
_NOISE_KEYS: Final = frozenset({"title", "examples", "example", "$schema", "$id", "$comment", "deprecated",
                                "readOnly", "writeOnly", "externalDocs", "x-examples"})
_LEVEL1_TOOL_DESCRIPTION: Final = 200
_LEVEL1_ARG_DESCRIPTION: Final = 60
_LEVEL2_TOOL_DESCRIPTION: Final = 100
_WORD: Final = re.compile(r"[a-z0-9]+")
_STOPWORDS: Final = frozenset((
    "the", "and", "for", "with", "that", "this", "from", "have", "has", "are", "was", "were", "you", "your",
    "our", "can", "could", "would", "will", "want", "need", "please", "like", "just", "into", "about",
    "what", "which", "when", "where", "who", "how", "all", "any", "its", "not", "but", "also", "one", "some",
    "them", "they", "their", "there", "then", "than",
))


class ToolBudget(Contract):
    """What the rule did for one trajectory; recorded as `Trajectory.tool_budget`."""

    model_config = ConfigDict(extra="allow")

    max_tokens: int | None = None
    strategy: Strategy = "compact-rank"
    seed: int = 0
    counter: str = "estimate:chars/3"
    tokens_before: int = 0
    tokens_after: int = 0
    compaction: int = Field(default=0, ge=0, le=MAX_COMPACTION)
    kept: list[str] = Field(default_factory=list)
    dropped: list[str] = Field(default_factory=list)
    compacted: list[str] = Field(default_factory=list)

    def settings(self) -> BudgetSettings:
        return BudgetSettings(self.max_tokens, self.strategy, self.seed)


@dataclass(frozen=True)
class BudgetSettings:
    """What the user sets: `max_tokens` of tools (None: no limit), the strategy and the tie-break seed."""

    max_tokens: int | None = DEFAULT_MAX_TOKENS
    strategy: Strategy = "compact-rank"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"tool budget strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"tool budget max_tokens must be >= 1 (or none), got {self.max_tokens}")

    @classmethod
    def from_flag(cls, max_tokens: int | None, seed: int = 0) -> BudgetSettings:
        """The CLI form: `--tool-budget 0` means no budget (every tool, unchanged)."""
        if max_tokens is not None and max_tokens < 0:
            raise ValueError(f"--tool-budget must be >= 0 (0: no budget), got {max_tokens}")
        if not max_tokens:
            return cls(None, "off", seed)
        return cls(max_tokens, "compact-rank", seed)

    def to_json(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, "strategy": self.strategy, "seed": self.seed}

    @classmethod
    def coerce(cls, value: BudgetSettings | dict[str, Any] | None) -> BudgetSettings | None:
        """Settings that travelled as plain data (a Ray worker's config dict) back as settings."""
        if value is None or isinstance(value, BudgetSettings):
            return value
        return cls.from_json(value)

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "<tool budget>") -> BudgetSettings:
        try:
            return cls(data.get("max_tokens"), data.get("strategy", "compact-rank"), int(data.get("seed", 0)))
        except (ValueError, TypeError, AttributeError) as err:
            raise ValueError(f"{where}: {err}") from None


# --------------------------------------------------------------------------- counting tokens


@dataclass
class TokenCounter:
    """Counts the tokens of a text; `name` is recorded so a reader knows what the numbers mean."""

    name: str
    count: Callable[[str], int]
    _cache: dict[str, int] = field(default_factory=dict, repr=False)

    def __call__(self, text: str) -> int:
        # Every episode of an environment renders the same tools: count each text once.
        cached = self._cache.get(text)
        if cached is None:
            cached = self._cache[text] = self.count(text)
        return cached


def estimate_counter() -> TokenCounter:
    """Where no tokenizer is at hand: characters / 3, rounded up (over-counts JSON on SmolLM2)."""
    return TokenCounter("estimate:chars/3", lambda text: math.ceil(len(text) / 3))


def tokenizer_counter(tokenizer: Any) -> TokenCounter:
    """A Hugging Face tokenizer's exact count (no special tokens: the template adds those once)."""
    name = Path(str(getattr(tokenizer, "name_or_path", "") or "tokenizer")).name
    return TokenCounter(f"tokenizer:{name}",
                        lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"]))


def render_tool(tool: dict[str, Any]) -> str:
    """The text one tool takes in the prompt: the function object as the chat template's `tojson` writes it."""
    return json.dumps(tool.get("function", tool), ensure_ascii=False) + "\n"


def count_tools(tools: Sequence[dict[str, Any]], counter: TokenCounter) -> int:
    return sum(counter(render_tool(tool)) for tool in tools)


# --------------------------------------------------------------------------- compaction


def _shorten(text: str, limit: int, first_sentence: bool = False) -> str:
    if first_sentence:
        # A summary line followed by a blank line (OpenAPI `summary` + `description`) is a sentence too.
        text = re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0]
        match = re.search(r"(?<=[.!?])\s", text)
        if match:
            text = text[:match.start()]
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1].rsplit(" ", 1)[0] if " " in text[:limit - 1] else text[:limit - 1]
    return cut.rstrip(" ,;:") + "…"


def _compact_schema(schema: Any, level: int, is_argument: bool) -> Any:
    if isinstance(schema, list):
        return [_compact_schema(item, level, is_argument) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _NOISE_KEYS:
            continue
        if key == "description" and is_argument and isinstance(value, str):
            if level >= 2:
                continue
            out[key] = _shorten(value, _LEVEL1_ARG_DESCRIPTION)
        elif key == "properties" and isinstance(value, dict):
            # Property names are argument names, not schema keywords: keep every one of them.
            out[key] = {name: _compact_schema(sub, level, True) for name, sub in value.items()}
        elif key in ("const", "enum", "default", "required"):
            out[key] = value
        else:
            out[key] = _compact_schema(value, level, is_argument)
    return out


def compact_tool(tool: dict[str, Any], level: int) -> dict[str, Any]:
    """One OpenAI-format tool at compaction `level` (0: unchanged). Deterministic; never renames."""
    if level <= 0:
        return tool
    function = dict(tool.get("function", tool))
    description = function.get("description")
    if isinstance(description, str):
        limit = _LEVEL1_TOOL_DESCRIPTION if level == 1 else _LEVEL2_TOOL_DESCRIPTION
        function["description"] = _shorten(description, limit, first_sentence=level >= 2)
    if isinstance(function.get("parameters"), dict):
        function["parameters"] = _compact_schema(function["parameters"], level, False)
    for key in _NOISE_KEYS:
        function.pop(key, None)
    return {**tool, "function": function} if "function" in tool else function


# --------------------------------------------------------------------------- ranking


def _words(text: str) -> set[str]:
    words = set()
    for word in _WORD.findall(text.lower()):
        if len(word) < 3 or word in _STOPWORDS:
            continue
        words.add(word[:-1] if len(word) > 4 and word.endswith("s") else word)
    return words


def _tie_break(seed: int, key: str, name: str) -> str:
    return hashlib.sha256(f"{seed}\x00{key}\x00{name}".encode()).hexdigest()


def rank_tools(tools: Sequence[dict[str, Any]], goal: str, key: str, seed: int) -> list[int]:
    """Indices of `tools`, most relevant to `goal` first (seeded tie-break)."""
    goal_words = _words(goal)
    scored = []
    for index, tool in enumerate(tools):
        function = tool.get("function", tool)
        name = str(function.get("name", ""))
        name_words = _words(name.replace("_", " ").replace("-", " "))
        description_words = _words(str(function.get("description") or ""))
        score = 3 * len(goal_words & name_words) + len(goal_words & (description_words - name_words))
        scored.append((-score, _tie_break(seed, key, name), index))
    return [index for _, _, index in sorted(scored)]


# --------------------------------------------------------------------------- the rule


@dataclass(frozen=True)
class BudgetResult:
    """The tools to show (OpenAI format, in the environment's order) and the record of the choice."""

    tools: list[dict[str, Any]]
    record: ToolBudget

    @property
    def names(self) -> set[str]:
        return set(self.record.kept)


def _name(tool: dict[str, Any]) -> str:
    return str(tool.get("function", tool).get("name", ""))


def apply_tool_budget(tools: Sequence[dict[str, Any]], goal: str, key: str, settings: BudgetSettings,
                      counter: TokenCounter) -> BudgetResult:
    """The tools a model is shown for one task under `settings` (see the module docstring).

    `tools`: the environment's tools, OpenAI function format; `goal`: the first user message;
    `key`: the task id (or any stable name of the task). Same inputs, same output, in any process.
    """
    tools = list(tools)
    names = [_name(tool) for tool in tools]
    before = count_tools(tools, counter)

    def record(shown: list[dict[str, Any]], level: int, kept: list[str], dropped: list[str]) -> BudgetResult:
        compacted = [_name(new) for old, new in zip(tools, (compact_tool(t, level) for t in tools), strict=True)
                     if level and render_tool(old) != render_tool(new) and _name(new) in kept]
        return BudgetResult(shown, ToolBudget(
            max_tokens=settings.max_tokens, strategy=settings.strategy, seed=settings.seed, counter=counter.name,
            tokens_before=before, tokens_after=count_tools(shown, counter), compaction=level,
            kept=kept, dropped=dropped, compacted=compacted,
        ))

    limit = settings.max_tokens
    if settings.strategy == "off" or limit is None or before <= limit:
        return record(tools, 0, names, [])
    for level in range(1, MAX_COMPACTION + 1):
        compacted = [compact_tool(tool, level) for tool in tools]
        if count_tools(compacted, counter) <= limit:
            return record(compacted, level, names, [])
    # Still too long at the last level: keep the most relevant tools that fit.
    sizes = [counter(render_tool(tool)) for tool in compacted]
    keep: set[int] = set()
    used = 0
    for index in rank_tools(tools, goal, key, settings.seed):
        if used + sizes[index] <= limit:
            keep.add(index)
            used += sizes[index]
    shown = [compacted[i] for i in range(len(tools)) if i in keep]
    return record(shown, MAX_COMPACTION, [names[i] for i in sorted(keep)],
                  [names[i] for i in range(len(tools)) if i not in keep])


def first_user_text(messages: Sequence[Any]) -> str:
    """The goal input of the rule: the first user message's text (dict messages or `Message` models).

    The collector passes the opening it sends, the trainer reads it back from the trajectory:
    the same text either way.
    """
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else getattr(message, "role", None)
        if role != "user":
            continue
        content = message.get("content") if isinstance(message, dict) else message.content
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content)
        return "" if content is None else json.dumps(content, ensure_ascii=False)
    return ""
