"""Who the simulated user is: a short persona sketch per task, seeded by the task.

The sketch (temperament, how the user writes, how much they volunteer) gives an LLM-played user a
character, and gives training dialogues users who differ. It never carries facts: what the user
knows is `user_facts`, so a persona cannot make a task unverifiable. With an LLM endpoint the
sketch is rewritten in freer words (`synth.tasks.paraphrase.Paraphraser.paraphrase_persona`).
"""

from __future__ import annotations

import hashlib

from contracts import TaskSpec

_WHO = [
    "a long-time customer", "a first-time customer", "a busy professional", "a retired customer",
    "a student", "a small-business owner", "a customer calling on behalf of a family member's account they manage",
    "a frequent traveller", "a customer on a lunch break",
]
_MOOD = [
    "calm and friendly", "slightly impatient", "polite but firm", "a little confused by the system",
    "in a hurry", "cheerful", "anxious to get this sorted today", "matter-of-fact",
]
_STYLE = [
    "writes short, direct messages", "writes in full, courteous sentences", "uses casual language",
    "tends to over-explain", "answers only exactly what is asked", "asks for confirmation of what was done",
]


def _pick(options: list[str], key: str) -> str:
    digest = hashlib.sha256(key.encode()).digest()
    return options[int.from_bytes(digest[:4], "big") % len(options)]


def persona(task: TaskSpec) -> str:
    """The persona sketch of a task: the same task always gets the same one."""
    key = f"{task.seed}:{task.task_id}"
    who = _pick(_WHO, "who:" + key)
    mood = _pick(_MOOD, "mood:" + key)
    style = _pick(_STYLE, "style:" + key)
    return f"You are {who}, {mood}, who {style}."
