"""The Hub's word on a service's model, asked with the token the service will get.

``hub_check`` is huggingface_hub's ``auth_check`` and ``model_info(files_metadata=True)``: a
gated model the token may not read, a private or missing model, a wrong token, a missing
revision each give a clear message, and the weights' size comes with a readable model. The
endpoint is the client's own setting, ``HF_ENDPOINT`` (huggingface.co by default).

Two callers: the deploy's preflight (``live_checks.check_service``, where a refusal stops the
deploy) and ``tgi-infra validate`` (``hub_findings``, where it is a warning: validate contacts
no host). No pyinfra here: validate does not load it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from tgi_infra.config import HostConfig, TGIService

WEIGHT_SUFFIXES = (".safetensors",)
FALLBACK_SUFFIXES = (".bin", ".pt")


@dataclass(frozen=True)
class HubAnswer:
    ok: bool
    message: str  # the problem, or a note
    size: int | None = None  # bytes of the weights TGI downloads
    unreachable: bool = False  # no answer from the Hub: a note, not an error


def _weights_size(siblings) -> int | None:
    sizes = {s.rfilename: s.size for s in siblings or [] if s.size is not None}
    for suffixes in (WEIGHT_SUFFIXES, FALLBACK_SUFFIXES):
        chosen = [size for name, size in sizes.items() if name.endswith(suffixes)]
        if chosen:
            return sum(chosen) + sum(s for n, s in sizes.items() if n.endswith(".json"))
    return None


@lru_cache(maxsize=256)
def hub_check(
    model_id: str, revision: str | None, token: str | None, token_env: str, endpoint: str | None
) -> HubAnswer:
    """Whether ``token`` can read ``model_id`` at ``revision``, and the weights' size."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    api = HfApi(endpoint=endpoint, token=token or False)
    where = api.endpoint
    with_token = f"the token in {token_env}" if token else f"no token ({token_env} is not set)"
    try:
        # model_info first: it has a timeout (auth_check has none), so an unreachable Hub
        # answers within it; the Hub answers model_info of a gated repo without access
        info = api.model_info(
            model_id, revision=revision, files_metadata=True, token=token or False, timeout=30
        )
        api.auth_check(model_id, token=token or False)
    except GatedRepoError:
        return HubAnswer(
            False,
            f"model {model_id} is gated and {with_token} may not read it: accept its licence "
            f"at {where}/{model_id} with the token's account, or set {token_env}",
        )
    except RevisionNotFoundError:
        return HubAnswer(False, f"revision {revision!r} of {model_id} does not exist on {where}")
    except RepositoryNotFoundError:
        return HubAnswer(
            False,
            f"model {model_id} does not exist on {where}, or it is private and {with_token} "
            "cannot read it: check model_id (and the token)",
        )
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        msg = exc.response.headers.get("X-Error-Message", "") if exc.response is not None else ""
        if status == 401 and "Invalid credentials" in msg:
            return HubAnswer(
                False, f"{with_token} is not valid on {where} (wrong, expired or revoked)"
            )
        return HubAnswer(False, f"{where} answered {status} for {model_id}: {msg or exc}")
    except (OSError, ValueError) as exc:  # connection errors (requests/httpx are OSErrors)
        return HubAnswer(
            False,
            f"cannot reach the Hub at {where} ({type(exc).__name__}); on an air-gapped host set "
            "tgi_hub_check: false (the check is then skipped)",
            unreachable=True,
        )
    return HubAnswer(True, "", _weights_size(info.siblings))


def ask_hub(svc: TGIService, environ) -> tuple[HubAnswer, str | None, str]:
    """The Hub's answer for the service's model, asked with the token the service will get (the
    variable its ``hf_token_env`` names in ``environ``, this machine's environment) at the
    endpoint huggingface_hub reads (``HF_ENDPOINT``): (answer, token or None, token variable)."""
    token_env = svc.hf_token_env or "HF_TOKEN"
    token = (environ.get(token_env) if svc.hf_token_env else None) or None
    answer = hub_check(svc.model_id, svc.revision, token, token_env, environ.get("HF_ENDPOINT"))
    return answer, token, token_env


def hub_findings(configs: Mapping[str, HostConfig], environ) -> tuple[list[str], list[str]]:
    """The Hub's word on each present service's model (host name -> config), for
    ``tgi-infra validate``, which contacts no host (the Hub is not a host): (warnings, notes).

    A model the Hub refuses (gated or private without a token that may read it, missing, a
    missing revision, a wrong token) is a warning: the deploy's preflight asks the same
    (``check_service``) and stops there, unless, without a token here, the host keeps its own
    in service.env, which only the deploy can see. Not asked, with a note saying so: hosts with
    ``tgi_hub_check: false``, and every model once the Hub did not answer (unreachable, or
    ``HF_HUB_OFFLINE=1``). Model ids that are paths are not Hub repos."""
    warnings: list[str] = []
    notes: list[str] = []
    unreachable = ""
    for host_name, cfg in configs.items():
        hub_models = [s for s in cfg.present_services() if not s.model_id.startswith("/")]
        if hub_models and not cfg.hub_check:
            names = ", ".join(s.name for s in hub_models)
            notes.append(f"host {host_name}: Hub not checked for {names} (tgi_hub_check: false)")
            continue
        for svc in hub_models:
            where = f"host {host_name}: service {svc.name}"
            if unreachable:
                notes.append(f"{where}: Hub not checked for {svc.model_id}: {unreachable}")
                continue
            answer, token, _ = ask_hub(svc, environ)
            if answer.unreachable:
                unreachable = answer.message
                notes.append(f"{where}: Hub not checked for {svc.model_id}: {unreachable}")
            elif not answer.ok:
                unless = (
                    ""
                    if token
                    else "; the deploy stops here unless the host already keeps a token in its "
                    "service.env (validate contacts no host)"
                )
                warnings.append(
                    f"{where}: field model_id: value {svc.model_id!r}: {answer.message}{unless}"
                )
    return warnings, notes
