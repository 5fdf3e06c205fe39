"""Two-phase LoRA fine-tuning on envhub trajectory files (`envhub.trajectory/1` JSONL).

Of envhub, only `contracts` is imported (its Trajectory model reads the files): the trajectory
file format is the only interface.
Entry points: `trainer.loop.train(TrainConfig)`, the `envhub train` command (`trainer.cli`),
`torchrun -m trainer.ddp_entry` for DDP, and `trainer.testing.build_tiny_model` for tests.
"""
