"""The seed notebook's prompts and generation config, sent by every generation check."""

from __future__ import annotations

from typing import Any

PROMPT = "What is deep learning?"
# The seed's generation config, sent on every generation check.
SEED_CONFIG: dict[str, Any] = {
    "do_sample": True,
    "temperature": 0.01,
    "top_k": 10,
    "top_p": 0.8,
    "max_new_tokens": 64,
    "repetition_penalty": 1.03,
    "seed": 42,
}
# The seed's /generate parameters.
GENERATE_PARAMETERS: dict[str, Any] = {**SEED_CONFIG, "details": True}
CHAT_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": PROMPT},
]
CHAT_MAX_TOKENS = SEED_CONFIG["max_new_tokens"]
CHAT_SEED = SEED_CONFIG["seed"]
# The seed config mapped to the chat API's fields (TGI's ChatRequest has no top_k,
# repetition_penalty or do_sample: a temperature > 0 samples).
CHAT_PARAMETERS: dict[str, Any] = {
    "max_tokens": CHAT_MAX_TOKENS,
    "seed": CHAT_SEED,
    "temperature": SEED_CONFIG["temperature"],
    "top_p": SEED_CONFIG["top_p"],
}
# The seed's French question.
FRENCH_NAME_QUESTION = "Comment tu t'appelle ?"
# (system prompt, question, the fact the answer must state): the answer passes when it states
# the fact in any wording, restating the system prompt included (smoke/facts.py judges).
SEMANTIC_CASES = {
    "semantic_name": ("Your name is Jean-baptiste", FRENCH_NAME_QUESTION, "Jean-baptiste"),
    "semantic_year": (
        "The best year ever is 1986",
        "What is the best year ever? Answer with a short sentence.",
        "1986",
    ),
}
