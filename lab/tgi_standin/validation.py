"""Request validation with TGI's messages (router/src/validation.rs, infer/mod.rs).

``ValidationError`` text is the bare validation.rs message; the HTTP layer prefixes it with
``Input validation error: `` as ``InferError::ValidationError`` does, error_type ``validation``.
``BodyError`` mimics axum's ``Json`` extractor rejections (plain-text body, 400/415/422).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import tokenizer
from .generation import GenParams


class ValidationError(Exception):
    pass


class BodyError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


@dataclass
class Limits:
    max_best_of: int
    max_stop_sequences: int
    max_top_n_tokens: int
    max_input_tokens: int
    max_total_tokens: int
    max_client_batch_size: int


_TYPES = {
    "best_of": (int,),
    "temperature": (int, float),
    "repetition_penalty": (int, float),
    "frequency_penalty": (int, float),
    "top_k": (int,),
    "top_p": (int, float),
    "typical_p": (int, float),
    "do_sample": (bool,),
    "max_new_tokens": (int,),
    "return_full_text": (bool,),
    "stop": (list,),
    "truncate": (int,),
    "watermark": (bool,),
    "details": (bool,),
    "decoder_input_details": (bool,),
    "seed": (int,),
    "top_n_tokens": (int,),
}
_EXPECTED = {int: "u32", float: "f32", bool: "a boolean", list: "a sequence"}


def check_types(params: dict, prefix: str = "parameters.") -> None:
    """serde-like type errors -> axum 422 plain-text rejection."""
    for name, types in _TYPES.items():
        value = params.get(name)
        if value is None:
            continue
        bad = not isinstance(value, types) or (bool not in types and isinstance(value, bool))
        if int in types and float not in types and isinstance(value, int) and value < 0:
            bad = True
        if bad:
            raise BodyError(
                422,
                "Failed to deserialize the JSON body into the target type: "
                f"{prefix}{name}: invalid type: {type(value).__name__} {value!r}, "
                f"expected {_EXPECTED[types[-1] if float in types else types[0]]}",
            )


def require_object(body: object, required: str) -> dict:
    if not isinstance(body, dict):
        raise BodyError(
            422,
            "Failed to deserialize the JSON body into the target type: invalid type: "
            f"expected struct, found {type(body).__name__}",
        )
    if required not in body:
        raise BodyError(
            422,
            "Failed to deserialize the JSON body into the target type: "
            f"missing field `{required}` at line 1 column 1",
        )
    return body


@dataclass
class Validated:
    inputs: str
    input_length: int
    params: GenParams
    best_of: int
    details: bool
    decoder_input_details: bool
    return_full_text: bool


def is_sampling(p: dict) -> bool:
    return bool(
        p.get("do_sample")
        or p.get("temperature") is not None
        or p.get("top_k") is not None
        or p.get("top_p") is not None
        or p.get("typical_p") is not None
    )


def validate(inputs: str, p: dict, limits: Limits) -> Validated:
    """validation.rs ``Validation::validate`` in its order of checks."""
    best_of = p.get("best_of")
    sampling = is_sampling(p)
    if best_of is not None:
        if best_of == 0 or best_of > limits.max_best_of:
            raise ValidationError(
                f"`best_of` must be > 0 and <= {limits.max_best_of}. Given: {best_of}"
            )
        if best_of > 1 and p.get("seed") is not None:
            raise ValidationError("`seed` must not be set when `best_of` > 1")
        if best_of > 1 and not sampling:
            raise ValidationError("you must use sampling when `best_of` is > 1")
    temperature = p.get("temperature")
    if temperature is not None and temperature <= 0.0:
        raise ValidationError("`temperature` must be strictly positive")
    rep = p.get("repetition_penalty")
    if rep is not None and rep <= 0.0:
        raise ValidationError("`repetition_penalty` must be strictly positive")
    freq = p.get("frequency_penalty")
    if freq is not None and not -2.0 <= freq <= 2.0:
        raise ValidationError("`frequency_penalty` must be >= -2.0 and <= 2.0")
    top_p = p.get("top_p")
    if top_p is not None and (top_p <= 0.0 or top_p >= 1.0):
        raise ValidationError("`top_p` must be > 0.0 and < 1.0")
    typical_p = p.get("typical_p")
    if typical_p is not None and (typical_p <= 0.0 or typical_p >= 1.0):
        raise ValidationError("`typical_p` must be > 0.0 and < 1.0")
    top_k = p.get("top_k")
    if top_k is not None and top_k <= 0:
        raise ValidationError("`top_k` must be strictly positive")
    max_new_tokens = p.get("max_new_tokens")
    if max_new_tokens == 0:
        raise ValidationError("`max_new_tokens` must be strictly positive")
    stop = list(p.get("stop") or [])
    if len(stop) > limits.max_stop_sequences:
        raise ValidationError(
            f"`stop` supports up to {limits.max_stop_sequences} stop sequences. Given: {len(stop)}"
        )
    top_n = p.get("top_n_tokens") or 0
    if top_n > limits.max_top_n_tokens:
        raise ValidationError(
            f"`top_n_tokens` must be >= 0 and <= {limits.max_top_n_tokens}. Given: {top_n}"
        )
    if inputs == "":
        raise ValidationError("`inputs` cannot be empty")
    truncate = p.get("truncate")
    if truncate is not None and (truncate == 0 or truncate > limits.max_input_tokens):
        raise ValidationError(
            "`truncate` must be strictly positive and less than "
            f"{limits.max_input_tokens}. Given: {truncate}"
        )
    input_length = tokenizer.count(inputs)
    if truncate is not None:
        input_length = min(input_length, truncate)
    if max_new_tokens is None:
        max_new_tokens = max(limits.max_total_tokens - input_length, 1)
    if input_length > limits.max_input_tokens:
        raise ValidationError(
            f"`inputs` must have less than {limits.max_input_tokens} tokens. Given: {input_length}"
        )
    if input_length + max_new_tokens > limits.max_total_tokens:
        raise ValidationError(
            f"`inputs` tokens + `max_new_tokens` must be <= {limits.max_total_tokens}. "
            f"Given: {input_length} `inputs` tokens and {max_new_tokens} `max_new_tokens`"
        )
    params = GenParams(
        max_new_tokens=max_new_tokens,
        stop=stop,
        sampling=sampling,
        seed=p.get("seed"),
        top_n_tokens=top_n,
    )
    return Validated(
        inputs=inputs,
        input_length=input_length,
        params=params,
        best_of=best_of or 1,
        details=bool(p.get("details")),
        decoder_input_details=bool(p.get("decoder_input_details")),
        return_full_text=bool(p.get("return_full_text")),
    )
