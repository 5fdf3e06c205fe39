"""The one argument planner (the gate's probes, task generation's draws) and the values it uses."""

from synth.arguments.planner import ArgumentDrawer, Rows, probe_arguments, rows_meeting
from synth.arguments.values import example_value, fresh_value, new_value

__all__ = ["ArgumentDrawer", "Rows", "example_value", "fresh_value", "new_value", "probe_arguments", "rows_meeting"]
