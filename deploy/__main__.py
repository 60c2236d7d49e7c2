"""`python -m tgi_infra ...` -> deploy.cli.main."""

import sys

from tgi_infra.cli.commands import main

sys.exit(main())
