"""A tiny deterministic word-piece tokenizer (stand-in for the model's tokenizer.json).

A token is a word (with its leading spaces), a single punctuation mark, or a newline run.
Ids are a stable hash of the piece text into the vocabulary range; 1 = ``<s>``, 2 = ``</s>``.
"""

from __future__ import annotations

import hashlib
import re

BOS_ID, EOS_ID = 1, 2
BOS_TEXT, EOS_TEXT = "<s>", "</s>"
VOCAB_SIZE = 32000
_PIECE = re.compile(r"\n+| *[A-Za-z0-9\u00c0-\uffff'-]+| *[^\sA-Za-z0-9]|[ \t]+")


def pieces(text: str) -> list[str]:
    return _PIECE.findall(text)


def spans(text: str) -> list[tuple[str, int, int]]:
    """(piece, start, stop) character offsets, like ``/tokenize`` reports them."""
    return [(m.group(0), m.start(), m.end()) for m in _PIECE.finditer(text)]


def token_id(piece: str) -> int:
    digest = hashlib.blake2b(piece.encode(), digest_size=4).digest()
    return 3 + int.from_bytes(digest, "big") % (VOCAB_SIZE - 3)


def count(text: str) -> int:
    """Input length in tokens: ``<s>`` plus the pieces."""
    return 1 + len(pieces(text))
