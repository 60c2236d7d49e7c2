"""An argparse-like command-line parser driven by a flag dump of the real parser.

vLLM (``FlexibleArgumentParser``) and SGLang (``argparse.ArgumentParser``) both parse with
Python's argparse; the dumps in deploy/reference (``serve-args.json``,
``launch-server-args.json``) list every flag with ``flags``, ``dest``, ``default``, ``nargs``,
``type`` and ``choices``. This parser accepts exactly those flags and refuses the others the way
argparse does: ``usage: ...`` then ``<prog>: error: ...`` on stderr, exit status 2.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

SUPPRESS = "==SUPPRESS=="
_NEGATIVE = re.compile(r"^-\d+$|^-\d*\.\d+$")
_HUMAN = re.compile(r"^(\d+(?:\.\d+)?)([kKmMgGtT]?)$")
_HUMAN_MULT = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_HUMAN_MULT_BIN = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


class ArgError(Exception):
    """A usage error: the caller prints ``format()`` on stderr and exits 2."""

    def __init__(self, usage: str, prog: str, message: str) -> None:
        super().__init__(message)
        self.usage, self.prog, self.message = usage, prog, message

    def format(self) -> str:
        return f"usage: {self.usage}\n{self.prog}: error: {self.message}\n"


@dataclass
class Spec:
    """The flags of one parser, from a reference dump."""

    arguments: list[dict]
    by_flag: dict[str, dict] = field(default_factory=dict)
    positional: str | None = None

    @classmethod
    def load(cls, path: Path) -> Spec:
        data = json.loads(path.read_text())
        spec = cls(arguments=data["arguments"])
        for arg in spec.arguments:
            if "positional" in arg:
                spec.positional = arg["positional"]
                continue
            for flag in arg["flags"]:
                spec.by_flag[flag] = arg
        return spec

    def defaults(self) -> dict:
        out: dict = {}
        for arg in self.arguments:
            if "positional" in arg:
                out[arg["positional"]] = None
            elif arg["default"] != SUPPRESS:
                out[arg["dest"]] = arg["default"]
        return out


def _convert(kind: str | None, text: str, name: str) -> object:
    """argparse's ``type=`` conversions for the types the dumps name; others stay strings
    (vLLM's ``_optional_type``/``loads``/... and SGLang's ``json_list_type`` are checked later
    by the real server, which the stand-in does not mimic)."""
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"argument {name}: invalid int value: '{text}'") from None
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"argument {name}: invalid float value: '{text}'") from None
    if kind in ("human_readable_int", "human_readable_int_or_auto"):
        if kind.endswith("_or_auto") and text in ("auto", "-1"):
            return -1
        match = _HUMAN.match(text)
        if not match:
            raise ValueError(f"argument {name}: invalid {kind} value: '{text}'")
        number, suffix = match.groups()
        mult = _HUMAN_MULT_BIN.get(suffix) or _HUMAN_MULT[suffix.lower()]
        return int(float(number) * mult)
    return text


def _negates(flag: str, first: str) -> bool:
    """BooleanOptionalAction-style pairs (``--x``/``--no-x``, ``--enable-x``/``--disable-x``,
    ``--disable-x``/``--enable-x``): the opposite of the first flag sets False; aliases
    (``-ep``, ``--enable-hicache``) set True."""
    if flag == first:
        return False
    if flag == "--no-" + first[2:]:
        return True
    for a, b in (("--enable-", "--disable-"), ("--disable-", "--enable-")):
        if first.startswith(a) and flag == b + first[len(a) :]:
            return True
    return False


def _looks_like_flag(token: str) -> bool:
    return token.startswith("-") and token != "-" and not _NEGATIVE.match(token)


def parse(
    spec: Spec,
    argv: list[str],
    *,
    prog: str,
    usage: str,
    underscores: bool = False,
) -> dict:
    """``argv`` -> {dest: value}. ``underscores``: ``--max_model_len`` means ``--max-model-len``
    (vLLM's FlexibleArgumentParser). Raises ArgError like argparse's ``error()``."""
    values = spec.defaults()
    seen: set[str] = set()
    positionals: list[str] = []
    unknown: list[str] = []

    def fail(message: str) -> ArgError:
        return ArgError(usage, prog, message)

    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if token == "--":
            positionals += argv[i:]
            break
        if not _looks_like_flag(token):
            positionals.append(token)
            continue
        flag, eq, inline = token.partition("=")
        if underscores and flag.startswith("--"):
            flag = "--" + flag[2:].replace("_", "-")
        arg = spec.by_flag.get(flag)
        if arg is None:
            unknown.append(token)
            continue
        name = "/".join(arg["flags"])
        dest, nargs, kind = arg["dest"], arg["nargs"], arg["type"]
        if dest == "help":
            values["help"] = True
            continue
        seen.add(dest)
        if nargs == 0:
            if eq:
                raise fail(f"argument {name}: ignored explicit argument '{inline}'")
            values[dest] = not _negates(flag, arg["flags"][0])
            continue
        taken: list[str] = []
        if eq:
            taken.append(inline)
        if nargs in (None, "?") and not eq:
            if i < len(argv) and not _looks_like_flag(argv[i]):
                taken.append(argv[i])
                i += 1
        elif nargs in ("+", "*"):
            while i < len(argv) and not _looks_like_flag(argv[i]):
                taken.append(argv[i])
                i += 1
        if nargs is None and not taken:
            raise fail(f"argument {name}: expected one argument")
        if nargs == "+" and not taken:
            raise fail(f"argument {name}: expected at least one argument")
        try:
            converted = [_convert(kind, t, name) for t in taken]
        except ValueError as exc:
            raise fail(str(exc)) from None
        choices = arg["choices"]
        for value in converted:
            if choices and value not in choices:
                shown = ", ".join(repr(c) for c in choices)
                raise fail(f"argument {name}: invalid choice: {value!r} (choose from {shown})")
        if nargs in ("+", "*"):
            values[dest] = converted
        elif nargs == "?":
            values[dest] = converted[0] if converted else None
        else:
            values[dest] = converted[0]
    if spec.positional is not None and positionals:
        values[spec.positional] = positionals.pop(0)
    unknown += positionals
    if unknown:
        raise fail(f"unrecognized arguments: {' '.join(unknown)}")
    values["_given"] = seen
    return values


def help_text(spec: Spec, usage: str) -> str:
    lines = [f"usage: {usage}", "", "options:"]
    for arg in spec.arguments:
        if "positional" in arg:
            lines.append(f"  {arg['positional']}  {arg.get('help') or ''}".rstrip())
            continue
        lines.append(f"  {', '.join(arg['flags'])}")
        if arg.get("help"):
            lines.append(f"      {arg['help']}")
    return "\n".join(lines) + "\n"
