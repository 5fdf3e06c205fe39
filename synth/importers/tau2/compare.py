"""Run calls in τ²'s own environment, for comparison with the port.

Loading τ²'s database takes longer than running a task (airline: about 0.6 s to validate 7 MB), so
each run gets a copy-on-access view of one loaded database instead of a fresh load: τ²'s tools
reach every entity they change through `db.<collection>[id]`, and the view hands out a deep copy
of an entity the first time it is looked up that way, so runs never see each other's changes.
(`fresh=True` validates a new database instead; the tests check both agree.)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from synth.importers.tau2.source import Tau2Domain


class _CopyOnAccess(dict):
    """A collection whose entities are copied on their first `[id]` lookup."""

    def __init__(self, shared: dict) -> None:
        super().__init__(shared)
        self._copied: set = set()

    def __getitem__(self, key: Any) -> Any:
        value = dict.__getitem__(self, key)
        if key not in self._copied:
            value = copy.deepcopy(value)
            dict.__setitem__(self, key, value)
            self._copied.add(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self._copied.add(key)
        dict.__setitem__(self, key, value)


@dataclass
class Tau2Run:
    outcomes: list[tuple[bool, str]]  # (ok, result text or error message) per call
    db: Any

    def hash(self) -> str:
        return self.db.get_hash()


class Tau2Runner:
    """τ²'s tools over one loaded database, each `run` on its own view of it."""

    def __init__(self, domain: Tau2Domain) -> None:
        from loguru import logger

        logger.disable("tau2")  # its tools log every reservation they touch at DEBUG
        self.domain = domain
        self.base = domain.load_db()
        self.collections = list(type(self.base).model_fields)

    def new_db(self, fresh: bool = False) -> Any:
        if fresh:
            return self.domain.load_db()
        return self.base.model_copy(update={c: _CopyOnAccess(getattr(self.base, c)) for c in self.collections})

    def run(self, calls: list[dict[str, Any]], fresh: bool = False) -> Tau2Run:
        db = self.new_db(fresh)
        tools = self.domain.tools(db)
        outcomes: list[tuple[bool, str]] = []
        for call in calls:
            try:
                result = tools.use_tool(call["name"], **call.get("arguments", {}))
                outcomes.append((True, str(result)))
            except Exception as err:  # τ²'s tools signal every refusal with an exception
                outcomes.append((False, str(err)))
        return Tau2Run(outcomes, db)
