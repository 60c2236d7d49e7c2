"""smoke/models.py against TGI's OpenAPI description and recorded responses (reference data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError
from tgi_infra.smoke import models

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference" / "tgi"
OPENAPI = REFERENCE / "openapi.json"
SNAPSHOTS = REFERENCE / "snapshots"


def _schemas() -> dict:
    return json.loads(OPENAPI.read_text())["components"]["schemas"]


def _required_fields(model: type[BaseModel]) -> set[str]:
    return {name for name, f in model.model_fields.items() if f.is_required()}


@pytest.mark.parametrize("model", list(models.OPENAPI_SCHEMAS), ids=lambda m: m.__name__)
def test_model_matches_openapi_schema(model: type[BaseModel]) -> None:
    schema_name, additions = models.OPENAPI_SCHEMAS[model]
    schema = _schemas()[schema_name]
    props = set(schema.get("properties", {}))
    required = set(schema.get("required", []))
    fields = set(model.model_fields)
    assert fields - additions == props, (
        f"{model.__name__} fields vs {schema_name} properties: "
        f"missing {sorted(props - fields)}, unknown {sorted(fields - additions - props)}"
    )
    assert _required_fields(model) == required, (
        f"{model.__name__} required {sorted(_required_fields(model))} != "
        f"{schema_name} required {sorted(required)}"
    )


def test_every_mapped_schema_exists() -> None:
    names = {name for name, _ in models.OPENAPI_SCHEMAS.values()}
    assert names <= set(_schemas())


def _snapshot(name: str):
    return json.loads((SNAPSHOTS / name).read_text())


def test_generate_snapshots_parse() -> None:
    for name in (
        "test_flash_llama__test_flash_llama_simple.json",
        "test_flash_llama__test_flash_llama_all_params.json",
    ):
        out = models.GenerateResponse.model_validate(_snapshot(name))
        assert out.generated_text
        assert out.details is not None and out.details.tokens
        assert out.details.generated_tokens == len(out.details.tokens)


def test_chat_snapshot_parses() -> None:
    chat = models.ChatCompletion.model_validate(
        _snapshot("test_chat_llama__test_flash_llama_simple.json")
    )
    assert chat.choices[0].message.content
    assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens


@pytest.mark.parametrize(
    "name",
    [
        "test_completion_prompts__test_chat_openai_usage.json",
        "test_completion_prompts__test_flash_llama_completion_stream_usage.json",
    ],
)
def test_chat_chunk_snapshots_parse(name: str) -> None:
    chunks = [models.ChatCompletionChunk.model_validate(c) for c in _snapshot(name)]
    assert chunks[-1].usage is not None  # stream_options include_usage: last chunk, no choices
    assert "".join(c.choices[0].delta.content for c in chunks if c.choices)


def test_models_reject_missing_required_fields() -> None:
    with pytest.raises(ValidationError):
        models.GenerateResponse.model_validate({"details": None})
    with pytest.raises(ValidationError):
        models.ErrorResponse.model_validate({"error": "x"})
    with pytest.raises(ValidationError):
        models.Info.model_validate_json('{"model_id": "m"')  # malformed JSON
