"""The contracts between envhub's stages: file formats as pydantic models, and JSONL I/O.

This package imports nothing else of envhub, so `agent` and `trainer` (which must not depend on
the generation or hosting code) can read and write exactly what the other stages do.
docs/CONTRACTS.md describes every model; tests/test_contracts.py checks the page against them.
"""

from .base import Contract, ContractError
from .formats import ENVSPEC_FORMAT, TASK_FORMAT, TRAJECTORY_FORMAT
from .jsonl import Located, Rejected, read_jsonl, scan_jsonl, write_jsonl
from .task import Condition, GoldCall, InitialState, Refusal, TaskSpec
from .tool_budget import BudgetResult, BudgetSettings, TokenCounter, ToolBudget, apply_tool_budget
from .trajectory import (
    Filters,
    FunctionCall,
    FunctionSchema,
    Message,
    Policy,
    Timing,
    Tool,
    ToolCall,
    Trajectory,
    Usage,
)

__all__ = [
    "ENVSPEC_FORMAT",
    "TASK_FORMAT",
    "TRAJECTORY_FORMAT",
    "Contract",
    "ContractError",
    "Filters",
    "FunctionCall",
    "FunctionSchema",
    "GoldCall",
    "InitialState",
    "Located",
    "BudgetResult",
    "Condition",
    "BudgetSettings",
    "Message",
    "Policy",
    "Refusal",
    "Rejected",
    "TaskSpec",
    "Timing",
    "TokenCounter",
    "Tool",
    "ToolBudget",
    "ToolCall",
    "Trajectory",
    "Usage",
    "apply_tool_budget",
    "read_jsonl",
    "scan_jsonl",
    "write_jsonl",
]
