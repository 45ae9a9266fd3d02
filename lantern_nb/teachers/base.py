"""The teacher interface shared by every backend (rubric, hf, openai) and the failure simulator."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from lantern_nb.schema import FitResult, Pair


@dataclass
class TeacherOutput:
    """One pair's teacher output: the raw text, the parsed result (None when rejected) and why."""

    pair_id: str
    raw: str
    result: FitResult | None
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # steps, cache hits, injected failures

    def to_dict(self) -> dict[str, Any]:
        return {"pair_id": self.pair_id, "raw": self.raw,
                "result": self.result.to_dict() if self.result else None,
                "error": self.error, "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TeacherOutput":
        res = d.get("result")
        return cls(pair_id=d["pair_id"], raw=d["raw"], result=FitResult.from_dict(res) if res else None,
                   error=d.get("error"), meta=dict(d.get("meta") or {}))


class Teacher(Protocol):
    """A batch of pairs in, one `TeacherOutput` per pair out, in order."""

    name: str

    def label(self, pairs: Sequence[Pair]) -> list[TeacherOutput]: ...
