"""``python -m tgi_infra.smoke``: same as the ``tgi-smoke`` console script."""

import sys

from tgi_infra.smoke.cli import main

sys.exit(main())
