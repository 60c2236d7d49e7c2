"""``python -m lab`` (from the repository root): the container lab's CLI, see lab/cli.py."""

import sys

from lab.cli import main

sys.exit(main())
