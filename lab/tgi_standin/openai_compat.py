"""Chat template and OpenAI-shaped payloads (router/src/server.rs chat_completions/completions)."""

from __future__ import annotations

import time

from .generation import Generation
from .validation import BodyError


def finish_openai(reason: str) -> str:
    """``FinishReason::format(true)``: only end-of-sequence becomes "stop"."""
    return "stop" if reason == "eos_token" else reason


def message_text(message: dict) -> str:
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            chunk.get("text", "")
            for chunk in content
            if isinstance(chunk, dict) and chunk.get("type") == "text"
        )
    raise BodyError(
        422,
        "Failed to deserialize the JSON body into the target type: messages: "
        "data did not match any variant of untagged enum MessageContent",
    )


def apply_chat_template(messages: list) -> tuple[str, str]:
    """Zephyr-style template. Returns (templated prompt, plain text for context QA)."""
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages
    ):
        raise BodyError(
            422,
            "Failed to deserialize the JSON body into the target type: messages: "
            "missing field `role`",
        )
    prompt = ""
    plain = []
    for m in messages:
        text = message_text(m)
        prompt += f"<|{m['role']}|>\n{text}</s>\n"
        plain.append(text)
    prompt += "<|assistant|>\n"
    return prompt, "\n".join(plain)


def chat_logprobs(gen: Generation, upto: int | None = None) -> dict:
    tokens = gen.tokens if upto is None else gen.tokens[upto : upto + 1]
    tops = gen.top_tokens if upto is None else gen.top_tokens[upto : upto + 1]
    content = []
    for i, tok in enumerate(tokens):
        top = tops[i] if i < len(tops) else []
        content.append(
            {
                "token": tok["text"],
                "logprob": tok["logprob"],
                "top_logprobs": [{"token": t["text"], "logprob": t["logprob"]} for t in top],
            }
        )
    return {"content": content}


def chat_completion(
    model: str, fingerprint: str, gen: Generation, input_length: int, logprobs: bool
) -> dict:
    return {
        "object": "chat.completion",
        "id": "",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": gen.text},
                "logprobs": chat_logprobs(gen) if logprobs else None,
                "finish_reason": finish_openai(gen.finish_reason),
            }
        ],
        "usage": {
            "prompt_tokens": input_length,
            "completion_tokens": gen.generated_tokens,
            "total_tokens": input_length + gen.generated_tokens,
        },
    }


def chat_chunk(
    model: str,
    fingerprint: str,
    content: str,
    finish_reason: str | None,
    logprobs: dict | None,
) -> dict:
    return {
        "object": "chat.completion.chunk",
        "id": "",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": content},
                "logprobs": logprobs,
                "finish_reason": finish_reason,
            }
        ],
        "usage": None,
    }


def usage_chunk(model: str, fingerprint: str, prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "object": "chat.completion.chunk",
        "id": "",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": [],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def completion_chunk(model: str, fingerprint: str, index: int, text: str) -> dict:
    return {
        "object": "text_completion",
        "id": "",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": [{"index": index, "text": text, "logprobs": None, "finish_reason": ""}],
    }


def completion_final(
    model: str, fingerprint: str, choices: list[dict], prompt_tokens: int, completion_tokens: int
) -> dict:
    return {
        "object": "text_completion",
        "id": "",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
