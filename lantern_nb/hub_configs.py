"""The paper models' hub configs, shipped as JSON (`lantern_nb/assets/configs/`), for work without the hub.

`make gpu-check` builds random-init models of their real sizes from them; `make rehearse` builds small local
stand-ins that keep what the code must cope with (model type, vocabulary and logit rows, positions, sliding
window, tied or untied head) and shrink the rest.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).parent / "assets" / "configs"
# hub id -> shipped config.json
CONFIGS = {
    "Qwen/Qwen3-8B": "Qwen3-8B.json",
    "Qwen/Qwen2.5-7B": "Qwen2.5-7B.json",
    "Qwen/Qwen2.5-7B-Instruct": "Qwen2.5-7B-Instruct.json",
    "Qwen/Qwen2.5-3B-Instruct": "Qwen2.5-3B-Instruct.json",
    "Qwen/Qwen2.5-1.5B-Instruct": "Qwen2.5-1.5B-Instruct.json",
    "Qwen/Qwen2.5-0.5B-Instruct": "Qwen2.5-0.5B-Instruct.json",
    "microsoft/Phi-3-mini-4k-instruct": "Phi-3-mini-4k-instruct.json",
    "Alibaba-NLP/gte-Qwen2-1.5B-instruct": "gte-Qwen2-1.5B-instruct.json",
    "answerdotai/ModernBERT-large": "ModernBERT-large.json",
}
STANDIN_PREFIX = "standin:"  # a profile's `standin:<hub id>`: the local stand-in `make rehearse` builds (`rehearsal`)
STANDIN_EXTRA = ("sentence-transformers/all-MiniLM-L6-v2",)  # stand-ins without a shipped config (a real wheel model)
SHRUNK = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)


class UnknownModelError(ValueError):
    """No config is shipped for this hub id (a ValueError, so the CLI prints its one-line message)."""

    def __str__(self) -> str:
        return str(self.args[0])


def config_values(hub_id: str, shrink: bool = False) -> dict[str, Any]:
    """The config.json values of `hub_id` (keys starting with `_`, our provenance, dropped); `shrink`: two layers
    of width 64 and four heads of 16 (grouped KV heads kept grouped), every other value as shipped."""
    if hub_id not in CONFIGS:
        raise UnknownModelError(f"no shipped config for {hub_id!r}; known: {', '.join(CONFIGS)} "
                                f"(add the hub's config.json under {CONFIG_DIR})")
    raw = json.loads((CONFIG_DIR / CONFIGS[hub_id]).read_text())
    values = {k: v for k, v in raw.items() if not k.startswith("_")}
    if shrink:
        grouped = values.get("num_key_value_heads", values["num_attention_heads"]) < values["num_attention_heads"]
        values.update(SHRUNK)
        if "num_key_value_heads" in values:
            values["num_key_value_heads"] = 2 if grouped else 4
        if "head_dim" in values:
            values["head_dim"] = 16
        if "max_window_layers" in values:
            values["max_window_layers"] = min(values["max_window_layers"], 2)
    return values


def hub_config(hub_id: str, shrink: bool = False) -> Any:
    """The transformers config of `hub_id` from its shipped config.json (`config_values`)."""
    from transformers import AutoConfig

    return AutoConfig.for_model(**config_values(hub_id, shrink))


def standin_dir(hub_id: str) -> Path:
    """The folder of `hub_id`'s stand-in: build/rehearsal/models/<org>--<name> under the checkout."""
    from lantern_nb import artifacts

    if hub_id not in CONFIGS and hub_id not in STANDIN_EXTRA:
        raise UnknownModelError(f"no stand-in for {hub_id!r}; the rehearsal knows {', '.join((*CONFIGS, *STANDIN_EXTRA))}")
    return artifacts.repo_root() / "build" / "rehearsal" / "models" / hub_id.replace("/", "--")
