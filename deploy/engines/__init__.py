"""Serving engines behind one service model: TGI (default), vLLM and SGLang.

``spec`` holds what differs per engine (image, entrypoint, container port, cache mount, health
semantics, how each common setting maps to the engine's own flags, the engine's flag list from
``deploy/reference``); ``tgi``/``vllm``/``sglang`` define one ``EngineSpec`` each.
"""

from tgi_infra.engines.spec import ENGINE_NAMES, ENGINES, EngineSpec, Flag, engine_spec

__all__ = ["ENGINES", "ENGINE_NAMES", "EngineSpec", "Flag", "engine_spec"]
