"""``python3 -m lab.sglang_standin --model-path M [flags]``."""

from .cli import main

raise SystemExit(main())
