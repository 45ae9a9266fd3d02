"""The committed base models on disk (data/base/): where they are, their manifest of sha256 hashes,
and loading with every file checked. `base_models` builds them; `model_specs` loads them for `base:`
specs. Nothing here builds models, so the model layer can import it."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

MANIFEST = "MANIFEST.json"
PROVENANCE = "provenance.json"


class BaseModelError(RuntimeError):
    """A committed base model is missing or does not match its manifest."""


def base_dir() -> Path:
    """Where the committed base models live: data/base/ of the checkout ($LANTERN_BASE_DIR overrides)."""
    env = os.environ.get("LANTERN_BASE_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "data" / "base"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(root: Path | None = None) -> dict[str, str]:
    """sha256 of every committed file under `root` (the tokenizer and each model folder)."""
    root = root or base_dir()
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)
    manifest = {str(p.relative_to(root)): sha256_file(p) for p in files}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def _manifest(root: Path) -> dict[str, str]:
    path = root / MANIFEST
    if not path.exists():
        raise BaseModelError(f"{path} is missing: the committed base models are not in this checkout; "
                             "`git checkout data/base` restores them, `make base-models` rebuilds them")
    return json.loads(path.read_text())


def verify(folder: str, root: Path | None = None) -> Path:
    """The folder of base model (or `tokenizer`) `folder`, after checking every file's sha256."""
    root = root or base_dir()
    manifest = _manifest(root)
    files = {k: v for k, v in manifest.items() if k.split("/", 1)[0] == folder}
    if not files:
        known = sorted({k.split("/", 1)[0] for k in manifest if "/" in k} - {"tokenizer"})
        raise BaseModelError(f"base model {folder!r} is not in {root / MANIFEST}; known: {', '.join(known)}")
    for rel, digest in files.items():
        path = root / rel
        if not path.exists() or sha256_file(path) != digest:
            raise BaseModelError(f"{path} does not match its sha256 in {root / MANIFEST} (changed or missing); "
                                 "`git checkout data/base` restores the committed file, `make base-models` "
                                 "rebuilds and re-hashes")
    return root / folder


def load_tokenizer(root: Path | None = None, check: bool = True):
    """The tokenizer every base model shares (hashes checked unless `check=False`); the caller sets
    the chat template (`model_specs.CHAT_TEMPLATE`)."""
    from transformers import AutoTokenizer

    root = root or base_dir()
    tok = AutoTokenizer.from_pretrained(verify("tokenizer", root) if check else root / "tokenizer")
    tok.padding_side = "right"
    return tok


def load_base(name: str, dtype: torch.dtype = torch.float32, root: Path | None = None) -> torch.nn.Module:
    """Committed base model `name`, hashes checked, in `dtype` (fp32 to train)."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(verify(name, root), dtype=dtype)


def provenance(name: str, root: Path | None = None) -> dict[str, Any]:
    """A committed base model's provenance record ({} when absent)."""
    path = (root or base_dir()) / name / PROVENANCE
    return json.loads(path.read_text()) if path.exists() else {}


__all__ = ["BaseModelError", "MANIFEST", "PROVENANCE", "base_dir", "load_base", "load_tokenizer", "provenance",
           "sha256_file", "verify", "write_manifest"]
