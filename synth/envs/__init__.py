"""Environment synthesis: a domain of normalized tools -> an executable, gated EnvSpec.

`synthesize(inputs, out_dir, ...)` (synth.envs.synthesize) runs the whole pipeline; the stages live in
shapes (reading a tool), schema (tables), operations (tool -> operation), draft (one domain's
EnvSpec with seed rows), dependencies, gate (calling every tool) and refine (optional LLM pass).
"""

from synth.envs.synthesize import BuildReport, synthesize

__all__ = ["BuildReport", "synthesize"]
