"""`python -m pwlgen`: same as the `pwlgen` command."""

import sys

from .cli import main

sys.exit(main())
