"""``python3 -m lab.vllm_standin serve MODEL [flags]`` (the image's ``vllm`` wraps this)."""

from .cli import main

raise SystemExit(main())
