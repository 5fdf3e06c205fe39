"""Verifiable task generation: walks over tool-dependency graphs, executed for gold calls and hashes."""

from .generate import EnvReport, generate_tasks, load_specs, write_tasks

__all__ = ["EnvReport", "generate_tasks", "load_specs", "write_tasks"]
