"""``python -m smoke``: same as the ``tgi-smoke`` console script."""

import sys

from smoke.cli import main

sys.exit(main())
