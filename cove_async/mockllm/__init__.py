"""The simulated inference server: OpenAI-compatible chat completions over real HTTP.

It stands in for vLLM or SGLang in tests and benchmarks: the same request and response shapes
(tool calls, usage, vLLM's token ids and logprobs), a latency model of continuous batching
(time to first token, time per output token, slowdown with the batch, a cap on running requests
with the rest waiting), fault injection at seeded rates, a pause switch for weight-update
drills, and ``/metrics`` under vLLM's metric names. Replies come from pluggable
:class:`Responder` objects routed by model name.

Layering inside: ``_config`` (settings) and ``_tokens`` (the stand-in tokenizer) → ``_responder``
(the reply seam) → ``_wire``, ``_faults``, ``_slots``, ``_metrics`` → ``_server`` (the HTTP
application) → ``_serve`` (running it).
"""

from cove_async.mockllm._config import Fault, FaultRates, LatencyModel
from cove_async.mockllm._faults import FaultSchedule
from cove_async.mockllm._responder import DefaultResponder, Reply, Responder, dummy_arguments
from cove_async.mockllm._scripted import (
    SCRIPTED_AGENT_MODEL,
    SCRIPTED_USER_MODEL,
    ScriptedAgentResponder,
    ScriptedUserResponder,
    player_seed,
    scripted_responders,
)
from cove_async.mockllm._serve import running_server, serve
from cove_async.mockllm._server import DEFAULT_MODEL, FAULT_HEADER, MockLLMServer, ServerStatistics
from cove_async.mockllm._tokens import CHARS_PER_TOKEN

__all__ = (
    "CHARS_PER_TOKEN",
    "DEFAULT_MODEL",
    "FAULT_HEADER",
    "DefaultResponder",
    "Fault",
    "FaultRates",
    "FaultSchedule",
    "LatencyModel",
    "MockLLMServer",
    "Reply",
    "Responder",
    "SCRIPTED_AGENT_MODEL",
    "SCRIPTED_USER_MODEL",
    "ScriptedAgentResponder",
    "ScriptedUserResponder",
    "ServerStatistics",
    "dummy_arguments",
    "player_seed",
    "scripted_responders",
    "running_server",
    "serve",
)
