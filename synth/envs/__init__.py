"""Environment synthesis: a domain of normalized tools -> an executable, gated EnvSpec.

`synthesize(inputs, out_dir, SynthSettings(...))` (synth.envs.synthesize) runs the whole pipeline; the
stages live in shapes (reading a tool), schema (tables), operations (tool -> operation), draft (one
domain's EnvSpec with seed rows), dependencies, quality_gate (calling every tool, with arguments from
synth.arguments) and refine (optional LLM pass). What an operation does is servers.semantics' answer.
"""

from synth.envs.synthesize import BuildReport, LLMConfig, SynthSettings, synthesize

__all__ = ["BuildReport", "LLMConfig", "SynthSettings", "synthesize"]
