"""vLLM stand-in: ``vllm serve`` and vLLM's OpenAI-compatible server without a GPU.

Stdlib only; behaviours and their upstream sources in CONTRACT.md. Runs as
``python3 -m lab.vllm_standin serve MODEL [flags]`` from the repository, or as ``vllm`` in the
lab's ``vllm/vllm-openai:v0.33.0`` stand-in image (lab/images.py ``ensure_engine_image``).
"""
