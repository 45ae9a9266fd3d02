"""Knowledge distillation for the explanation model (paper Sec. 3.4.1 / 4.2): divergences and losses."""
from lantern_nb.kd.divergences import KINDS, divergence, divergence_per_position
from lantern_nb.kd.losses import (IGNORE_INDEX, build_labels, kd_loss_chunked, kd_loss_from_logits, kd_loss_naive,
                                  shift_labels)

__all__ = ["IGNORE_INDEX", "KINDS", "build_labels", "divergence", "divergence_per_position", "kd_loss_chunked",
           "kd_loss_from_logits", "kd_loss_naive", "shift_labels"]
