"""Teacher T1 (paper Sec. 3.2): backends behind one interface, a batch of pairs in, results out."""
from __future__ import annotations

from lantern_nb.profiles import Profile
from lantern_nb.teachers.base import Teacher, TeacherOutput

__all__ = ["Teacher", "TeacherOutput", "make_teacher"]


def make_teacher(cfg: Profile, backend: str | None = None, **kwargs) -> Teacher:
    """The configured T1 (`cfg.teacher.backend` unless `backend` is given), with its cache and,
    when `cfg.teacher.failure_rates` is non-empty, the failure simulator around it."""
    from lantern_nb.teachers.factory import build_teacher

    return build_teacher(cfg, backend=backend, **kwargs)
