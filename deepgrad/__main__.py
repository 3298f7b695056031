"""``python -m deepgrad``: the deepgrad command."""

import sys

from deepgrad.cli import main

sys.exit(main())
