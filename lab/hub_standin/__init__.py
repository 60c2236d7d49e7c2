"""Hugging Face Hub stand-in: the HTTP API routes huggingface_hub's client calls for a preflight.

Standard library only. ``python -m lab.hub_standin --config hub.json --port 0`` serves the repos
and tokens of ``hub.json`` (see CONTRACT.md, and ``server.Catalog`` for the format); point the
client at it with ``HF_ENDPOINT=http://127.0.0.1:PORT`` or ``HfApi(endpoint=...)``.
"""
