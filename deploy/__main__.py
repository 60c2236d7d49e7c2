"""`python -m deploy ...` -> deploy.cli.main."""

import sys

from deploy.cli import main

sys.exit(main())
