"""Post-deploy smoke suite for Hugging Face Text Generation Inference services.

``tgi-smoke --url http://host:8080`` or ``tgi-smoke --inventory inventories/gpu.py``
(also ``python -m tgi_infra.smoke`` and ``pytest smoke --url ...``). See smoke/cli.py.
"""
