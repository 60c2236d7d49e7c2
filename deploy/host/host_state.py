"""One round trip reads a host: the deploy's planned fact reads, batched into one command.

pyinfra 3 runs a command per ``host.get_fact`` call and caches nothing; it also runs each
operation's body twice (once while it plans, to know whether the operation changes anything,
and again when it executes). A deploy that asks twenty facts per service therefore costs a
hundred round trips on a host that needs nothing. Here the deploy declares the reads it will
make (``Read``: a fact class and its arguments; each module's ``reads(cfg)``, combined in
``deploys.planned_reads``) and :class:`HostSnapshot`, a typed fact, runs all of them in ONE
shell command, each read's output between ``@@tgi-infra-read:<i>`` and
``@@tgi-infra-rc:<i>:<exit status>`` lines. Every ``host.get_fact`` of a planned read is then
answered from it: the operations (ours and pyinfra's own ``files.*``, ``apt.*``,
``systemd.*``) decide from the snapshot and yield commands only for what must change, so
``--dry`` still lists each command that would run.

When an answer may not be used, the fact is read as pyinfra reads it (one command):

* the read was not planned, or its arguments differ (e.g. another ``_sudo_user``);
* it failed, printed nothing that parses (``FactProcessError``) or its command is missing:
  pyinfra's own handling (errors, warnings, defaults) then applies, unchanged;
* the host may have changed since the snapshot: from the first command an operation runs on
  the host (anything but a fact read), every fact is read live again, as pyinfra reads it.
  One exception: ``atomic.put`` of a file under a directory declared with :func:`confine`
  (a service directory, where only the deploy's own path reads look) ends only the answers
  about that file and the directories above and below it (:func:`writes`).

So a no-op deploy costs the snapshot alone, and the answers the operations decide from are
exactly the ones pyinfra would have read: the host had not changed between them.
"""

from __future__ import annotations

import inspect
import posixpath
import shlex
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pyinfra import logger
from pyinfra.api import FactBase, StringCommand
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS
from pyinfra.api.exceptions import FactProcessError
from pyinfra.api.facts import (
    _MISSING_COMMAND_MARKER,
    _handle_fact_kwargs,
    _make_command,
    get_fact,
)
from pyinfra.context import ctx_host, ctx_state
from tgi_infra.host.reading import RC_MARK, READ_MARK, batched, parse_snapshot  # noqa: F401


def _fact_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def read_key(cls: type[FactBase], kwargs: dict[str, Any]) -> str:
    """The identity of a read: fact class and its (bound) arguments."""
    bound = {k: v for k, v in kwargs.items() if k != "self"}
    return f"{_fact_name(cls)}{_freeze(bound)!r}"


# a fact's command arguments bound to its parameters, and the command a read runs: the same
# for every host that makes the same read (a fleet's hosts mostly do), so worked out once
_BOUND: dict[tuple[type, str, str] | None, dict[str, Any]] = {}
_COMMANDS: dict[tuple[type, str], str] = {}


def _bind(cls: type[FactBase], args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    if not args and not kwargs:
        return {}
    plain = _plain(args) and _plain(kwargs)  # their repr is their value
    key = (cls, repr(tuple(args)), repr(sorted(kwargs.items()))) if plain else None
    bound = _BOUND.get(key) if plain else None
    if bound is None:
        bound = inspect.getcallargs(cls().command, *args, **kwargs)
        bound.pop("self", None)
        if plain:
            _BOUND[key] = bound
    return dict(bound)


def _plain(value: Any) -> bool:
    if value is None or type(value) in (str, int, float, bool):
        return True
    if type(value) in (list, tuple):
        return all(_plain(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return False


@dataclass(frozen=True)
class Read:
    """One fact read the deploy will make: ``Read(File, path="/etc/x")``."""

    fact: type[FactBase]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __init__(self, fact: type[FactBase], *args: Any, **kwargs: Any) -> None:
        object.__setattr__(self, "fact", fact)
        object.__setattr__(self, "args", tuple(args))
        object.__setattr__(self, "kwargs", dict(kwargs))

    @property
    def bound(self) -> dict[str, Any]:
        return _bind(self.fact, self.args, self.kwargs)

    @cached_property
    def paths(self) -> tuple[str, ...]:
        """The absolute paths among its arguments (what a write may change the answer of)."""
        values: list[Any] = list(self.bound.values())
        out = []
        while values:
            value = values.pop()
            if isinstance(value, (list, tuple)):
                values.extend(value)
            elif isinstance(value, str) and value.startswith("/"):
                out.append(posixpath.normpath(value))
        return tuple(out)

    @cached_property
    def key(self) -> str:
        return read_key(self.fact, self.bound)

    def command(self) -> str:
        """The command pyinfra itself would run for this read (``requires_command`` guard
        included), as a string."""
        return self._command

    @cached_property
    def _command(self) -> str:
        text = _COMMANDS.get((self.fact, self.key))
        if text is None:
            text = _COMMANDS[(self.fact, self.key)] = self._make_command()
        return text

    def _make_command(self) -> str:
        fact = self.fact()
        bound = self.bound
        command = fact.command(**bound) if callable(fact.command) else fact.command
        requires = fact.requires_command
        requires = requires(**bound) if callable(requires) else requires
        text = _text(command)
        if requires:
            text = (
                f"if command -v {_text(requires)} >/dev/null 2>&1; then ( {text} ); "
                f"else echo '{_MISSING_COMMAND_MARKER}'; fi"
            )
        return text

    def __repr__(self) -> str:  # pyinfra logs fact arguments: keep it short
        return self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Read) and other.key == self.key


def _text(command: Any) -> str:
    if isinstance(command, StringCommand):
        return command.get_raw_value()
    return str(command)


def unique(reads: Iterable[Read]) -> tuple[Read, ...]:
    """Reads in first-seen order, each once."""
    seen: dict[str, Read] = {}
    for read in reads:
        seen.setdefault(read.key, read)
    return tuple(seen.values())


# One command's length at most: Linux caps one argument at 128 KiB (MAX_ARG_STRLEN) and the
# command travels as one (``sh -c '<command>'``, quoted); more reads take more commands.
MAX_COMMAND_BYTES = 96 * 1024


class Reads(tuple):
    """The reads of one snapshot command; shown as their number in pyinfra's fact log."""

    def __repr__(self) -> str:
        return f"<{len(self)} reads>"


def chunks(reads: tuple[Read, ...], limit: int = MAX_COMMAND_BYTES) -> list[Reads]:
    """The reads cut into runs whose snapshot command, quoted, stays under ``limit``."""
    out: list[Reads] = []
    current: list[Read] = []
    size = 0
    for i, read in enumerate(reads):
        length = len(shlex.quote(batched(i, read.command()))) + 2
        if current and size + length > limit:
            out.append(Reads(current))
            current, size = [], 0
        current.append(read)
        size += length
    if current:
        out.append(Reads(current))
    return out


class HostSnapshot(FactBase):
    """Planned reads of the deploy in one command: ``{index: (exit status, stdout lines)}``,
    the index being the read's position in ``reads``.

    ``reads``: :class:`Read` items. Each runs in its own subshell with stdin closed and its
    stderr discarded (a failed read is read again on its own, where pyinfra shows its error).
    The command ends with ``true``: one read's failure is its own answer, not the host's."""

    def command(self, reads: tuple[Read, ...]) -> str:
        parts = [batched(i, read.command()) for i, read in enumerate(reads)]
        return "; ".join(parts) + "; true" if parts else "true"

    @staticmethod
    def default() -> dict[int, tuple[int, list[str]]]:
        return {}

    def process(self, output: list[str]) -> dict[int, tuple[int, list[str]]]:
        return parse_snapshot(output)


def _connector_args(global_kwargs: dict[str, Any]) -> tuple:
    return _freeze({k: global_kwargs[k] for k in CONNECTOR_ARGUMENT_KEYS if k in global_kwargs})


def _caller() -> str:
    """Where a live read was asked (first frame outside pyinfra and this module)."""
    frame = inspect.currentframe()
    while frame is not None:
        name = frame.f_code.co_filename
        if "pyinfra" not in name and not name.endswith("host_state.py"):
            return f"{name.rsplit('/', 1)[-1]}:{frame.f_lineno}"
        frame = frame.f_back
    return "?"


class _Served:
    """A host's snapshot and the ``get_fact`` / ``run_shell_command`` / ``put_file`` /
    ``rsync`` that use it (set on the pyinfra ``Host`` instance, see :func:`take`)."""

    def __init__(self, state, host, reads: tuple[Read, ...]) -> None:
        self._state = weakref.ref(state)  # the state keeps its snapshots, not the reverse
        self.host, self.reads = host, reads
        self.answers: dict[str, tuple[int, list[str]]] = {}
        self.valid = False
        self.reading = 0  # > 0 while a fact is read live (its command changes nothing)
        self.served = 0  # reads answered from the snapshot
        self.live: list[str] = []  # facts read live (not planned, failed, or after a change)
        self._get_fact = host.get_fact
        self._run = host.run_shell_command
        self._put = host.put_file
        self._rsync = host.rsync
        self.connector: tuple = ()
        self._connection: dict[tuple, bool] = {}
        self.roots: set[str] = set()  # directories only the deploy's path reads look into
        self.scopes: dict[str, frozenset[str]] = {}  # operation -> the paths it writes

    @property
    def state(self):
        return self._state()

    def take(self) -> None:
        if not self.reads:
            return
        _, global_kwargs = _handle_fact_kwargs(self.state, self.host, HostSnapshot, (), {})
        self.connector = _connector_args(global_kwargs)
        self.valid = True
        self._read(self.reads)
        logger.debug(
            "%sHostSnapshot: %d of %d reads answered",
            self.host.print_prefix,
            len(self.answers),
            len(self.reads),
        )

    def extend(self, reads: Iterable[Read]) -> None:
        """One more batched read, of the ``reads`` not read yet (those that depend on what
        the first snapshot said); only while the snapshot still holds."""
        if not self.valid or self.state.is_executing:
            return
        known = {r.key for r in self.reads}
        more = tuple(r for r in unique(reads) if r.key not in known)
        if not more:
            return
        _, global_kwargs = _handle_fact_kwargs(self.state, self.host, HostSnapshot, (), {})
        if _connector_args(global_kwargs) != self.connector:
            return
        self.reads = (*self.reads, *more)
        self._read(more)

    def _read(self, reads: tuple[Read, ...]) -> None:
        for chunk in chunks(reads):
            self.reading += 1
            try:  # pyinfra's own fact read: its connection handling, errors and -vv output
                parsed = get_fact(self.state, self.host, HostSnapshot, kwargs={"reads": chunk})
            finally:
                self.reading -= 1
            # a read left unanswered (output cut short) is read on its own when asked
            self.answers.update({chunk[i].key: a for i, a in parsed.items() if i < len(chunk)})

    def _same_connection(self) -> bool:
        """Whether a fact read now runs with the snapshot's connector arguments (``_sudo``,
        ``_sudo_user``, ...): the current operation's, else the @deploy's and the host's.
        Worked out once per set of inputs (pyinfra's ``pop_global_arguments`` is not cheap): the
        current operation's connector arguments, where it has them, else the @deploy's (the
        host's data and the config do not change during a deploy)."""
        host = self.host
        op_arguments = host.current_op_global_arguments or {}
        key = (_connector_args(op_arguments), repr(host.current_deploy_kwargs))
        same = self._connection.get(key)
        if same is None:
            _, global_kwargs = _handle_fact_kwargs(self.state, host, HostSnapshot, (), {})
            same = self._connection[key] = _connector_args(global_kwargs) == self.connector
        return same

    def _answer(self, cls, args, kwargs):
        """(True, value) when the snapshot answers this read, else (False, None)."""
        if not self.valid or any(k.startswith("_") for k in kwargs):
            return False, None  # global arguments of its own: read as pyinfra reads it
        if not self._same_connection():
            return False, None
        try:
            fact_kwargs = _bind(cls, args, kwargs)
        except TypeError:
            return False, None
        answer = self.answers.get(read_key(cls, fact_kwargs))
        if answer is None:
            return False, None
        rc, lines = answer
        if rc != 0 or lines == [_MISSING_COMMAND_MARKER]:
            return False, None  # pyinfra's own handling of a failed / missing command
        fact = cls()
        if fact.check_preconditions(self.state, self.host):
            return False, None
        # some facts keep what their command was asked (Sha1File: the path) for process()
        _make_command(fact.command, dict(fact_kwargs))
        if not lines:
            return True, fact.default()
        try:
            return True, fact.process(lines)
        except FactProcessError:
            return False, None  # read live: pyinfra reports it as it always does

    def get_fact(self, cls, *args, **kwargs):
        ok, value = self._answer(cls, args, kwargs)
        if ok:
            self.served += 1
            logger.debug("%sFact %s answered from HostSnapshot", self.host.print_prefix, cls.name)
            return value
        self.live.append(
            f"{_fact_name(cls)} {args!r} {kwargs!r} {_caller()} exec={self.state.is_executing}"
            f" valid={self.valid}"
        )
        self.reading += 1
        try:
            return get_fact(self.state, self.host, cls, args=args, kwargs=kwargs)
        finally:
            self.reading -= 1

    def _changed(self) -> None:
        if not (self.valid and self.state.is_executing) or self.reading:
            return
        scope = self.scopes.get(self.host.current_op_hash)
        if scope is None:
            self.valid = False  # an operation runs a command: the host may differ now
            return
        # a write confined to these paths: only the reads of them (and of the directories
        # above or below them) may differ now
        for read in self.reads:
            if read.key in self.answers and any(_related(p, scope) for p in read.paths):
                del self.answers[read.key]

    def run_shell_command(self, *args, **kwargs):
        self._changed()
        return self._run(*args, **kwargs)

    def put_file(self, *args, **kwargs):
        self._changed()
        return self._put(*args, **kwargs)

    def rsync(self, *args, **kwargs):
        self._changed()
        return self._rsync(*args, **kwargs)


# pyinfra state -> host name -> its snapshot (gone with the state)
_served: weakref.WeakKeyDictionary[Any, dict[str, _Served]] = weakref.WeakKeyDictionary()


def take(reads: Iterable[Read]) -> _Served:
    """Read the current host once (all ``reads`` in one command) and answer its planned fact
    reads from that snapshot from now on. Once per host and pyinfra state."""
    state, host = ctx_state.get(), ctx_host.get()
    hosts = _served.setdefault(state, {})
    served = hosts.get(host.name)
    if served is None:
        served = _Served(state, host, unique(reads))
        # set on this Host object only: pyinfra's operations call host.get_fact, and every
        # command and transfer runs through run_shell_command / put_file / rsync
        host.get_fact = served.get_fact
        host.run_shell_command = served.run_shell_command
        host.put_file = served.put_file
        host.rsync = served.rsync
        hosts[host.name] = served
        served.take()
    return served


def snapshots(state) -> dict[str, _Served]:
    """The snapshots of a pyinfra state, by host name."""
    return dict(_served.get(state, {}))


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _related(path: str, scope: frozenset[str]) -> bool:
    """``path`` is one of ``scope``, or a directory above or below one of them."""
    return any(_under(path, s) or _under(s, path) for s in scope)


def confine(root: str) -> None:
    """Declare that, on the current host, only the deploy's path-addressed reads (``File``,
    ``Sha1File``, ``Directory``, ``ManagedDir``, ``EnvFileDigests``, ...) look under ``root``
    (a service directory): a write there by :func:`writes` keeps the rest of the snapshot."""
    served = current()
    if served is not None:
        served.roots.add(posixpath.normpath(root))


def writes(*paths: str) -> None:
    """The operation being run writes ``paths`` and nothing else (``atomic.put``). Under a
    :func:`confine` root, its commands then end only the answers about those paths; anywhere
    else (or unsaid) a command ends the whole snapshot."""
    served = current()
    op = ctx_host.get().current_op_hash
    if served is None or op is None:
        return
    norm = frozenset(posixpath.normpath(p) for p in paths)
    if all(any(_under(p, r) for r in served.roots) for p in norm):
        served.scopes[op] = served.scopes.get(op, frozenset()) | norm


def current():
    """The current host's snapshot (None before :func:`take`)."""
    state, host = ctx_state.get(), ctx_host.get()
    return _served.get(state, {}).get(host.name)


__all__ = [
    "HostSnapshot",
    "Read",
    "batched",
    "chunks",
    "confine",
    "current",
    "parse_snapshot",
    "read_key",
    "snapshots",
    "take",
    "unique",
    "writes",
]
