"""BFCL (Berkeley Function Calling Leaderboard) function docs: OpenAI-shaped, with Python-ish types.

BFCL files are JSON lines where a line is either a function doc itself or a test entry
`{"id": ..., "question": ..., "function": [docs]}`; types such as "dict", "float", "tuple" and
"any" are mapped to JSON Schema by `normalize_schema`.
"""

from __future__ import annotations

from typing import Any

from synth.ingest.common import IngestError, LoadResult, has_non_json_types
from synth.ingest.openai import function_tool, unwrap_function


def is_bfcl_entry(item: Any) -> bool:
    """A BFCL test entry (carries its function docs under "function") or a doc with Python-ish types."""
    if not isinstance(item, dict):
        return False
    if "function" in item and ("question" in item or "id" in item) and item.get("type") != "function":
        return True
    function = unwrap_function(item)
    return function is not None and has_non_json_types(function.get("parameters"))


def load_bfcl(items: list[Any], source: str, api: str) -> LoadResult:
    result = LoadResult()
    for index, item in enumerate(items):
        docs: list[Any]
        if isinstance(item, dict) and "function" in item and item.get("type") != "function":
            docs = item["function"] if isinstance(item["function"], list) else [item["function"]]
            entry_id = item.get("id", index)
        else:
            docs, entry_id = [item], index
        for doc_index, doc in enumerate(docs):
            where = f"[{entry_id}]" if len(docs) == 1 else f"[{entry_id}].function[{doc_index}]"
            try:
                result.tools.append(function_tool(doc, source=source, api=api, fmt="bfcl", where=where))
            except IngestError as err:
                result.skipped.append((f"{source}{where}", str(err)))
    return result
