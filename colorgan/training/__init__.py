"""Training: data, losses, the loop, checkpoints and resume, distributed runs, run logs."""
