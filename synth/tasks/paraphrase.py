"""Optional LLM paraphrase of templated goals, through any OpenAI-compatible chat endpoint.

A paraphrase is only kept when every fact value the simulated user may reveal still appears
verbatim and no tool name crept in; otherwise (or when the endpoint fails) the template stays,
so a paraphrase can make goals more varied but never less verifiable.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .goal import fact_text

logger = logging.getLogger("envsynth.tasks")

SYSTEM_PROMPT = (
    "You rewrite requests that a customer sends to a support agent. Rewrite the request so it sounds "
    "natural and varied, in the first person, as one short paragraph. Keep its meaning. Copy every value "
    "listed under FACTS exactly as written (same spelling, case, digits and punctuation). Do not add "
    "new facts, do not mention tools, functions or APIs. Reply with the rewritten request only."
)


PERSONA_PROMPT = (
    "You rewrite a short description of a customer for a role-play. Keep it in the second person "
    "('You are ...'), one or two sentences, and keep its temperament and way of writing. Do not add "
    "names, ids, e-mail addresses, numbers or any other facts. Reply with the description only."
)
MAX_PERSONA_CHARS = 400


@dataclass
class Paraphraser:
    base_url: str
    model: str
    api_key: str = "not-needed"
    timeout: float = 30.0
    temperature: float = 0.7
    forbidden: set[str] = field(default_factory=set)
    kept: int = 0
    rejected: int = 0
    failed: int = 0
    # Persona rewrites, counted apart from the goals'.
    personas_kept: int = 0
    personas_rejected: int = 0

    def __post_init__(self) -> None:
        from openai import OpenAI

        self._client = OpenAI(base_url=self.base_url, api_key=self.api_key or "not-needed",
                              timeout=self.timeout, max_retries=1)

    def forbid(self, names: Iterable[str]) -> None:
        """Tool names a paraphrase may not contain; plain words ("transfer") stay allowed."""
        self.forbidden |= {n.lower() for n in names if re.search(r"[_.\-]|[a-z][A-Z]", n)}

    def paraphrase(self, goal: str, facts: dict[str, Any]) -> str:
        values = [fact_text(v) for v in facts.values()]
        user = goal + "\n\nFACTS:\n" + "\n".join(f"- {v}" for v in values)
        text = self._complete(SYSTEM_PROMPT, user)
        if text is None:
            return goal
        problem = self.problem(text, values)
        if problem:
            self.rejected += 1
            logger.info("paraphrase rejected (%s); keeping the template", problem)
            return goal
        self.kept += 1
        return text

    def paraphrase_persona(self, sketch: str) -> str:
        """A freer wording of a persona sketch; the sketch itself when the rewrite is unusable."""
        if not sketch:
            return sketch
        text = self._complete(PERSONA_PROMPT, sketch)
        if text is None:
            return sketch
        problem = self.problem(text, [])
        if problem is None and len(text) > MAX_PERSONA_CHARS:
            problem = f"longer than {MAX_PERSONA_CHARS} characters"
        if problem is None and re.search(r"\d|@", text):
            problem = "adds numbers or addresses"
        if problem:
            self.personas_rejected += 1
            logger.info("persona paraphrase rejected (%s); keeping the sketch", problem)
            return sketch
        self.personas_kept += 1
        return text

    def _complete(self, system: str, user: str) -> str | None:
        try:
            reply = self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                temperature=self.temperature,
            )
            return (reply.choices[0].message.content or "").strip()
        except Exception as err:  # the endpoint is optional: any failure keeps the template
            self.failed += 1
            logger.warning("paraphrase failed (%s: %s); keeping the template", type(err).__name__, err)
            return None

    def problem(self, text: str, values: list[str]) -> str | None:
        """Why a paraphrase cannot replace the template, or None when it can."""
        if not text:
            return "empty reply"
        missing = [v for v in values if v not in text]
        if missing:
            return f"lost fact value(s) {missing}"
        lowered = text.lower()
        named = sorted(n for n in self.forbidden
                       if re.search(rf"(?<![a-z0-9_]){re.escape(n)}(?![a-z0-9_])", lowered))
        if named:
            return f"names tool(s) {named}"
        return None
