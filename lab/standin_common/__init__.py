"""What the vLLM and SGLang stand-ins (lab/vllm_standin, lab/sglang_standin) share.

Stdlib only: this package runs in the stand-in images next to them (lab/images.py lays out
``/opt/standins/lab/{standin_common,vllm_standin,sglang_standin,tgi_standin}``).

- ``argspec``: an argparse-like parser driven by the flag dumps of the real parsers
  (deploy/reference/<engine>/*-args.json, copied next to each stand-in);
- ``model``: the deterministic "model" (lab/tgi_standin/generation.py, shared with TGI's
  stand-in) behind OpenAI-shaped request parameters;
- ``metrics``: a tiny Prometheus text registry;
- ``server``: HTTP plumbing (JSON, SSE ``data: <json>`` framing, bearer auth) and the
  OpenAI-compatible routes both engines serve (/v1/models, /v1/completions,
  /v1/chat/completions), with per-engine hooks for error shapes and auth rules;
- ``faults``: fault injection by environment variable, as the TGI stand-in does.
"""
