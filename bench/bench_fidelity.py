"""Fidelity of a full `envhub synth` of the 567-spec archive, this code against a baseline checkout.

    .venv/bin/python bench/bench_fidelity.py [--archive PATH] [--baseline-src /path/to/old/checkout] [--out DIR]

Both builds run in the same invocation, one after the other, each as its own `envhub synth`
process (PYTHONPATH = the checkout it measures), and both build folders are then measured by
the same counting rules (synth.envs.fidelity, synth.envs.roundtrip) of this checkout:

- write-named inserts: tools whose name's verb is update/patch/modify/edit (or delete/remove/
  destroy) but whose operation only inserts;
- verb-named tables: a table name that starts with an operation verb (`get_change_tokens`) or
  ends with one (`projects_jobs_gets`);
- round trip: every table with a create (insert) and a get tool, on the finished env files:
  create -> get -> list -> update -> delete, foreign keys checked after each call. The current
  build also reports the gate-time rate (report.json `fidelity`), measured before the gate
  dropped the tools of failed steps; the files afterwards hold what passed;
- environments without a dependency edge and tools on no edge, as each build wrote them and as
  this checkout's rule derives them again from both builds' env files (without the response
  schemas a build sees, so echoed columns count as echoes);
- tools kept / tools ingested, wall seconds, peak PSS of the build process tree;
- why each environment without an edge has none, read from the specs (this checkout's ingest):
  no operation describes a response (nothing any call returns can reach another call), no
  described response field shares a name with another tool's argument (no name-based rule could
  link them), or one does (a chain the edge rule may have missed: listed by name to read).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
# The counting rules are this checkout's, whatever checkout an installed package points at.
sys.path.insert(0, str(HERE))

from bench_synth_full import ARCHIVE, PeakRSS  # noqa: E402

from servers.spec import parse_envspec  # noqa: E402
from synth.envs.dependencies import GENERIC_COLUMNS, derive_dependencies  # noqa: E402
from synth.envs.fidelity import build_counts  # noqa: E402
from synth.envs.names import identifier  # noqa: E402
from synth.envs.roundtrip import round_trips  # noqa: E402
from synth.ingest import ingest_paths  # noqa: E402
from synth.tooldef import ToolDef  # noqa: E402


def build(src: Path, archive: Path, out: Path) -> tuple[float, int]:
    """Run `envhub synth` with the code of `src`; (wall seconds, peak PSS bytes)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "hub.cli", "synth", str(archive), "--out", str(out),
                               "--no-progress"], env=env, cwd=src, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"envhub synth with {src} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return seconds, rss.peak


def measure(out: Path) -> dict:
    specs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / "envs").glob("*.json"))]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    lent = {env["name"]: env.get("lent") or [] for env in report["environments"]}
    counts = build_counts(specs, lent=lent)
    trips = passed = 0
    rederived = []
    for data in specs:
        spec = parse_envspec(data, origin=data["name"])
        for trip in round_trips(spec, spec.seed.rows):
            trips += 1
            passed += trip.ok
        # Edges are written at build time by each build's own rule; derived again here by this
        # checkout's rule, both builds are counted alike (a looser old rule linked echoed filters).
        deps = [d.model_dump(mode="json") for d in derive_dependencies(spec)]
        rederived.append({**data, "dependencies": deps})
    same_rule = build_counts(rederived, lent=lent)
    return {**counts, "loans": len(report.get("loans") or []),
            "same_rule_no_edge": same_rule["environments_without_dependency"],
            "same_rule_edgeless_tools": same_rule["tools_without_dependency"], "round_trips": trips, "round_trips_passed": passed,
            "tools_ingested": report["tools_ingested"], "tools_kept": report["tools_kept"],
            "gate_fidelity": report.get("fidelity")}


# Names too generic to say that a response field is the value another tool's argument wants: the
# edge rule's own, and the bare `id` and paging arguments, which name no value of a record.
_GENERIC_NAMES = GENERIC_COLUMNS | {"id", "offset", "page"}
NO_RESPONSE = "no operation describes a response"
NO_NAME_MATCH = "no described field names another tool's argument"
NAME_MATCH = "a described field names another tool's argument"


def _described_fields(schema: object, depth: int = 0) -> set[str]:
    """Every property name of a response schema, nested records included (4 levels)."""
    if not isinstance(schema, dict) or depth > 4:
        return set()
    found = _described_fields(schema.get("items"), depth + 1)
    for name, sub in (schema.get("properties") or {}).items():
        found.add(identifier(str(name)))
        found |= _described_fields(sub, depth + 1)
    return found


def edgeless_reasons(out: Path, tools: dict[str, ToolDef]) -> tuple[dict[str, int], list[str]]:
    """Why each environment of the build at `out` that has no edge has none (module docstring),
    read from the archive's ingested `tools` by name: counts by reason, and the name-matching
    pairs of those with a candidate."""
    counts = dict.fromkeys((NO_RESPONSE, NO_NAME_MATCH, NAME_MATCH), 0)
    candidates: list[str] = []
    for path in sorted((out / "envs").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("dependencies"):
            continue
        own = [tools[t["name"]] for t in data["tools"] if t["name"] in tools]
        fields = {t.name: _described_fields(t.returns) for t in own}
        args = {t.name: {identifier(str(a)) for a in t.parameters.get("properties") or {}} for t in own}
        pairs = [f"{a.name} -> {b.name} ({', '.join(sorted(shared)[:3])})" for a in own for b in own if a is not b
                 for shared in [fields[a.name] & args[b.name] - args[a.name] - _GENERIC_NAMES] if shared]
        reason = NO_RESPONSE if not any(fields.values()) else NAME_MATCH if pairs else NO_NAME_MATCH
        counts[reason] += 1
        if pairs:
            candidates.append(f"{data['name']}: {'; '.join(pairs[:2])}")
    return counts, candidates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archive", type=Path, default=ARCHIVE)
    parser.add_argument("--baseline-src", type=Path, default=Path("/work/main"),
                        help="a checkout of the code to compare with (default /work/main)")
    parser.add_argument("--out", type=Path, default=None, help="folder for both builds (default: a temporary one)")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table to this file")
    args = parser.parse_args()
    if not args.archive.exists():
        print(f"archive not found: {args.archive}", file=sys.stderr)
        return 2
    if not (args.baseline_src / "synth").is_dir():
        print(f"not a checkout: {args.baseline_src}", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="envhub-fidelity-"))
    rows = {}
    for label, src in (("baseline", args.baseline_src), ("this code", HERE)):
        seconds, peak = build(src, args.archive, out / label.replace(" ", "_"))
        rows[label] = {**measure(out / label.replace(" ", "_")), "seconds": seconds, "peak_mb": peak / 2**20}

    def pct(a: int, b: int) -> str:
        return f"{a / b:.1%}" if b else "-"

    lines = [
        f"baseline: {args.baseline_src}; this code: {HERE}; archive: {args.archive.name}",
        "",
        "| build | update-named inserts | delete-named inserts | state-change-named inserts | verb-named tables "
        "| round trip (env files) | envs without dependency edge | tools on no edge "
        "| same edge rule: envs without edge | same edge rule: tools on no edge | tools kept / ingested "
        "| producers lent | wall s | peak PSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, r in rows.items():
        lines.append(
            f"| {label} | {r['update_named_inserts']} | {r['delete_named_inserts']} | "
            f"{r['state_change_named_inserts']} | "
            f"{r['verb_named_tables']} / {r['tables']} | {r['round_trips_passed']} / {r['round_trips']} "
            f"({pct(r['round_trips_passed'], r['round_trips'])}) | {r['environments_without_dependency']} / "
            f"{r['environments']} ({pct(r['environments_without_dependency'], r['environments'])}) | "
            f"{r['tools_without_dependency']} / {r['tools']} ({pct(r['tools_without_dependency'], r['tools'])}) | "
            f"{r['same_rule_no_edge']} / {r['environments']} ({pct(r['same_rule_no_edge'], r['environments'])}) | "
            f"{r['same_rule_edgeless_tools']} / {r['tools']} ({pct(r['same_rule_edgeless_tools'], r['tools'])}) | "
            f"{r['tools_kept']} / {r['tools_ingested']} ({pct(r['tools_kept'], r['tools_ingested'])}) | "
            f"{r['loans']} | {r['seconds']:.0f} | {r['peak_mb']:.0f} |")
    gate = rows["this code"]["gate_fidelity"]
    if gate:
        lines += ["", f"this code, at gate time (before failing tools were dropped): round trip "
                  f"{gate['round_trips_passed']} / {gate['resources_with_create_and_get']} "
                  f"({gate['round_trip_pass_rate']:.1%}), failed by step {gate['round_trips_failed_by_step']}, "
                  f"steps run {gate['round_trip_steps_run']}"]
    tools = {t.name: t for t in ingest_paths([args.archive]).tools}  # once, for both builds
    reasons = {label: edgeless_reasons(out / label.replace(" ", "_"), tools) for label in rows}
    lines += ["", "| why an environment has no edge | " + " | ".join(rows) + " |", "|---|" + "---|" * len(rows)]
    for reason in (NO_RESPONSE, NO_NAME_MATCH, NAME_MATCH):
        lines.append(f"| {reason} | " + " | ".join(str(reasons[label][0][reason]) for label in rows) + " |")
    lines += ["", "this code, environments without an edge where a described field names another tool's argument:"]
    lines += [f"- {line}" for line in reasons["this code"][1]]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
