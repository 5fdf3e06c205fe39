"""An episode's rows -> τ²'s database JSON, so anyone can compare with τ²'s own environment."""

from __future__ import annotations

from typing import Any

from synth.importers.tau2.source import load_domain
from synth.importers.tau2.tables import db_from_rows


def rows_of_state(state: Any) -> dict[str, list[dict[str, Any]]]:
    """The rows of what `GET /episodes/{id}/state?rows=1` returned (or of a bare {table: rows})."""
    if not isinstance(state, dict):
        raise ValueError("the state must be a JSON object")
    rows = state.get("rows", state if "state_hash" not in state else None)
    if not isinstance(rows, dict):
        raise ValueError("the state has no 'rows': fetch it with GET /episodes/{id}/state?rows=1")
    for table, table_rows in rows.items():
        if not isinstance(table_rows, list) or not all(isinstance(r, dict) for r in table_rows):
            raise ValueError(f"rows.{table}: must be a list of row objects")
    return rows


def db_model_from_state(domain: str, state: Any) -> Any:
    """τ²'s RetailDB / FlightDB holding the episode's rows (validated by τ²'s own model)."""
    tau2_domain = load_domain(domain)
    return tau2_domain.db_class.model_validate(db_from_rows(rows_of_state(state), tau2_domain.db_class))


def db_json_from_state(domain: str, state: Any) -> dict[str, Any]:
    """What `RetailDB` / `FlightDB.model_dump()` gives for the episode's rows."""
    return db_model_from_state(domain, state).model_dump()
