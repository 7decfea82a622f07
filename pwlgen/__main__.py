"""`python -m pwlgen`: same as the `pwlgen` command."""

from .cli import main
import sys

sys.exit(main())
