"""The tool graph and its domains: build (similarity graph), partition (communities),
naming (domain names), drawing (PNG pictures), vectorize (tool vectors)."""

from synth.graph.build import ToolGraph, build_tool_graph
from synth.graph.drawing import domain_graph, draw_domain_graph, force_layout
from synth.graph.naming import DOMAIN_NAME_PATTERN, Domain, api_slug, slugify
from synth.graph.partition import partition_domains

__all__ = [
    "DOMAIN_NAME_PATTERN",
    "Domain",
    "ToolGraph",
    "api_slug",
    "build_tool_graph",
    "domain_graph",
    "draw_domain_graph",
    "force_layout",
    "partition_domains",
    "slugify",
]
