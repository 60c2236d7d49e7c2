"""`python -m tgi_infra ...` -> deploy.cli.main."""

import sys

from tgi_infra.cli import main

sys.exit(main())
