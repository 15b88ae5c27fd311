"""Fine-tuning: the trainer (``trainer``), the run history (``store``), background jobs (``jobs``) and
strength sweeps (``sweep``).  Importing this package is light; torch loads with the trainer."""

from da_core.train.config import TrainConfig

__all__ = ["TrainConfig"]
