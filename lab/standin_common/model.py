"""The deterministic "model" shared with the TGI stand-in, behind OpenAI-style parameters.

Generation itself is lab/tgi_standin/generation.py (pure function of model, prompt and
parameters; context QA on the seed's questions). This module turns an OpenAI request's
sampling fields into its ``GenParams`` and checks them the way vLLM's ``SamplingParams`` and
SGLang's ``SamplingParams.verify`` do (messages as in their source; see each CONTRACT.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..tgi_standin import generation, tokenizer

Generation = generation.Generation


class RequestError(Exception):
    """A bad request (400) with the engine's message; ``param`` names the field when known."""

    def __init__(self, message: str, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.param, self.status = message, param, status


def _number(body: dict, key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"{key}: Input should be a valid number", key)
    return value


def _int(body: dict, key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"{key}: Input should be a valid integer", key)
    return value


@dataclass
class Sampling:
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    stop: list[str]
    seed: int | None
    n: int


def sampling_from(body: dict, max_key: str = "max_tokens") -> Sampling:
    """Read and verify the sampling fields (vLLM vllm/sampling_params.py ``_verify_args``;
    SGLang python/sglang/srt/sampling/sampling_params.py ``verify``: same texts)."""
    temperature = _number(body, "temperature")
    top_p = _number(body, "top_p")
    max_tokens = _int(body, max_key)
    if max_key == "max_tokens" and max_tokens is None:
        max_tokens = _int(body, "max_completion_tokens")
    seed = _int(body, "seed")
    n = _int(body, "n")
    n = 1 if n is None else n
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is None:
        stop = []
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise RequestError("stop: Input should be a valid string or list of strings", "stop")
    if n < 1:
        raise RequestError(f"n must be at least 1, got {n}.", "n")
    if temperature is not None and temperature < 0:
        raise RequestError(f"temperature must be non-negative, got {temperature}.", "temperature")
    if top_p is not None and not 0 < top_p <= 1:
        raise RequestError(f"top_p must be in (0, 1], got {top_p}.", "top_p")
    if max_tokens is not None and max_tokens < 1:
        raise RequestError(f"max_tokens must be at least 1, got {max_tokens}.", max_key)
    frequency_penalty = _number(body, "frequency_penalty")
    if frequency_penalty is not None and not -2 <= frequency_penalty <= 2:
        raise RequestError(
            f"frequency_penalty must be in [-2, 2], got {frequency_penalty}.",
            "frequency_penalty",
        )
    return Sampling(temperature, top_p, max_tokens, stop, seed, n)


def prompt_tokens(text: str) -> int:
    return tokenizer.count(text)


def run(
    model_id: str,
    prompt: str,
    sampling: Sampling,
    max_model_len: int,
    *,
    qa_source: str | None = None,
    leading_space: bool = True,
    answer: str | None = None,
) -> tuple[Generation, int, str]:
    """Generate. Returns (generation, prompt tokens, text without the stop string).

    Raises RequestError when prompt + max_tokens exceed the context (vLLM's
    ``_validate_input`` in vllm/entrypoints/openai/serving_engine.py)."""
    n_prompt = prompt_tokens(prompt)
    if n_prompt >= max_model_len:
        raise RequestError(
            f"This model's maximum context length is {max_model_len} tokens. However, your "
            f"request has {n_prompt} input tokens. Please reduce the length of the input "
            "messages."
        )
    room = max_model_len - n_prompt
    max_tokens = room if sampling.max_tokens is None else sampling.max_tokens
    if max_tokens > room:
        raise RequestError(
            f"'max_tokens' or 'max_completion_tokens' is too large: {max_tokens}. This model's "
            f"maximum context length is {max_model_len} tokens and your request has "
            f"{n_prompt} input tokens ({max_tokens} > {max_model_len} - {n_prompt}).",
            "max_tokens",
        )
    sampled = sampling.temperature is None or sampling.temperature > 0
    params = generation.GenParams(
        max_new_tokens=max_tokens,
        stop=sampling.stop,
        sampling=sampled and sampling.seed is not None,
        seed=sampling.seed,
        leading_space=leading_space,
    )
    gen = generation.generate(model_id, prompt, params, qa_source, answer=answer)
    text = gen.text
    if gen.finish_reason == "stop_sequence":  # vLLM/SGLang drop the stop string by default
        for stop in sampling.stop:
            if stop and text.endswith(stop):
                text = text[: -len(stop)]
                break
    return gen, n_prompt, text


def finish_reason(gen: Generation) -> str:
    """OpenAI finish_reason: ``length`` when cut by max_tokens, ``abort`` when aborted (fault
    ``abort``), else ``stop``."""
    if gen.finish_reason in ("length", ABORT):
        return gen.finish_reason
    return "stop"


ABORT = "abort"


def aborted(gen: Generation) -> tuple[Generation, str]:
    """Fault ``abort``: the request aborted by the scheduler half-way (SGLang
    srt/managers/scheduler.py ``abort_request``: a running request gets ``FINISH_ABORT()`` and
    ends after its next step). The tokens so far, finish reason ``abort``; (generation, text)."""
    kept = gen.tokens[: max(len(gen.tokens) // 2, 1)]
    text = "".join(visible_pieces_of(kept))
    return Generation(kept, gen.top_tokens[: len(kept)], text, ABORT, gen.seed), text


def message_text(message: dict) -> str:
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    raise RequestError("messages: content should be a string or a list of parts", "messages")


def chat_prompt(messages: object) -> tuple[str, str]:
    """A ChatML template (Qwen's, the model vLLM serves by default). Returns (prompt, plain
    text of the messages for context QA)."""
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages: Field required (a non-empty list)", "messages")
    prompt, plain = "", []
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise RequestError("messages: each message needs a string 'role'", "messages")
        text = message_text(message)
        prompt += f"<|im_start|>{message['role']}\n{text}<|im_end|>\n"
        plain.append(text)
    return prompt + "<|im_start|>assistant\n", "\n".join(plain)


def token_ids(gen: Generation) -> list[int]:
    return [t["id"] for t in gen.tokens]


def visible_pieces(gen: Generation) -> list[str]:
    return visible_pieces_of(gen.tokens)


def visible_pieces_of(tokens: list[dict]) -> list[str]:
    return ["" if t["special"] else t["text"] for t in tokens]
