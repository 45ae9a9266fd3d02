"""Knowledge distillation for the explanation model (paper Sec. 3.4.1 / 4.2): divergences and losses."""
from lantern_nb.kd.divergences import KINDS, divergence, divergence_per_position
from lantern_nb.kd.losses import DistillObjective, kd_loss_chunked, kd_loss_from_logits, kd_loss_naive

__all__ = ["KINDS", "DistillObjective", "divergence", "divergence_per_position", "kd_loss_chunked",
           "kd_loss_from_logits", "kd_loss_naive"]
