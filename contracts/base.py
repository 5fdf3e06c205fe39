"""What every contract model shares: one JSON form, one line form, one way to name a problem.

A problem is always reported as `<where>: <field.path>: <what is wrong>`, e.g.
`tasks.jsonl:17: goal: field required`, so a broken file can be fixed without a debugger.
"""

from __future__ import annotations

import json
from typing import Any, Self

from pydantic import BaseModel, ValidationError


class ContractError(ValueError):
    """A record that does not meet its contract; the message names where, the field and the problem."""


def field_path(loc: tuple[int | str, ...]) -> str:
    """pydantic's error location as the path a reader of the JSON would write: `messages[2].role`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def describe(err: ValidationError, where: str) -> str:
    """`<where>: <field>: <problem>` for the first problem (the others are counted, not listed)."""
    first = err.errors(include_url=False)[0]
    message = first["msg"]
    if first["type"] == "value_error":
        message = message.removeprefix("Value error, ")
    elif first["type"] == "json_invalid":
        message = "not valid JSON: " + str(first.get("ctx", {}).get("error", message))
    message = message[:1].lower() + message[1:]
    path = field_path(tuple(first["loc"]))
    text = f"{where}: {path}: {message}" if path else f"{where}: {message}"
    more = err.error_count() - 1
    return text + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")


class Contract(BaseModel):
    """Base of the contract models: parsing with located errors and the one on-disk encoding."""

    @classmethod
    def parse(cls, data: Any, where: str = "<record>") -> Self:
        """Validate a decoded JSON value; raises ContractError naming `where`, the field and the problem."""
        if not isinstance(data, dict | cls):
            raise ContractError(f"{where}: expected a JSON object, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise ContractError(describe(err, where)) from None

    @classmethod
    def from_line(cls, line: str | bytes, where: str = "<line>") -> Self:
        """Decode and validate one JSONL line (pydantic's own JSON parser: no intermediate dicts)."""
        try:
            return cls.model_validate_json(line)
        except ValidationError as err:
            first = err.errors(include_url=False)[0]
            if first["type"] == "model_type" and not first["loc"]:
                # Valid JSON that is not an object: say what it is rather than "instance of Model".
                value = json.loads(line)
                raise ContractError(f"{where}: expected a JSON object, got {type(value).__name__}") from None
            raise ContractError(describe(err, where)) from None

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to disk (declared fields in order, then any extra keys).

        Python mode is enough: every value came from JSON or is a str/number/bool/None/list/dict,
        and it is twice as fast as mode="json" on the large `Any` values (tool schemas).
        """
        return self.model_dump()

    def to_line(self) -> str:
        """One JSONL line, without the newline: the encoding every producer has always used."""
        return json.dumps(self.to_json(), ensure_ascii=False)
