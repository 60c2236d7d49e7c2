"""Deterministic "model": generated text is a pure function of (model_id, prompt, parameters).

Two behaviours:
- context QA: if the prompt holds a question (a sentence ending in ``?``) and a fact sentence
  ("X is Y", "X are Y", "X was Y") sharing a content word with it, the answer restates that
  fact, never verbatim: 2nd person turned into 1st ("Your name is Jean-baptiste" -> "My name
  is Jean-baptiste."), otherwise turned around ("The best year ever is 1986" -> "1986 is the
  best year ever."). French name questions ("Comment tu t'appelle ?") match a "name" fact;
- otherwise filler words drawn from a fixed word list by a hash of the inputs, 16..63 tokens,
  then the end-of-sequence token.
Sampling (``do_sample``/temperature/top_k/top_p/typical_p) makes the filler depend on the seed;
greedy decoding ignores the seed, like the real thing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from . import tokenizer

WORDS = (
    "the model of data is a system that can learn from examples and improve over time "
    "with more training on large text corpora using deep neural networks built from layers "
    "attention heads weights tokens embeddings gradients loss batches GPUs inference servers "
    "requests latency throughput memory cache shards kernels graphs prompts answers context"
).split()

_STOP_WORDS = set(
    (
        "a an the is are was were be been what which who whom whose when where why how "
        "do does did of in on at to for from by with and or not your my our their his her "
        "its you i me we they it this that these those ever please tell me say can could "
        "would should will about answer question"
    ).split()
)
# a few words that stand for a content word of the facts (the seed asks in French)
_SYNONYMS = {"appelle": "name", "appelles": "name", "t'appelle": "name", "t'appelles": "name"}
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_FACT = re.compile(r"\b(is|are|was|were)\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9\u00c0-\uffff'-]+")


def _h(*parts: object) -> int:
    data = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def _content_words(sentence: str) -> set[str]:
    words = {w.lower() for w in _WORD.findall(sentence) if w.lower() not in _STOP_WORDS}
    return {_SYNONYMS.get(w, w) for w in words}


def _first_person(fact: str) -> str:
    out = re.sub(r"\b[Yy]ou are\b", "I am", fact)
    out = re.sub(r"\bYour\b", "My", out)
    out = re.sub(r"\byour\b", "my", out)
    return out


def _restate(fact: str) -> str:
    """The fact in other words: 1st person, or "X is Y" turned into "Y is X"."""
    mine = _first_person(fact)
    if mine != fact:
        return mine
    match = _FACT.search(fact)
    subject, value = fact[: match.start()].strip(), fact[match.end() :].strip()
    if not subject or not value:
        return fact
    if subject.split()[0] in ("The", "A", "An"):
        subject = subject[0].lower() + subject[1:]
    return f"{value} {match.group(1).lower()} {subject}"


def context_answer(source: str) -> str | None:
    """Answer the last question in ``source`` by echoing the best-matching fact sentence."""
    sentences = [s.strip() for s in _SENTENCE_SPLIT.split(source) if s and s.strip()]
    questions = [s for s in sentences if s.endswith("?")]
    if not questions:
        return None
    wanted = _content_words(questions[-1])
    best, best_score = None, 0
    for sentence in sentences:
        if sentence.endswith("?") or not _FACT.search(sentence):
            continue
        score = len(wanted & _content_words(sentence))
        if score and score >= best_score:
            best, best_score = sentence, score
    if best is None:
        return None
    # Strip prompt decorations such as "Context:" / "System:" before the fact.
    best = re.sub(r"^[A-Za-z ]{1,20}:\s*", "", best) if ":" in best[:21] else best
    return _restate(best.rstrip(".!")) + "."


def filler_text(key: int, n_words: int) -> str:
    words = []
    for i in range(n_words):
        word = WORDS[_h(key, i) % len(WORDS)]
        if i == 0 or words[-1].endswith("."):
            word = word.capitalize()
        if i % 11 == 10 or i == n_words - 1:
            word += "."
        words.append(word)
    return " ".join(words)


@dataclass
class GenParams:
    max_new_tokens: int
    stop: list[str] = field(default_factory=list)
    sampling: bool = False
    seed: int | None = None
    top_n_tokens: int = 0
    leading_space: bool = True


@dataclass
class Generation:
    tokens: list[dict]
    top_tokens: list[list[dict]]
    text: str
    finish_reason: str  # "length" | "eos_token" | "stop_sequence"
    seed: int | None

    @property
    def generated_tokens(self) -> int:
        return len(self.tokens)


def _logprob(*parts: object) -> float:
    return -round((_h("lp", *parts) % 300000) / 100000.0, 5)


def _top(piece: str, tid: int, lp: float, n: int, pos: int) -> list[dict]:
    out = [{"id": tid, "text": piece, "logprob": lp, "special": False}]
    for k in range(1, n):
        alt = " " + WORDS[_h("alt", pos, k) % len(WORDS)]
        alt_lp = round(lp - 0.25 * k, 5)
        out.append(
            {"id": tokenizer.token_id(alt), "text": alt, "logprob": alt_lp, "special": False}
        )
    return out


def generate(
    model_id: str,
    prompt: str,
    params: GenParams,
    qa_source: str | None = None,
    answer: str | None = None,
) -> Generation:
    """Run the stand-in model on ``prompt`` (``qa_source``: text searched for context QA;
    ``answer``: the text to produce instead, for the ``echo_system`` fault)."""
    seed = params.seed
    if params.sampling and seed is None:
        seed = _h("seed", model_id, prompt) % (2**63)
    if answer is None:
        answer = context_answer(prompt if qa_source is None else qa_source)
    if answer is None:
        key = _h(model_id, prompt, seed if params.sampling else None)
        answer = filler_text(key, 16 + key % 48)
    if params.leading_space:
        answer = " " + answer
    tokens: list[dict] = []
    top_tokens: list[list[dict]] = []
    text = ""
    finish = "length"
    for pos, piece in enumerate(tokenizer.pieces(answer)):
        if len(tokens) >= params.max_new_tokens:
            break
        tid = tokenizer.token_id(piece)
        lp = _logprob(model_id, prompt, pos, piece)
        tokens.append({"id": tid, "text": piece, "logprob": lp, "special": False})
        if params.top_n_tokens:
            top_tokens.append(_top(piece, tid, lp, params.top_n_tokens, pos))
        text += piece
        if any(stop and text.endswith(stop) for stop in params.stop):
            finish = "stop_sequence"
            break
    else:
        if len(tokens) < params.max_new_tokens:
            eos = {
                "id": tokenizer.EOS_ID,
                "text": tokenizer.EOS_TEXT,
                "logprob": _logprob("eos", prompt),
                "special": True,
            }
            tokens.append(eos)
            if params.top_n_tokens:
                top_tokens.append([dict(eos)] + _top(" the", 3, -5.0, params.top_n_tokens, -1)[1:])
            finish = "eos_token"
    return Generation(tokens, top_tokens, text, finish, seed if params.sampling else None)


def prefill(prompt: str) -> list[dict]:
    """Decoder input details: ``<s>`` (logprob null) then one entry per prompt piece."""
    out = [{"id": tokenizer.BOS_ID, "text": tokenizer.BOS_TEXT, "logprob": None}]
    for pos, piece in enumerate(tokenizer.pieces(prompt)):
        out.append(
            {"id": tokenizer.token_id(piece), "text": piece, "logprob": _logprob("pf", pos, piece)}
        )
    return out
