"""SGLang stand-in: ``python3 -m sglang.launch_server`` and SGLang's HTTP server without a GPU.

Stdlib only; behaviours and their upstream sources in CONTRACT.md. Runs as
``python3 -m lab.sglang_standin --model-path M [flags]`` from the repository, or as
``python3 -m sglang.launch_server ...`` in the lab's ``lmsysorg/sglang:v0.5.23`` stand-in image
(lab/images.py ``ensure_engine_image``: a ``sglang`` package whose ``launch_server`` runs this).
"""
