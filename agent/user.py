"""Simulated users: they open with what they want, answer the agent's questions, and say when they are done.

The scripted user knows the task's facts (`user_facts`) and the goal. By default ("ask" disclosure)
it opens with the intent but keeps the identifying facts (ids, e-mails, numbers) back, answers a
question with the facts it names, says yes when the agent asks to confirm a change, and stops once
the agent stops asking. With "upfront" disclosure it states every fact in its opening (the goal as
written, plus any fact the goal leaves out), so the agent has nothing to ask; the rest is the same. The stop
phrase ends the episode; it is not written into the trajectory (the conversation ends on the agent's
last message, which is what a trainer learns from).
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

from agent.toolkinds import is_read
from agent.wording import Wording, capitalize, humanize, value_text
from contracts import TaskSpec

STOP_PHRASE = "###STOP###"
# How the scripted user gives its identifying facts: held back until asked (the default) or all in
# the opening message (a simpler setting, e.g. for a small model's demo).
DISCLOSURES = ("ask", "upfront")
# A message that asks the user to approve a change (what `ScriptedPolicy` and most agents write).
CONFIRMATION_REQUEST = re.compile(
    r"\b(proceed|go ahead|confirm|okay to|ok to)\b[^?]*\?|\b(shall|should|may) i\b[^?]*\b(proceed|go ahead|do (it|that|this))\b",
    re.I)
_IDENTIFIER_KEY = re.compile(r"(^|_)(id|email|e_mail|number|iban|pnr)(_\d+)?$|[a-z]Id$", re.I)
_ID_KEY = re.compile(r"(^|_)id(_\d+)?$|[a-z]Id$", re.I)
_IDENTIFIER_VALUE = re.compile(r"^[A-Z]{1,6}-?\d{2,}$|^[^@\s]+@[^@\s]+\.[a-z]+$", re.I)
_FOR_REFERENCE = re.compile(r"\s*For reference:.*$", re.S)
_NEW_VALUE = re.compile(r"\b(to|into|as)\s+$", re.I)
_PREPOSITION = re.compile(r"\b(for|to|with|by)\s+$", re.I)
_PERSON_NOUNS = frozenset({"customer", "passenger", "user", "client", "member", "patient", "guest", "account holder",
                           "subscriber", "renter", "diner", "fan", "traveler", "traveller", "buyer"})


class SimulatedUser(Protocol):
    async def opening(self, task: TaskSpec) -> str: ...

    async def reply(self, task: TaskSpec, messages: list[dict[str, Any]]) -> tuple[str, bool]:
        """The user's next message and whether the user is finished (stop signal)."""
        ...

    async def aclose(self) -> None: ...


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def fact_label(key: str) -> str:
    """How a fact is named in conversation: `customer_id_2` -> customer ID (the suffix only disambiguates)."""
    return humanize(re.sub(r"_\d+$", "", key))


def is_identifier(key: str, value: Any) -> bool:
    return bool(_IDENTIFIER_KEY.search(key)) or (isinstance(value, str) and bool(_IDENTIFIER_VALUE.match(value)))


def withheld_facts(task: TaskSpec) -> list[str]:
    """The facts the user keeps back in the opening: the ones that identify who or what they mean.

    An id always; an e-mail or number only when a lookup searches by it (the e-mail of a new
    guest is part of what the user wants done, not who they are).
    """
    searched = {value_text(v) for call in task.gold_calls if is_read(call.name) for v in call.arguments.values()}
    return [key for key, value in task.user_facts.items()
            if is_identifier(key, value) and (_ID_KEY.search(key) or value_text(value) in searched)]


def masked_goal(task: TaskSpec) -> str:
    """The goal with each withheld fact replaced by what it is ("order O-1002" -> "my order")."""
    text = _FOR_REFERENCE.sub("", task.goal).strip()
    for key in withheld_facts(task):
        value = value_text(task.user_facts[key])
        label = fact_label(key)
        noun = re.sub(r"\s+(ID|number|code|reference)$", "", label)
        noun_words = r"\s+".join(re.escape(w) for w in noun.split())
        # A sentence that only states the fact ("Delivery order ID: DEL-1821.") goes entirely.
        sentence = re.compile(rf"(?:(?<=[.!?])|^)\s*{noun_words}(?:\s+(?:ID|number|code|reference))?\s*:\s*"
                              + re.escape(value) + r"\s*[.!?]?", re.I)
        text = sentence.sub("", text).strip()
        pattern = re.compile(
            rf"(?:\b(?:my|the|your)\s+)?(?:\b{noun_words}(?P<kind>\s+(?:ID|id|number|no\.?|code))?\s*:?\s+)?"
            + re.escape(value), re.I)

        def replace(match: re.Match[str], label: str = label, noun: str = noun) -> str:
            before = match.string[:match.start()]
            if _NEW_VALUE.search(before) or before.endswith(("'", '"')):
                return match.group(0)  # "set the email to X": X is what the user wants, not who they are
            if match.group("kind") or noun == label:
                return f"my {label}"
            if noun in _PERSON_NOUNS:
                return "me" if _PREPOSITION.search(before) else "my profile"
            return f"my {noun}"

        text = pattern.sub(replace, text)
    return text or task.goal


def upfront_goal(task: TaskSpec) -> str:
    """The goal with every identifying fact stated: as written, plus the ids, e-mails and numbers it
    does not say ("My order ID is O-1002."). Other facts (a flag, a date) the goal already says in words."""
    text = _FOR_REFERENCE.sub("", task.goal).strip() or task.goal
    lowered = text.lower()
    missing = [(k, v) for k, v in task.user_facts.items()
               if is_identifier(k, v) and value_text(v).lower() not in lowered]
    if missing:
        text += " " + " ".join(f"My {fact_label(k)} is {_fact_text(v)}." for k, v in missing)
    return text


class ScriptedUser:
    """Plays the user from the task's facts; the wording is seeded by the task (same task, same words)."""

    def __init__(self, disclosure: str = "ask") -> None:
        if disclosure not in DISCLOSURES:
            raise ValueError(f"unknown user disclosure {disclosure!r} (expected one of {', '.join(DISCLOSURES)})")
        self.disclosure = disclosure
        self.revealed: set[str] = set()
        self.wording: Wording | None = None

    def record(self) -> dict[str, str] | None:
        """What a trajectory records about this user: only a setting other than the default."""
        return None if self.disclosure == "ask" else {"kind": "scripted", "disclosure": self.disclosure}

    def _wording(self, task: TaskSpec) -> Wording:
        if self.wording is None:
            self.wording = Wording(task.seed, "user\x00" + task.task_id)
        return self.wording

    async def opening(self, task: TaskSpec) -> str:
        greeting = self._wording(task).pick("greeting", ["", "Hi! ", "Hello, ", "Hi there. ", "Good day. ", "Hey, "])
        text = upfront_goal(task) if self.disclosure == "upfront" else masked_goal(task)
        # What the opening already says counts as told: a later question naming it is a check.
        self.revealed.update(k for k, v in task.user_facts.items() if value_text(v).lower() in text.lower())
        return greeting + (text if not greeting or greeting.endswith(". ") or greeting.endswith("! ")
                           else text[:1].lower() + text[1:])

    async def reply(self, task: TaskSpec, messages: list[dict[str, Any]]) -> tuple[str, bool]:
        last = (messages[-1].get("content") or "") if messages else ""
        if "?" not in last:
            return STOP_PHRASE, True
        wording = self._wording(task)
        asked = _words(last)
        wanted = [k for k in task.user_facts
                  if _words(fact_label(k)) <= asked or k.lower() in last.lower()]
        # "Can you confirm your order ID?" asks for a fact; "I'm about to cancel order O-1002. Shall
        # I proceed?" names only facts already given and asks for a yes.
        if CONFIRMATION_REQUEST.search(last) and not [k for k in wanted if k not in self.revealed]:
            return wording.pick("yes", ["Yes, please go ahead.", "Yes, that's right. Go ahead.", "Please do.",
                                        "Yes, proceed.", "Correct, go ahead.", "Yes please."]), False
        if not wanted:
            wanted = [k for k in task.user_facts if k not in self.revealed]
        if not wanted:
            return STOP_PHRASE, True
        self.revealed.update(wanted)
        if len(wanted) == 1:
            key = wanted[0]
            value = _fact_text(task.user_facts[key])
            return wording.fill("one", ["Sure, my {label} is {value}.", "It's {value}.", "{Label}: {value}.",
                                        "Of course: {value}.", "The {label} is {value}."],
                                label=fact_label(key), Label=capitalize(fact_label(key)), value=value), False
        parts = [f"{fact_label(k)} {_fact_text(task.user_facts[k])}" for k in wanted]
        lead = wording.pick("many", ["Sure: ", "Here you go: ", "Of course. ", "Okay: "])
        return lead + "; ".join(parts) + ".", False

    async def aclose(self) -> None:
        return None


def _fact_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


USER_SYSTEM_PROMPT = """You are role-playing a customer talking to a support agent.
Your goal: {goal}
Facts you know (reveal a fact only when the agent asks for it, never all at once): {facts}
Open by saying what you want in your own words, without the ids, e-mails or numbers above; give
those when the agent asks for them. If the agent asks you to confirm a change that matches your
goal, say yes; if it does not match your goal, say no and explain.
Write short, natural messages as the customer. Do not invent facts that are not listed.
When the agent has done what you wanted (or clearly cannot), reply with exactly {stop} and nothing else."""


class LLMUser:
    """An OpenAI-compatible model role-playing the user; roles are flipped from its point of view."""

    def __init__(self, client: Any, model: str, temperature: float | None = None):
        # The AsyncOpenAI client is shared by every episode's user (one connection pool).
        self.client = client
        self.model = model
        self.temperature = temperature
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0}

    def _system(self, task: TaskSpec) -> dict[str, str]:
        facts = json.dumps(task.user_facts, ensure_ascii=False)
        content = USER_SYSTEM_PROMPT.format(goal=task.goal, facts=facts, stop=STOP_PHRASE)
        if task.persona:
            # Who the user is (tone, style); it carries no facts, so it only shapes the wording.
            content += f"\nYour character: {task.persona}"
        return {"role": "system", "content": content}

    async def _complete(self, messages: list[dict[str, Any]]) -> str:
        options: dict[str, Any] = {}
        if self.temperature is not None:
            options["temperature"] = self.temperature
        response = await self.client.chat.completions.create(model=self.model, messages=messages, **options)
        if response.usage is not None:
            self.usage["prompt_tokens"] += response.usage.prompt_tokens or 0
            self.usage["completion_tokens"] += response.usage.completion_tokens or 0
        return (response.choices[0].message.content or "").strip() if response.choices else ""

    async def opening(self, task: TaskSpec) -> str:
        text = await self._complete([self._system(task),
                                     {"role": "user", "content": "(The agent greets you. Say what you need.)"}])
        return text or masked_goal(task)

    async def reply(self, task: TaskSpec, messages: list[dict[str, Any]]) -> tuple[str, bool]:
        flipped: list[dict[str, Any]] = [self._system(task)]
        for message in messages:
            if message["role"] == "user":
                flipped.append({"role": "assistant", "content": message.get("content") or ""})
            elif message["role"] == "assistant" and message.get("content"):
                flipped.append({"role": "user", "content": message["content"]})
        text = await self._complete(flipped)
        return text, STOP_PHRASE in text or not text

    async def aclose(self) -> None:
        return None
