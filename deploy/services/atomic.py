"""Atomic file writes: ``atomic.put`` writes a managed file so that it is never half-written,
never empty after a failure and never readable with a wider mode than asked, not for an instant.

Why not ``files.put``: pyinfra uploads over SFTP straight onto the destination (truncate, then
write: a full disk leaves a 0-byte file) or, with ``_sudo``, to ``/tmp/pyinfra-<sha1>`` created
by the SSH user's umask (0644, readable by every local user) and then ``cp``s it; the mode is
set by a ``chmod`` afterwards. For ``service.env`` (the HF token and API key) both are leaks.

How ``atomic.put`` writes ``<dir>/<file>`` when the content differs:

1. ``<dir>/.<file>.tgi-tmp/`` is created fresh (``umask 077``, mode 0700, owned by the SSH login
   user so that SFTP can write into it; root when pyinfra logs in as root). Only root and that
   user can enter it. It lies in ``<dir>``: the same filesystem as the destination.
2. the content is uploaded into it (with ``_sudo``: pyinfra's own temp file goes there too,
   ``remote_temp_filename``, instead of ``/tmp``);
3. owner, group and mode are set on the staged file, it is flushed (``sync``) and renamed onto
   ``<dir>/<file>`` (``mv -T``: one ``rename(2)``), and the staging directory is removed.

A reader sees either the old file or the new one, each with the mode asked for. A failure leaves
the old file untouched, removes the staging directory and names the cause: ``no space left on
<dir>`` or ``read-only file system at <dir>``. The content never appears in pyinfra's output
(no diff, no command carries it). When the content is the same (sha1), only owner and mode are
corrected: no change on a second deploy.
"""

from __future__ import annotations

import hashlib
import io
import logging
import posixpath
import shlex

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS
from pyinfra.facts.files import File, Sha1File
from tgi_infra.host import host_state

STAGE_SUFFIX = ".tgi-tmp"


def stage_dir(dest: str) -> str:
    """``/a/b/service.env`` -> ``/a/b/.service.env.tgi-tmp`` (same directory, same filesystem)."""
    directory, name = posixpath.split(dest)
    return posixpath.join(directory, f".{name}{STAGE_SUFFIX}")


def write_error(dest: str, detail: str) -> str:
    """The clear cause of a failed write, from an error text (errno name, shell or SFTP message)."""
    directory = posixpath.dirname(dest) or "/"
    low = detail.lower()
    if "no space left" in low or "enospc" in low or "size mismatch" in low or "quota" in low:
        cause = f"no space left on {directory}"
    elif "read-only file system" in low or "erofs" in low:
        cause = f"read-only file system at {directory}"
    elif "permission denied" in low:
        cause = f"permission denied at {directory}"
    else:
        cause = detail.strip().splitlines()[-1] if detail.strip() else "unknown error"
    return f"could not write {dest}: {cause}; the previous file (if any) was kept unchanged"


def _shell_guard(dest: str, script: str) -> str:
    """Run ``script``; on failure print one line naming the cause and remove the staging dir."""
    stage = shlex.quote(stage_dir(dest))
    directory = shlex.quote(posixpath.dirname(dest) or "/")
    d = shlex.quote(dest)
    return (
        f"if ! err=$( {{ {script} ; }} 2>&1 ); then rm -rf -- {stage} 2>/dev/null; "
        'case "$err" in '
        f'*"No space left"*|*"Disk quota"*) echo "could not write "{d}": no space left on "'
        f'{directory}"; the previous file (if any) was kept unchanged" >&2 ;; '
        f'*"Read-only file system"*) echo "could not write "{d}": read-only file system at "'
        f'{directory}"; the previous file (if any) was kept unchanged" >&2 ;; '
        f'*) echo "could not write "{d}": $err" >&2 ;; esac; exit 1; fi'
    )


def _prepare_command(dest: str, size: int) -> StringCommand:
    stage = shlex.quote(stage_dir(dest))
    directory = shlex.quote(posixpath.dirname(dest) or "/")
    # no upload into a full filesystem (SFTP would only say "size mismatch", after 3 retries)
    space = (
        f"avail=$(df -Pk -- {directory} 2>/dev/null | awk 'NR == 2 {{print $4}}'); "
        f'if [ -n "$avail" ] && [ "$((avail * 1024))" -lt {size + 4096} ]; then '
        'echo "No space left on device" >&2; false; fi'
    )
    # the SSH login user (SUDO_USER under sudo) writes into it over SFTP; nobody else can enter
    script = (
        f"{space} && rm -rf -- {stage} && (umask 077 && mkdir -- {stage}) && "
        f'chown -- "${{SUDO_USER:-$(id -un)}}" {stage} && chmod 700 -- {stage}'
    )
    return StringCommand(_shell_guard(dest, script))


def _finish_command(dest: str, mode: int, user: str, group: str) -> StringCommand:
    stage = stage_dir(dest)
    staged = shlex.quote(posixpath.join(stage, posixpath.basename(dest)))
    script = (
        f"chown -- {shlex.quote(f'{user}:{group}')} {staged} && chmod {mode:o} -- {staged} && "
        f"sync -- {staged} && mv -fT -- {staged} {shlex.quote(dest)} && "
        f"rm -rf -- {shlex.quote(stage)}"
    )
    return StringCommand(_shell_guard(dest, script))


class _NoRetryWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith("Failed to upload file, retrying")


def _upload_function(data: bytes, dest: str, connector_arguments: dict):
    """A FunctionCommand body that uploads into the staging dir and names the cause on failure.

    The content lives in this closure only: pyinfra prints a FunctionCommand as its function
    name and its (empty) arguments, so no verbosity level shows it."""
    stage = stage_dir(dest)
    staged = posixpath.join(stage, posixpath.basename(dest))

    def atomic_upload(state, host):
        detail = ""
        quiet = _NoRetryWarnings()
        logger.addFilter(quiet)  # the cause is said once, below, not as 3 "retrying" warnings
        try:
            ok = host.put_file(
                io.BytesIO(data),
                staged,
                remote_temp_filename=posixpath.join(stage, "upload"),
                print_output=state.print_output,
                print_input=state.print_input,
                **connector_arguments,
            )
        except Exception as exc:  # paramiko raises OSError/IOError/SSHException variants
            ok = False
            detail = f"{type(exc).__name__}: {exc}"
        finally:
            logger.removeFilter(quiet)
        if ok:
            return True
        probe = (
            f"df -Pk -- {shlex.quote(stage)} 2>&1 | tail -n 1; "
            f"(: > {shlex.quote(posixpath.join(stage, 'probe'))}) 2>&1; "
            f"head -c {len(data)} /dev/zero > {shlex.quote(posixpath.join(stage, 'probe'))} "
            f"2>&1; rm -rf -- {shlex.quote(stage)}"
        )
        try:
            _, out = host.run_shell_command(
                StringCommand(probe), print_output=False, print_input=False, **connector_arguments
            )
            diag = "\n".join(line.line for line in out)
        except Exception as exc:  # the connection is gone (a hung host the watchdog dropped)
            diag = f"{type(exc).__name__}: {exc}"
        reason = diag if ("No space" in diag or "Read-only" in diag) else detail or diag
        host.log_styled(write_error(dest, reason), fg="red", log_func=logger.error)
        return False

    return atomic_upload


@operation()
def put(
    content: str | bytes,
    dest: str,
    mode: int,
    user: str = "root",
    group: str = "root",
    like: str | None = None,
):
    """Write ``content`` to ``dest`` atomically with ``mode`` (an int, e.g. 0o600) and owner.

    ``dest``'s directory must exist. Nothing is yielded when content, mode and owner match.
    ``like``: the file an earlier operation of this deploy renames over ``dest`` (a kept copy
    put back, ``swap.recover``); its content and mode are what ``dest`` holds when this runs.
    """
    data = content.encode() if isinstance(content, str) else content
    want = hashlib.sha1(data).hexdigest()
    host_state.writes(dest, stage_dir(dest))  # what its commands change, and nothing else
    remote = host.get_fact(File, path=like or dest)
    if remote and host.get_fact(Sha1File, path=like or dest) == want:
        changed = False
        if remote.get("mode") != int(f"{mode:o}"):
            yield StringCommand("chmod", f"{mode:o}", "--", shlex.quote(dest))
            changed = True
        if remote.get("user") != user or remote.get("group") != group:
            yield StringCommand("chown", "--", shlex.quote(f"{user}:{group}"), shlex.quote(dest))
            changed = True
        if not changed:
            host.noop(f"{dest} is up to date")
        return
    global_arguments = host.current_op_global_arguments or {}
    connector_arguments = {
        k: global_arguments[k] for k in CONNECTOR_ARGUMENT_KEYS if k in global_arguments
    }
    yield _prepare_command(dest, len(data))
    yield FunctionCommand(_upload_function(data, dest, connector_arguments), (), {})
    yield _finish_command(dest, mode, user, group)


def reads(dest: str) -> list:
    """The fact reads of ``put(dest=...)`` (``host_state``): the file's stat, then its sha1."""
    return [host_state.Read(File, path=dest), host_state.Read(Sha1File, path=dest)]


__all__ = ["put", "reads", "stage_dir", "write_error"]
