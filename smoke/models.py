"""Pydantic models of TGI's HTTP responses (router v3.3.x).

Each model mirrors a ``components/schemas`` entry of TGI's OpenAPI description
(``docs/openapi.json`` in huggingface/text-generation-inference); ``OPENAPI_SCHEMAS`` maps
model -> schema name, and ``tests/unit/test_smoke_models.py`` checks property names and
required fields against the reference file. Extra fields are ignored (the live server sends
``object`` on chat payloads, which the OpenAPI file omits), missing required fields fail.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# OpenAI finish_reason of a request the engine aborted before it finished: SGLang sends it on
# its OpenAI routes for an abort without an HTTP status (srt/entrypoints/openai/
# serving_{chat,completions}.py: a normal answer, cut short), vLLM lists it among its finish
# reasons (vllm/v1/engine/__init__.py FINISH_REASON_STRINGS). Never a healthy answer.
ABORT_FINISH_REASON = "abort"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Token(_Model):
    id: int
    text: str
    logprob: float | None
    special: bool


class PrefillToken(_Model):
    id: int
    text: str
    logprob: float | None


class BestOfSequence(_Model):
    generated_text: str
    finish_reason: str
    generated_tokens: int
    prefill: list[PrefillToken]
    tokens: list[Token]
    seed: int | None = None
    top_tokens: list[list[Token]] | None = None


class Details(_Model):
    finish_reason: str
    generated_tokens: int
    prefill: list[PrefillToken]
    tokens: list[Token]
    seed: int | None = None
    best_of_sequences: list[BestOfSequence] | None = None
    top_tokens: list[list[Token]] | None = None


class GenerateResponse(_Model):
    generated_text: str
    details: Details | None = None


class StreamDetails(_Model):
    finish_reason: str
    generated_tokens: int
    input_length: int
    seed: int | None = None


class StreamResponse(_Model):
    """One ``data:`` event of ``/generate_stream``; the last one carries generated_text."""

    index: int
    token: Token
    generated_text: str | None = None
    details: StreamDetails | None = None
    top_tokens: list[Token] | None = None


class Info(_Model):
    model_id: str
    max_concurrent_requests: int
    max_best_of: int
    max_stop_sequences: int
    max_input_tokens: int
    max_total_tokens: int
    validation_workers: int
    max_client_batch_size: int
    router: str
    version: str
    model_sha: str | None = None
    model_pipeline_tag: str | None = None
    sha: str | None = None
    docker_label: str | None = None


class ErrorResponse(_Model):
    error: str
    error_type: str


class Usage(_Model):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class TextMessage(_Model):
    role: str
    content: str
    tool_call_id: str | None = None


class ChatCompletionComplete(_Model):
    index: int
    message: TextMessage
    finish_reason: str
    logprobs: dict | None = None


class ChatCompletion(_Model):
    id: str
    created: int
    model: str
    system_fingerprint: str
    choices: list[ChatCompletionComplete]
    usage: Usage
    object: str | None = None  # sent by the server, missing from the OpenAPI file


class ChatCompletionChoice(_Model):
    index: int
    delta: TextMessage
    finish_reason: str | None = None
    logprobs: dict | None = None


class ChatCompletionChunk(_Model):
    id: str
    created: int
    model: str
    system_fingerprint: str
    choices: list[ChatCompletionChoice]
    usage: Usage | None = None
    object: str | None = None  # sent by the server, missing from the OpenAPI file


# model -> (OpenAPI schema name, fields we add that the OpenAPI file lacks)
OPENAPI_SCHEMAS: dict[type[BaseModel], tuple[str, frozenset[str]]] = {
    Token: ("Token", frozenset()),
    PrefillToken: ("PrefillToken", frozenset()),
    BestOfSequence: ("BestOfSequence", frozenset()),
    Details: ("Details", frozenset()),
    GenerateResponse: ("GenerateResponse", frozenset()),
    StreamDetails: ("StreamDetails", frozenset()),
    StreamResponse: ("StreamResponse", frozenset()),
    Info: ("Info", frozenset()),
    ErrorResponse: ("ErrorResponse", frozenset()),
    Usage: ("Usage", frozenset()),
    TextMessage: ("TextMessage", frozenset()),
    ChatCompletionComplete: ("ChatCompletionComplete", frozenset()),
    ChatCompletion: ("ChatCompletion", frozenset({"object"})),
    ChatCompletionChoice: ("ChatCompletionChoice", frozenset()),
    ChatCompletionChunk: ("ChatCompletionChunk", frozenset({"object"})),
}


# --- vLLM / SGLang OpenAI-compatible payloads (tests/data/reference/{vllm,sglang}/openapi.json)
# Their fields that TGI requires (system_fingerprint, a role in every delta) are optional here.


class OpenAIMessage(_Model):
    role: str
    content: str | None = None


class OpenAIChatChoice(_Model):
    index: int
    message: OpenAIMessage
    finish_reason: str | None = None


class OpenAIChatCompletion(_Model):
    id: str
    created: int
    model: str
    choices: list[OpenAIChatChoice]
    usage: Usage
    object: str | None = None


class OpenAIDelta(_Model):
    role: str | None = None
    content: str | None = None


class OpenAIChunkChoice(_Model):
    index: int
    delta: OpenAIDelta
    finish_reason: str | None = None


class OpenAIChatChunk(_Model):
    id: str
    created: int
    model: str
    choices: list[OpenAIChunkChoice]
    usage: Usage | None = None
    object: str | None = None


class CompletionChoice(_Model):
    index: int
    text: str
    finish_reason: str | None = None


class Completion(_Model):
    """/v1/completions answer (and stream event) of all three engines."""

    id: str
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


class ModelCard(_Model):
    id: str
    object: str | None = None


class ModelList(_Model):
    object: str
    data: list[ModelCard]


class VllmErrorInfo(_Model):
    message: str
    type: str
    param: str | None = None
    code: int


class VllmError(_Model):
    """vLLM's ErrorResponse: ``{"error": {"message", "type", "param", "code"}}``."""

    error: VllmErrorInfo


class SglangError(_Model):
    """SGLang's ErrorResponse (srt/entrypoints/openai/protocol.py): ``{"object": "error",
    "message", "type", "param", "code"}``."""

    object: str
    message: str
    type: str
    param: str | None = None
    code: int


class SglangMetaInfo(_Model):
    prompt_tokens: int
    completion_tokens: int
    finish_reason: dict | None = None


class SglangGenerate(_Model):
    """SGLang's native /generate answer (and stream event)."""

    text: str
    meta_info: SglangMetaInfo
