"""``python3 -m lab.tgi_standin [launcher flags]`` (or ``-m tgi_standin`` in the image)."""

from .cli import main

raise SystemExit(main())
