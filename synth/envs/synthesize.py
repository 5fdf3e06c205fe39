"""The synthesis pipeline: API descriptions -> a build folder of gated, executable environments.

    ingest -> tool graph -> domains -> per domain: draft EnvSpec -> quality gate
           (-> optional LLM refinement, gated again) -> envs/<name>.json + report.json + domains.png

Domains are independent, so they are synthesized in worker processes; results are gathered in
domain order and every random choice is seeded, so the same inputs and seed give byte-identical
environment files whatever the number of workers.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synth.data.default_apis import default_api_dir, default_api_files
from synth.envs.draft import draft_envspec
from synth.envs.lending import Loan, improves, plan_loans
from synth.envs.names import env_name
from synth.envs.quality_gate import MIN_TOOLS, run_gate
from synth.tooldef import ToolDef

REPORT_FORMAT = "envsynth.envs-report/1"
DEFAULT_APIS = default_api_dir()
EXAMPLES_PER_REASON = 5
# Domains per task sent to a worker: big enough to amortize pickling, small enough to balance.
CHUNK = 8


@dataclass(frozen=True)
class LLMConfig:
    """An OpenAI-compatible endpoint for the optional refinement of drafted specs."""

    base_url: str
    model: str
    api_key: str | None = None
    timeout: float = 120.0


@dataclass(frozen=True)
class SynthSettings:
    """Every setting of a synthesis run, with its default (`envhub synth` takes its defaults from here)."""

    # Seeds the partition and the seed state; the same inputs and seed give the same build.
    seed: int = 0
    # Tool text embedding for the tool graph: "hashing" or "minilm".
    vectorizer: str = "hashing"
    # Domain sizes, in tools.
    min_domain: int = 3
    max_domain: int = 40
    # Environments with fewer working tools are dropped.
    min_tools: int = MIN_TOOLS
    # Processes synthesizing domains in parallel; None: up to 2.
    workers: int | None = None
    # Optional LLM refinement of each drafted spec.
    llm: LLMConfig | None = None
    progress: bool = True
    # Whether to draw BUILD_DIR/domains.png.
    draw: bool = True

    def __post_init__(self) -> None:
        if self.min_domain < 1 or self.max_domain < self.min_domain:
            raise ValueError(f"need 1 <= min_domain <= max_domain, got {self.min_domain} and {self.max_domain}")


@dataclass
class DomainResult:
    """What happened to one domain; plain data so it crosses process boundaries."""

    name: str
    domain: str
    tools_in: int
    spec_json: dict[str, Any] | None = None
    spec_text: str | None = None  # the env file's exact content (servers.spec.dump_envspec format)
    tools_kept: list[str] = field(default_factory=list)
    # (tool, reason category, detail)
    dropped: list[tuple[str, str, str]] = field(default_factory=list)
    repaired: list[tuple[str, str]] = field(default_factory=list)
    drafted: bool = False
    reason: str | None = None  # why the whole environment was dropped
    refine: dict[str, Any] | None = None
    seconds: float = 0.0
    # Each resource's round trip (RoundTrip.to_json), measured by the gate.
    round_trips: list[dict[str, Any]] = field(default_factory=list)
    # Each constant precondition probed both ways (RuleProbe.to_json).
    rule_probes: list[dict[str, Any]] = field(default_factory=list)
    # Tools of sibling pieces of the same API lent to this environment (synth.envs.lending); they
    # are in `tools_kept` but counted as kept only where they came from.
    lent: list[str] = field(default_factory=list)


@dataclass
class BuildReport:
    out_dir: Path
    data: dict[str, Any]

    @property
    def tools_ingested(self) -> int:
        return self.data["tools_ingested"]

    @property
    def tools_kept(self) -> int:
        return self.data["tools_kept"]

    @property
    def environments_passing(self) -> int:
        return self.data["environments_passing"]

    @property
    def env_files(self) -> list[Path]:
        return [self.out_dir / "envs" / f"{e['name']}.json" for e in self.data["environments"] if e["passing"]]

    def to_json(self) -> dict[str, Any]:
        return self.data


def synthesize_domain(
    name: str, domain: str, tools: list[ToolDef], seed: int, llm: LLMConfig | None = None,
    min_tools: int = MIN_TOOLS,
) -> DomainResult:
    """Draft, gate (and optionally refine) one domain."""
    start = time.perf_counter()
    result = DomainResult(name, domain, len(tools))
    draft = draft_envspec(name, domain, tools, seed=seed)
    result.dropped += [
        (tool, "no resource action", why.split(": ", 1)[1]) if why.startswith("no resource action: ")
        else (tool, "invalid operation", why) for tool, why in draft.rejected
    ]
    if draft.spec is None:
        result.reason = draft.reason or "could not be drafted"
        result.seconds = time.perf_counter() - start
        return result
    result.drafted = True
    gated = run_gate(draft.spec, min_tools=min_tools)
    if llm is not None:
        from synth.envs.refine import refine_environment

        gated, result.refine = refine_environment(draft.spec, gated, tools, llm, seed=seed, min_tools=min_tools)
    result.round_trips = [trip.to_json() for trip in gated.round_trips]
    result.rule_probes = [probe.to_json() for probe in gated.rule_probes]
    for v in gated.verdicts:
        if not v.ok:
            result.dropped.append((v.name, v.reason or "call failed", v.detail or ""))
        elif v.repaired:
            result.repaired.append((v.name, v.repaired))
    if gated.spec is None:
        result.reason = gated.reason
    else:
        result.spec_json = gated.spec.model_dump(mode="json", by_alias=True)
        # Serialized here, in the worker: the main process then writes text without re-validating.
        result.spec_text = gated.spec.model_dump_json(indent=1, exclude_defaults=False) + "\n"
        result.tools_kept = gated.kept
    result.seconds = time.perf_counter() - start
    return result


def _run_chunk(jobs: list[tuple[str, str, list[ToolDef]]], settings: SynthSettings) -> list[DomainResult]:
    return [synthesize_domain(n, d, t, settings.seed, settings.llm, settings.min_tools) for n, d, t in jobs]


class _Stages:
    """A rich progress display with one bar per stage (or nothing when progress is off)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.progress: Any = None

    def __enter__(self) -> _Stages:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                ProgressColumn,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.text import Text

            class RateColumn(ProgressColumn):
                def render(self, task: Any) -> Text:
                    speed = task.finished_speed or task.speed
                    return Text(f"{speed:,.1f}/s" if speed else "", style="progress.data.speed")

            self.progress = Progress(
                TextColumn("[bold]{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                TaskProgressColumn(), RateColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
            )
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    @contextmanager
    def stage(self, name: str, total: int | None) -> Iterator[Any]:
        if self.progress is None:
            yield lambda done=None, total=None, advance=0: None
            return
        task = self.progress.add_task(name, total=total)

        def update(done: int | None = None, total: int | None = None, advance: int = 0) -> None:
            if total is not None:
                self.progress.update(task, total=total)
            if done is not None:
                self.progress.update(task, completed=done)
            elif advance:
                self.progress.advance(task, advance)

        yield update
        t = self.progress.tasks[task]
        self.progress.update(task, completed=t.total if t.total is not None else t.completed)


def _reason_table(items: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for reason, example in items:
        entry = out.setdefault(reason, {"count": 0, "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < EXAMPLES_PER_REASON:
            entry["examples"].append(example)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["count"]))


def synthesize(inputs: list[Path] | None, out_dir: Path, settings: SynthSettings | None = None) -> BuildReport:
    """Build every environment from `inputs` (the embedded default collection when None)."""
    from synth.graph import build_tool_graph, draw_domain_graph, partition_domains
    from synth.ingest import ingest_paths

    settings = settings or SynthSettings()
    seed = settings.seed
    # The default collection's YAML files only: its folder also holds the package's __init__.py.
    paths = [Path(p) for p in inputs] if inputs else default_api_files()
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(f"input not found: {p}")
    out_dir = Path(out_dir)
    envs_dir = out_dir / "envs"
    envs_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    with _Stages(settings.progress) as stages:
        t0 = time.perf_counter()
        with stages.stage("ingest", None) as update:
            ingested = ingest_paths(paths, progress=lambda done, total: update(done=done, total=total))
        timings["ingest"] = time.perf_counter() - t0
        tools = ingested.tools
        by_name = {t.name: t for t in tools}

        t0 = time.perf_counter()
        with stages.stage("graph", 1) as update:
            tool_graph = build_tool_graph(tools, vectorizer=settings.vectorizer, seed=seed) if tools else None
            update(advance=1)
        timings["graph"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        with stages.stage("domains", 1) as update:
            domains = partition_domains(tool_graph, tools, seed=seed, min_size=settings.min_domain,
                                        max_size=settings.max_domain) if tool_graph is not None else []
            update(advance=1)
        timings["partition"] = time.perf_counter() - t0

        taken: set[str] = set()
        jobs = [(env_name(d.name, taken), d.name, [by_name[n] for n in d.tools]) for d in domains]
        t0 = time.perf_counter()
        results: list[DomainResult] = []
        with stages.stage("synthesize", len(jobs)) as update:
            results = run_domains(jobs, settings, update)
        timings["synthesize_and_gate"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        with stages.stage("lend producers", None) as update:
            loans = lend_producers(jobs, results, settings, by_name, update)
        timings["lend_producers"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        for stale in envs_dir.glob("*.json"):
            stale.unlink()
        for r in results:
            if r.spec_text is not None:
                (envs_dir / f"{r.name}.json").write_text(r.spec_text, encoding="utf-8")
        if settings.draw and tool_graph is not None and domains:
            draw_domain_graph(tool_graph.graph, domains, out_dir / "domains.png")
        timings["write"] = time.perf_counter() - t0

    graph = tool_graph.graph if tool_graph is not None else None
    data = _report(paths, ingested, graph, domains, results, timings, settings)
    data["loans"] = [loan.to_json() for loan in loans]
    (out_dir / "report.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return BuildReport(out_dir, data)


def run_domains(jobs: list[tuple[str, str, list[ToolDef]]], settings: SynthSettings, update: Any) -> list[DomainResult]:
    workers = settings.workers if settings.workers is not None else min(2, os.cpu_count() or 1)
    if workers <= 1 or len(jobs) <= CHUNK:
        out = []
        for job in jobs:
            out.append(synthesize_domain(*job, settings.seed, settings.llm, settings.min_tools))
            update(advance=1)
        return out
    chunks = [jobs[i:i + CHUNK] for i in range(0, len(jobs), CHUNK)]
    results: list[list[DomainResult] | None] = [None] * len(chunks)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_run_chunk, chunk, settings): i for i, chunk in enumerate(chunks)}
        for fut in as_completed(futures):
            results[futures[fut]] = fut.result()
            update(advance=len(chunks[futures[fut]]))
    return [r for chunk in results for r in chunk or []]


def lend_producers(jobs: list[tuple[str, str, list[ToolDef]]], results: list[DomainResult], settings: SynthSettings,
                   by_name: dict[str, ToolDef], update: Any) -> list[Loan]:
    """Rebuild the pieces of split APIs that need a key only a sibling piece produces, with that
    producer lent to them (synth.envs.lending); a rebuild replaces its piece in `results` only when
    `improves` says so. Returns the loans taken."""
    passing = {r.name: r for r in results if r.spec_json is not None}
    apis = {name: frozenset(by_name[t].api or by_name[t].source for t in r.tools_kept if t in by_name)
            for name, r in passing.items()}
    plans = plan_loans({name: r.spec_json for name, r in passing.items() if r.spec_json is not None}, apis)
    tools_of = {name: tools for name, _domain, tools in jobs}
    retries = [(name, passing[name].domain, tools_of[name] + [by_name[loan.tool] for loan in plans[name]])
               for name in sorted(plans)]
    update(total=len(retries))
    rebuilt = run_domains(retries, settings, update)
    position = {r.name: i for i, r in enumerate(results)}
    taken: list[Loan] = []
    for new in rebuilt:
        old = passing[new.name]
        loans = plans[new.name]
        offered = {loan.tool for loan in loans}
        if not improves(old.spec_json or {}, new.spec_json, old.tools_kept, new.tools_kept,
                        old.round_trips, new.round_trips):
            continue
        kept = set(new.tools_kept)
        new.lent = sorted(offered & kept)
        # What happened to an offered tool that did not stay is the lender's business, not the borrower's.
        new.dropped = [d for d in new.dropped if d[0] not in offered]
        new.repaired = [r for r in new.repaired if r[0] not in offered]
        new.tools_in = old.tools_in
        results[position[new.name]] = new
        taken += [loan for loan in loans if loan.tool in kept]
    return taken


def kept_tool_count(results: list[DomainResult]) -> int:
    """Tools kept by the build: a lent tool counts where it came from, not again in its borrower
    (that would inflate the yield)."""
    return sum(len(r.tools_kept) - len(r.lent) for r in results if r.spec_json is not None)


def _report(paths: list[Path], ingested: Any, graph: Any, domains: list[Any], results: list[DomainResult],
            timings: dict[str, float], settings: SynthSettings) -> dict[str, Any]:
    llm = settings.llm
    from synth.ingest.summary import ingest_summary

    tool_reasons: list[tuple[str, dict[str, Any]]] = []
    env_reasons: list[tuple[str, dict[str, Any]]] = []
    for r in results:
        for tool, reason, detail in r.dropped:
            tool_reasons.append((reason, {"env": r.name, "tool": tool, "detail": detail[:400]}))
        if r.spec_json is None:
            env_reasons.append((r.reason or "dropped", {"env": r.name, "tools": r.tools_in}))
    kept = kept_tool_count(results)
    # Tools that worked but whose environment was dropped count as lost too.
    lost_with_env = sum(r.tools_in - len(r.dropped) for r in results if r.spec_json is None)
    for r in results:
        if r.spec_json is None and r.tools_in - len(r.dropped) > 0:
            tool_reasons.append(("environment dropped",
                                 {"env": r.name, "tools": r.tools_in - len(r.dropped), "detail": r.reason}))
    ingested_n = len(ingested.tools)
    passing = [r for r in results if r.spec_json is not None]
    refine_stats: dict[str, Any] = {}
    if llm is not None:
        outcomes = [r.refine for r in results if r.refine]
        refine_stats = {
            "model": llm.model, "base_url": llm.base_url,
            "attempted": len(outcomes),
            "accepted": sum(1 for o in outcomes if o.get("accepted")),
            "fell_back": _reason_table([(o.get("reason") or "fell back", {"env": o.get("env")})
                                        for o in outcomes if not o.get("accepted")]),
        }
    return {
        "format": REPORT_FORMAT,
        "inputs": [str(p) for p in paths],
        "seed": settings.seed,
        "vectorizer": settings.vectorizer,
        "inputs_read": ingested.files_read,
        "files_skipped": [{"source": s, "reason": why} for s, why in ingested.skipped],
        "tools_ingested": ingested_n,
        # Transport/auth/formatting parameters ingest dropped (per reason) and paging/ordering roles.
        "ingest": ingest_summary(ingested.tools),
        "domains": len(domains),
        "environments_built": sum(1 for r in results if r.drafted),
        "environments_passing": len(passing),
        "tools_kept": kept,
        "tools_repaired": sum(len(r.repaired) for r in results if r.spec_json is not None),
        "yield": round(kept / ingested_n, 4) if ingested_n else 0.0,
        "tools_lost_with_dropped_envs": lost_with_env,
        "dropped_tools": _reason_table(tool_reasons),
        "dropped_environments": _reason_table(env_reasons),
        "refine": refine_stats,
        "graph": {"nodes": graph.number_of_nodes() if graph is not None else 0,
                  "edges": graph.number_of_edges() if graph is not None else 0},
        "seconds": {k: round(v, 3) for k, v in timings.items()},
        "environments": [
            {"name": r.name, "domain": r.domain, "tools_in": r.tools_in, "tools": len(r.tools_kept),
             "tables": len(r.spec_json["tables"]) if r.spec_json else 0, "passing": r.spec_json is not None,
             "reason": r.reason, "refined": bool(r.refine and r.refine.get("accepted")), "lent": r.lent}
            for r in results
        ],
        "stages": _stage_summary(ingested, domains, results, kept),
        "fidelity": _fidelity(results, ingested_n, kept),
    }


def _fidelity(results: list[DomainResult], ingested_n: int, kept: int) -> dict[str, Any]:
    """Rightness, not only yield: round trips of resources, write-named inserts, verb-named tables
    and environments without a dependency edge (counting rules: synth.envs.fidelity)."""
    from synth.envs.fidelity import build_counts
    from synth.envs.ruleprobe import UNPROBED

    trips = [t for r in results for t in r.round_trips]
    probes = [p for r in results for p in r.rule_probes]
    passed = sum(1 for t in trips if t["failed_step"] is None)
    failed_at: dict[str, int] = defaultdict(int)
    for t in trips:
        if t["failed_step"] is not None:
            failed_at[t["failed_step"]] += 1
    counts = build_counts([r.spec_json for r in results if r.spec_json is not None],
                          lent={r.name: r.lent for r in results if r.lent})
    envs = counts["environments"]
    return {
        "resources_with_create_and_get": len(trips),
        "round_trips_passed": passed,
        "round_trip_pass_rate": round(passed / len(trips), 4) if trips else 0.0,
        "round_trips_failed_by_step": dict(sorted(failed_at.items())),
        "round_trip_steps_run": {step: sum(1 for t in trips if step in t["passed"] or t["failed_step"] == step)
                                 for step in ("create", "get", "list", "update", "delete")},
        "round_trip_failures": [
            {"env": r.name, **t} for r in results for t in r.round_trips if t["failed_step"] is not None
        ][:EXAMPLES_PER_REASON * 4],
        "rules_probed": sum(1 for p in probes if p["detail"] not in UNPROBED),
        "rules_held_both_ways": sum(1 for p in probes if p["held"]),
        "rules_not_probed": sum(1 for p in probes if p["detail"] in UNPROBED),
        "rule_failures": [{"env": r.name, **p} for r in results for p in r.rule_probes
                          if not p["held"] and p["detail"] not in UNPROBED][:EXAMPLES_PER_REASON * 4],
        "tools_kept_passing_fidelity": kept,
        "tools_kept_share_of_ingested": round(kept / ingested_n, 4) if ingested_n else 0.0,
        "update_named_inserts": counts["update_named_inserts"],
        "delete_named_inserts": counts["delete_named_inserts"],
        "state_change_named_inserts": counts["state_change_named_inserts"],
        "tables": counts["tables"],
        "verb_named_tables": counts["verb_named_tables"],
        "environments_without_dependency": counts["environments_without_dependency"],
        "environments_without_dependency_share": round(counts["environments_without_dependency"] / envs, 4)
        if envs else 0.0,
        "tools_without_dependency": counts["tools_without_dependency"],
        "examples": counts["examples"],
    }


def _stage_summary(ingested: Any, domains: list[Any], results: list[DomainResult], kept: int) -> list[dict[str, Any]]:
    by_stage: dict[str, int] = defaultdict(int)
    for r in results:
        for _tool, reason, _ in r.dropped:
            by_stage["draft" if reason in ("invalid operation", "no resource action") else "gate"] += 1
    return [
        {"stage": "ingest", "in": ingested.files_read, "out": len(ingested.tools),
         "dropped": len(ingested.skipped), "unit": "files -> tools"},
        {"stage": "partition", "in": len(ingested.tools), "out": len(domains), "dropped": 0, "unit": "tools -> domains"},
        {"stage": "draft", "in": sum(r.tools_in for r in results),
         "out": sum(r.tools_in for r in results) - by_stage["draft"], "dropped": by_stage["draft"], "unit": "tools"},
        {"stage": "gate", "in": sum(1 for r in results if r.drafted), "out": sum(1 for r in results if r.spec_json),
         "dropped": sum(1 for r in results if r.drafted and not r.spec_json), "unit": "environments"},
        {"stage": "kept", "in": len(ingested.tools), "out": kept, "dropped": len(ingested.tools) - kept, "unit": "tools"},
    ]
