"""Per-module micro-batching: concurrent requests share one model call.

Each serving module (summarize, classify, explain) owns one `MicroBatcher`. Requests are queued;
a worker task takes the first waiting request, keeps collecting until `max_batch` requests are
in hand or `max_wait_ms` has passed, then runs the batch function in the module's own worker
thread (so the event loop keeps accepting requests while the model computes) and routes each
result back to its request's future. `batching=False` processes one request at a time through
the same path, which makes the batched vs one-at-a-time comparison fair.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Sequence, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class BatcherClosed(RuntimeError):
    """The batcher was shut down before (or while) the request could run."""


@dataclass
class BatchStats:
    """Counters a benchmark or /healthz reads: how many requests, in how many model calls."""

    requests: int = 0
    batches: int = 0
    errors: int = 0
    busy_s: float = 0.0  # wall time spent inside the batch function
    sizes: Counter = field(default_factory=Counter)  # batch size -> how many batches

    @property
    def mean_batch(self) -> float:
        return self.requests / self.batches if self.batches else 0.0

    @property
    def max_batch_seen(self) -> int:
        return max(self.sizes, default=0)

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "batches": self.batches, "errors": self.errors,
                "mean_batch": round(self.mean_batch, 3), "max_batch_seen": self.max_batch_seen,
                "busy_s": round(self.busy_s, 4)}


_Job = tuple[Any, "asyncio.Future[Any]"]


class MicroBatcher(Generic[In, Out]):
    """Queue single requests, run them through `fn` in batches, return each caller its own result.

    `fn` maps a list of inputs to a sequence of outputs of the same length and order. If a batch
    call raises, the batch is retried one item at a time so only the failing request(s) see the
    exception. The worker starts on the first `submit` in the running event loop (and restarts
    if a new loop appears, e.g. a second test client), so no lifespan hook is strictly required.
    """

    def __init__(self, fn: Callable[[list[In]], Sequence[Out]], *, name: str, max_batch: int = 32,
                 max_wait_ms: float = 10.0, batching: bool = True) -> None:
        if max_batch < 1:
            raise ValueError(f"{name}: max_batch must be >= 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"{name}: max_wait_ms must be >= 0, got {max_wait_ms}")
        self.fn = fn
        self.name = name
        self.batching = batching
        self.max_batch = max_batch if batching else 1
        self.max_wait_s = max_wait_ms / 1000.0 if batching else 0.0
        self.stats = BatchStats()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"serve-{name}")
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def _ensure_started(self) -> asyncio.Queue[_Job]:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop is not loop or self._task is None or self._task.done():
            self._loop = loop
            self._queue = asyncio.Queue()
            self._task = loop.create_task(self._worker(self._queue), name=f"batcher-{self.name}")
        return self._queue

    async def submit(self, item: In) -> Out:
        """Queue one request and wait for its result (or the exception its input raised)."""
        if self._closed:
            raise BatcherClosed(f"the {self.name} module is shut down")
        queue = self._ensure_started()
        fut: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        await queue.put((item, fut))
        return await fut

    async def _collect(self, queue: asyncio.Queue[_Job]) -> list[_Job]:
        batch = [await queue.get()]
        deadline = time.perf_counter() + self.max_wait_s
        while len(batch) < self.max_batch:
            try:
                batch.append(queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return batch

    async def _worker(self, queue: asyncio.Queue[_Job]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect(queue)
            live = [(x, f) for x, f in batch if not f.done()]  # drop callers that went away
            if not live:
                continue
            try:
                outcomes = await loop.run_in_executor(self._executor, self._run, [x for x, _ in live])
            except asyncio.CancelledError:
                for _, f in live:
                    if not f.done():
                        f.set_exception(BatcherClosed(f"the {self.name} module shut down mid-batch"))
                raise
            except Exception as e:  # the executor itself failed (e.g. shut down): fail this batch, keep serving
                outcomes = [(False, e)] * len(live)
            for (_, f), (ok, value) in zip(live, outcomes):
                if f.done():
                    continue
                if ok:
                    f.set_result(value)
                else:
                    f.set_exception(value)

    def _call(self, items: list[In]) -> list[Out]:
        out = list(self.fn(items))
        if len(out) != len(items):
            raise RuntimeError(f"{self.name}: model returned {len(out)} results for {len(items)} inputs")
        return out

    def _run(self, items: list[In]) -> list[tuple[bool, Any]]:
        """Runs in the worker thread: one batch call, or per-item calls if the batch raised."""
        t0 = time.perf_counter()
        try:
            results: list[tuple[bool, Any]] = [(True, y) for y in self._call(items)]
        except Exception as batch_exc:
            if len(items) == 1:
                results = [(False, batch_exc)]
            else:
                results = []
                for x in items:
                    try:
                        results.append((True, self._call([x])[0]))
                    except Exception as exc:
                        results.append((False, exc))
        with self._lock:
            self.stats.busy_s += time.perf_counter() - t0
            self.stats.batches += 1
            self.stats.requests += len(items)
            self.stats.errors += sum(not ok for ok, _ in results)
            self.stats.sizes[len(items)] += 1
        return results

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = BatchStats()

    async def aclose(self) -> None:
        """Stop accepting requests, fail the queued ones with `BatcherClosed`, stop the thread."""
        self._closed = True
        task, queue = self._task, self._queue
        if task is not None and not task.done():
            if task.get_loop() is asyncio.get_running_loop():
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
            else:
                task.get_loop().call_soon_threadsafe(task.cancel)
        if queue is not None:
            while not queue.empty():
                _, f = queue.get_nowait()
                if not f.done():
                    f.get_loop().call_soon_threadsafe(
                        _fail, f, BatcherClosed(f"the {self.name} module is shut down"))
        self._executor.shutdown(wait=False, cancel_futures=True)

    def describe(self) -> dict[str, Any]:
        """Settings and counters, for /healthz."""
        return {"batching": self.batching, "max_batch": self.max_batch,
                "max_wait_ms": self.max_wait_s * 1000.0, **self.stats.to_dict()}


def _fail(fut: "asyncio.Future[Any]", exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
