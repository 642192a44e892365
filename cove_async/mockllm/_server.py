"""The simulated inference server: a real OpenAI-compatible HTTP server with vLLM's habits.

Endpoints:

- ``POST /v1/chat/completions``: OpenAI chat completions (non-streamed), answered by the
  :class:`Responder` registered under the request's ``model``, after the time the
  :class:`LatencyModel` says, with the faults :class:`FaultRates` asks for.
- ``GET /v1/models``: the served model names.
- ``GET /health``: 200 while the server runs (also while paused).
- ``GET /metrics``: Prometheus text with vLLM's metric names (see ``_metrics``).
- ``POST /admin/pause`` (optional body ``{"retry_after_s": 2}``), ``POST /admin/resume``:
  while paused, chat requests get 503 with ``Retry-After``, as during a weight update.
- ``POST /admin/faults`` (body ``{"faults": ["error_503", null, "hang"]}``): the next chat
  requests get these faults, in order (null: none), before random ones resume.
- ``GET /admin/stats``: :class:`ServerStatistics` as JSON.

A single request can also ask for a fault with the header ``x-mock-fault: <fault>`` (a
:class:`Fault` value, or ``none``), which overrides the scheduled one.

Retry hints: 503 and 429 answers carry ``Retry-After`` (whole seconds, rounded up, as HTTP
allows) and ``retry-after-ms`` (exact; the ``openai`` client reads it first).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

import anyio
import msgspec
import sniffio
import structlog
from aiohttp import web
from anyio.abc import TaskStatus
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from cove_async.backends import ChatRequest
from cove_async.chat import ToolCall
from cove_async.errors import ConfigError
from cove_async.mockllm._config import Fault, FaultRates, LatencyModel
from cove_async.mockllm._faults import FaultSchedule, break_tool_arguments
from cove_async.mockllm._metrics import GaugeReading, ModelSeries, VllmMetrics
from cove_async.mockllm._responder import DefaultResponder, Reply, Responder
from cove_async.mockllm._slots import Slots
from cove_async.mockllm._tokens import (
    CHARS_PER_TOKEN,
    completion_text,
    count_tokens,
    logprobs_content,
    prompt_text,
    token_ids,
)
from cove_async.mockllm._wire import (
    ChatOptions,
    RequestRejected,
    ToolsCache,
    chat_completion_body,
    decode_chat_request,
    error_body,
    models_body,
)

__all__ = ("DEFAULT_MODEL", "FAULT_HEADER", "MockLLMServer", "ServerStatistics")

log = structlog.get_logger()

DEFAULT_MODEL = "mock"
"""The model name served by :class:`DefaultResponder` when no responders are given."""

FAULT_HEADER = "x-mock-fault"
"""Request header that forces a fault (a :class:`Fault` value, or ``none``) on that request."""

_MAX_BODY = 64 * 1024 * 1024
"""Largest request body accepted: long contexts with tool schemas run to megabytes."""

_BACKLOG = 4096
"""Listen backlog: benchmarks open thousands of connections at once."""

_SHUTDOWN_GRACE_S = 1.0
"""How long stopping waits for requests in progress before cancelling them."""


class ServerStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """What the server has done so far, and its scheduler state now.

    Attributes:
        requests: chat requests received (every one, rejected and paused included).
        accepted: chat requests that passed decoding and model lookup; each drew a fault.
        completed: answered with HTTP 200 and a generated reply (corrupted replies included).
        rejected: answered 4xx (an undecodable body, an unknown model, a bad fault header).
        paused: whether the server is paused now.
        paused_answers: answered 503 because the server was paused.
        aborted: given up by the client while waiting or running.
        responder_errors: answered 500 because the responder raised.
        running: requests holding a slot now.
        waiting: requests queued for a slot now.
        hanging: requests held by the hang fault now.
        peak_running: the most requests ever running at once.
        peak_waiting: the most requests ever waiting at once.
        prompt_tokens: prompt tokens of completed requests.
        completion_tokens: completion tokens of completed requests.
        faults: injected faults by :class:`Fault` value (kinds never injected are absent).
    """

    requests: int
    accepted: int
    completed: int
    rejected: int
    paused: bool
    paused_answers: int
    aborted: int
    responder_errors: int
    running: int
    waiting: int
    hanging: int
    peak_running: int
    peak_waiting: int
    prompt_tokens: int
    completion_tokens: int
    faults: dict[str, int]


class _PauseBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    retry_after_s: float | None = None


class _FaultsBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    faults: list[Fault | None]


def _json(body: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def _error(exc: RequestRejected) -> web.Response:
    return _json(error_body(str(exc), status=exc.status, kind=exc.kind, param=exc.param), exc.status)


def _retry_later(status: int, message: str, retry_after_s: float) -> web.Response:
    kind = "RateLimitError" if status == 429 else "ServiceUnavailableError"
    headers = {"Retry-After": str(math.ceil(retry_after_s)), "retry-after-ms": str(round(retry_after_s * 1000))}
    return _json(error_body(message, status=status, kind=kind), status, headers)


def _check_retry_after(value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"retry_after_s must be a finite number of seconds >= 0, got {value!r}")
    return value


class _Output(msgspec.Struct, frozen=True, kw_only=True):
    """A reply as it will be sent: after the bad-arguments fault and the ``max_tokens`` cut."""

    content: str | None
    calls: tuple[ToolCall, ...]
    finish: str
    text: str
    """What the completion's tokens are made of."""
    tokens: int

    @classmethod
    def of(cls, reply: Reply, chat: ChatRequest, fault: Fault | None) -> _Output:
        content, calls = reply.content, reply.tool_calls
        finish = reply.finish_reason or ("tool_calls" if calls else "stop")
        if fault is Fault.BAD_TOOL_ARGUMENTS:
            calls, finish = break_tool_arguments(reply, chat.tools), "tool_calls"
        text = completion_text(content, calls)
        tokens = count_tokens(text, completion=True)
        if chat.max_tokens is not None and tokens > chat.max_tokens:
            # A model cut off mid-call emits text the tool parser cannot read: the calls go.
            text = content = text[: chat.max_tokens * CHARS_PER_TOKEN]
            calls, finish, tokens = (), "length", chat.max_tokens
        return cls(content=content, calls=calls, finish=finish, text=text, tokens=tokens)


class MockLLMServer:
    """The simulated inference server; :meth:`run` serves it over HTTP.

    Args:
        latency: the latency model (default: no latency, 256 running slots).
        faults: fault rates (default: none).
        responders: the served models, by name; requests are routed by their ``model``
            field, a request without one goes to the first. Default:
            ``{"mock": DefaultResponder()}``.
        seed: seeds the fault draws and the completion ids.
        clock: wall-clock time for ``created`` (inject a constant for reproducible bodies).
        paused: start paused (chat requests get 503 until :meth:`resume`).
        pause_retry_after_s: the ``Retry-After`` of answers while paused.

    Raises:
        ConfigError: no responders, or a negative ``pause_retry_after_s``.
    """

    def __init__(
        self,
        *,
        latency: LatencyModel | None = None,
        faults: FaultRates | None = None,
        responders: Mapping[str, Responder] | None = None,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        paused: bool = False,
        pause_retry_after_s: float = 1.0,
    ) -> None:
        self._latency = latency if latency is not None else LatencyModel()
        self._fault_rates = faults if faults is not None else FaultRates()
        self._responders: dict[str, Responder] = dict(
            responders if responders is not None else {DEFAULT_MODEL: DefaultResponder()}
        )
        if not self._responders:
            raise ConfigError("responders must serve at least one model, got an empty mapping")
        self._models = list(self._responders)
        self._seed = seed
        self._clock = clock
        self._paused = paused
        self._pause_retry_after_s = _check_retry_after(pause_retry_after_s)
        self._created = int(clock())
        self._schedule = FaultSchedule(self._fault_rates, seed=seed)
        self._tools = ToolsCache()
        self._slots = Slots(self._latency.max_running)
        self._running = dict.fromkeys(self._models, 0)
        self._waiting = dict.fromkeys(self._models, 0)
        self._counts = dict.fromkeys(
            (
                "requests",
                "accepted",
                "completed",
                "rejected",
                "paused_answers",
                "aborted",
                "responder_errors",
                "hanging",
            ),
            0,
        )
        self._n_running = 0
        self._n_waiting = 0
        self._peak_running = 0
        self._peak_waiting = 0
        self._prompt_tokens = 0
        self._completion_tokens = 0
        self._faults: dict[str, int] = {}
        self._watchers: list[tuple[Callable[[ServerStatistics], bool], anyio.Event]] = []
        self._stopping = anyio.Event()
        self._url: str | None = None
        self.registry = CollectorRegistry()
        """The server's own Prometheus registry (what ``/metrics`` exports)."""
        self._metrics = VllmMetrics(self.registry, self._models, self._gauges)
        self._app = web.Application(client_max_size=_MAX_BODY)
        self._app.router.add_post("/v1/chat/completions", self._chat)
        self._app.router.add_get("/v1/models", self._list_models)
        self._app.router.add_get("/health", self._health)
        self._app.router.add_get("/metrics", self._scrape)
        self._app.router.add_post("/admin/pause", self._pause)
        self._app.router.add_post("/admin/resume", self._resume)
        self._app.router.add_post("/admin/faults", self._queue_faults)
        self._app.router.add_get("/admin/stats", self._stats)

    # -- control -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://host:port`` once :meth:`run` listens.

        Raises:
            RuntimeError: the server is not listening.
        """
        if self._url is None:
            raise RuntimeError("the server is not listening: start MockLLMServer.run (or use running_server) first")
        return self._url

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (``http://host:port/v1``), for ``AsyncOpenAI(base_url=...)``."""
        return self.url + "/v1"

    @property
    def models(self) -> tuple[str, ...]:
        """The served model names, the default first."""
        return tuple(self._models)

    @property
    def paused(self) -> bool:
        """Whether chat requests are being answered 503."""
        return self._paused

    def pause(self, *, retry_after_s: float | None = None) -> None:
        """Answer chat requests 503 with ``Retry-After`` until :meth:`resume` (requests in progress finish).

        Args:
            retry_after_s: the wait to advise; None keeps the current one.
        """
        if retry_after_s is not None:
            self._pause_retry_after_s = _check_retry_after(retry_after_s)
        self._paused = True

    def resume(self) -> None:
        """Answer chat requests again."""
        self._paused = False

    def inject(self, *faults: Fault | None) -> None:
        """Give the next chat requests these faults, in order (None: no fault for that one)."""
        self._schedule.queue(faults)

    def statistics(self) -> ServerStatistics:
        """Counts so far and the scheduler state now."""
        c = self._counts
        return ServerStatistics(
            requests=c["requests"],
            accepted=c["accepted"],
            completed=c["completed"],
            rejected=c["rejected"],
            paused=self._paused,
            paused_answers=c["paused_answers"],
            aborted=c["aborted"],
            responder_errors=c["responder_errors"],
            running=self._n_running,
            waiting=self._n_waiting,
            hanging=c["hanging"],
            peak_running=self._peak_running,
            peak_waiting=self._peak_waiting,
            prompt_tokens=self._prompt_tokens,
            completion_tokens=self._completion_tokens,
            faults=dict(self._faults),
        )

    async def wait_until(self, predicate: Callable[[ServerStatistics], bool]) -> None:
        """Return once ``predicate(self.statistics())`` holds (checked on every change of state).

        For tests and benchmarks that must know the server reached a state (say, 4 requests
        waiting) without polling. Put a timeout around it: it waits for ever otherwise.
        """
        if predicate(self.statistics()):
            return
        entry = (predicate, anyio.Event())
        self._watchers.append(entry)
        try:
            await entry[1].wait()
        finally:
            if entry in self._watchers:
                self._watchers.remove(entry)

    def _changed(self) -> None:
        if not self._watchers:
            return
        stats = self.statistics()
        for entry in list(self._watchers):
            if entry[0](stats):
                self._watchers.remove(entry)
                entry[1].set()

    def _gauges(self) -> GaugeReading:
        return GaugeReading(
            running=dict(self._running),
            waiting=dict(self._waiting),
            cache_usage=self._slots.running / self._slots.capacity,
        )

    # -- serving ---------------------------------------------------------------------------

    async def run(
        self, *, host: str = "127.0.0.1", port: int = 8000, task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve over HTTP until cancelled; reports ``http://host:port`` through ``task_status``.

        Start it with ``url = await task_group.start(functools.partial(server.run, port=0))``
        to get an ephemeral port. On cancellation it stops listening, lets requests in
        progress finish for up to a second (hung ones end at once) and closes.

        Args:
            host: the address to bind.
            port: the TCP port; 0 picks a free one.
            task_status: receives the server's URL once it accepts connections.

        Raises:
            ConfigError: not running on asyncio (aiohttp needs it), the server already ran,
                or the address cannot be bound.
        """
        if sniffio.current_async_library() != "asyncio":
            raise ConfigError("the simulated server runs on aiohttp, which needs anyio's asyncio backend (or uvloop)")
        if self._url is not None or self._stopping.is_set():
            raise ConfigError("this MockLLMServer already ran; create a new one")
        runner = web.AppRunner(
            self._app,
            handle_signals=False,
            # A client that gives up (a timeout, a hang fault) cancels its request, which
            # frees its slot, as vLLM aborts requests whose connection closed.
            handler_cancellation=True,
            access_log=None,
            shutdown_timeout=_SHUTDOWN_GRACE_S,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, backlog=_BACKLOG)
            try:
                await site.start()
            except OSError as exc:
                raise ConfigError(
                    f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose a free port (0 picks one)"
                ) from exc
            bound_host, bound_port = runner.addresses[0][:2]
            shown = f"[{bound_host}]" if ":" in bound_host else bound_host
            self._url = f"http://{shown}:{bound_port}"
            log.info(
                "mockllm_listening",
                url=self._url,
                models=self._models,
                latency=msgspec.to_builtins(self._latency),
                faults=msgspec.to_builtins(self._fault_rates),
            )
            task_status.started(self._url)
            await anyio.sleep_forever()
        finally:
            self._stopping.set()
            with anyio.CancelScope(shield=True):
                await runner.cleanup()
            log.info("mockllm_stopped", **msgspec.to_builtins(self.statistics()))

    # -- handlers --------------------------------------------------------------------------

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def _list_models(self, request: web.Request) -> web.Response:
        return _json(models_body(self._models, created=self._created))

    async def _scrape(self, request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(self.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def _stats(self, request: web.Request) -> web.Response:
        return _json(msgspec.json.encode(self.statistics()))

    async def _pause(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = msgspec.json.decode(raw, type=_PauseBody) if raw.strip() else _PauseBody()
            self.pause(retry_after_s=body.retry_after_s)
        except (msgspec.DecodeError, ConfigError) as exc:
            return _error(RequestRejected(f'bad pause request: {exc}; send {{"retry_after_s": <seconds>}} or nothing'))
        return await self._stats(request)

    async def _resume(self, request: web.Request) -> web.Response:
        self.resume()
        return await self._stats(request)

    async def _queue_faults(self, request: web.Request) -> web.Response:
        try:
            body = msgspec.json.decode(await request.read(), type=_FaultsBody)
        except msgspec.DecodeError as exc:
            known = ", ".join(f.value for f in Fault)
            return _error(
                RequestRejected(
                    f'bad faults request: {exc}; send {{"faults": [...]}} with values among {known} or null'
                )
            )
        self.inject(*body.faults)
        return await self._stats(request)

    def _next_fault(self, header: str | None) -> Fault | None:
        """The request's fault: the header's if it names one, else the schedule's.

        Every accepted request draws from the schedule, forced or not, so a forced fault does
        not shift the faults of the requests after it.
        """
        forced: Fault | None = None
        if header is not None and header != "none":
            try:
                forced = Fault(header)
            except ValueError:
                known = ", ".join(f.value for f in Fault)
                raise RequestRejected(f"{FAULT_HEADER} {header!r} is not a fault; use one of {known} or none") from None
        drawn = self._schedule.next()
        return drawn if header is None else forced

    async def _chat(self, request: web.Request) -> web.Response:
        self._counts["requests"] += 1
        if self._paused:
            self._counts["paused_answers"] += 1
            return _retry_later(
                503, "the server is paused (a weight update?); retry after Retry-After", self._pause_retry_after_s
            )
        try:
            chat, options = decode_chat_request(await request.read(), default_model=self._models[0], tools=self._tools)
            model = chat.model or self._models[0]
            responder = self._responders.get(model)
            if responder is None:
                raise RequestRejected(
                    f"The model `{model}` does not exist; this server serves {', '.join(self._models)}",
                    status=404,
                    kind="NotFoundError",
                    param="model",
                )
            fault = self._next_fault(request.headers.get(FAULT_HEADER))
        except RequestRejected as exc:
            self._counts["rejected"] += 1
            self._changed()
            return _error(exc)
        series = self._metrics.series[model]
        index = self._counts["accepted"]
        self._counts["accepted"] += 1
        if fault is not None:
            self._faults[fault.value] = self._faults.get(fault.value, 0) + 1
            series.faults[fault].inc()
        if fault is Fault.ERROR_500:
            self._changed()
            return _json(
                error_body("injected fault: internal server error", status=500, kind="InternalServerError"), 500
            )
        if fault is Fault.ERROR_503 or fault is Fault.ERROR_429:
            self._changed()
            status = 503 if fault is Fault.ERROR_503 else 429
            return _retry_later(status, f"injected fault: HTTP {status}", self._fault_rates.retry_after_s)
        if fault is Fault.HANG:
            return await self._hang()

        return await self._generate(chat, options, responder, model, series, fault, index)

    async def _generate(
        self,
        chat: ChatRequest,
        options: ChatOptions,
        responder: Responder,
        model: str,
        series: ModelSeries,
        fault: Fault | None,
        index: int,
    ) -> web.Response:
        """Admission, the reply, the time it takes, then the answer and its metrics."""
        started = time.monotonic()
        if not self._slots.try_acquire():
            await self._wait_for_slot(model, series)
        self._running[model] += 1
        self._n_running += 1
        self._peak_running = max(self._peak_running, self._n_running)
        self._changed()
        admitted = time.monotonic()
        try:
            try:
                reply = await responder.respond(chat)
            except RequestRejected as exc:  # the responder refuses the request itself: the client's mistake
                self._counts["rejected"] += 1
                return _error(exc)
            except Exception as exc:  # a responder bug must cost one request, not the server
                self._counts["responder_errors"] += 1
                log.exception("mockllm_responder_failed", model=model)
                message = f"responder for model {model!r} failed: {type(exc).__name__}: {exc}"
                return _json(error_body(message, status=500, kind="InternalServerError"), 500)
            out = _Output.of(reply, chat, fault)
            if self._latency.ttft_s > 0.0:
                await anyio.sleep(self._latency.ttft_s)
            first_token = time.monotonic()
            decode_s = self._latency.decode_s(out.tokens, self._slots.running)
            if decode_s > 0.0:
                await anyio.sleep(decode_s)
            done = time.monotonic()
        except anyio.get_cancelled_exc_class():
            self._counts["aborted"] += 1
            series.success["abort"].inc()
            raise
        finally:
            self._running[model] -= 1
            self._n_running -= 1
            self._slots.release()
            self._changed()

        prompt = prompt_text(chat.messages, options.tools_json)
        prompt_tokens = count_tokens(prompt)
        body = chat_completion_body(
            response_id=f"chatcmpl-mock-{self._seed}-{index}",
            created=int(self._clock()),
            model=model,
            content=out.content,
            tool_calls=out.calls,
            finish_reason=out.finish,
            prompt_tokens=prompt_tokens,
            completion_tokens=out.tokens,
            logprobs=(
                logprobs_content(out.text, top_logprobs=options.top_logprobs, as_token_ids=options.tokens_as_ids)
                if options.logprobs
                else None
            ),
            token_ids=token_ids(out.text, completion=True) if options.return_token_ids else None,
            prompt_token_ids=token_ids(prompt) if options.return_token_ids else None,
            empty_choices=fault is Fault.EMPTY_CHOICES,
        )
        if fault is Fault.MALFORMED_JSON:
            body = body[: len(body) // 2]

        series.prompt_tokens.inc(prompt_tokens)
        series.generation_tokens.inc(out.tokens)
        series.success["length" if out.finish == "length" else "stop"].inc()
        series.queue.observe(admitted - started)
        series.ttft.observe(first_token - started)
        series.e2e.observe(done - started)
        if out.tokens > 1:
            series.tpot.observe((done - first_token) / (out.tokens - 1))
        self._prompt_tokens += prompt_tokens
        self._completion_tokens += out.tokens
        self._counts["completed"] += 1
        self._changed()
        return _json(body)

    async def _wait_for_slot(self, model: str, series: ModelSeries) -> None:
        self._waiting[model] += 1
        self._n_waiting += 1
        self._peak_waiting = max(self._peak_waiting, self._n_waiting)
        self._changed()
        try:
            await self._slots.acquire()
        except anyio.get_cancelled_exc_class():
            self._waiting[model] -= 1
            self._n_waiting -= 1
            self._counts["aborted"] += 1
            series.success["abort"].inc()
            self._changed()
            raise
        self._waiting[model] -= 1
        self._n_waiting -= 1

    async def _hang(self) -> web.Response:
        self._counts["hanging"] += 1
        self._changed()
        try:
            await self._stopping.wait()
        finally:
            self._counts["hanging"] -= 1
            self._changed()
        return _json(error_body("the server is stopping", status=503, kind="ServiceUnavailableError"), 503)
