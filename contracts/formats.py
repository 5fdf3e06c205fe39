"""The format strings that version every file crossing a stage boundary.

Each is written into the `format` field of every record. A change that old readers would
misread (a renamed or re-typed field, a new field that changes meaning) bumps the version; a
new optional field that readers may ignore does not.
"""

from typing import Final

ENVSPEC_FORMAT: Final = "envhub.envspec/1"  # the model is servers.spec.EnvSpec
TASK_FORMAT: Final = "envhub.task/1"
TRAJECTORY_FORMAT: Final = "envhub.trajectory/1"
