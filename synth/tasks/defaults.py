"""Task generation's defaults, in one light module (the CLI reads them without loading the generator)."""

# Walk lengths in gold calls; the length distribution is synth.tasks.walk.LENGTH_WEIGHTS.
DEFAULT_MAX_STEPS = 10
MIN_STEPS = 2
# Shares of each environment's tasks that are conditional / refusal tasks.
DEFAULT_CONDITIONAL_FRACTION = 0.1
DEFAULT_REFUSAL_FRACTION = 0.1
