"""``python -m emergence_law`` runs the CLI."""

import sys

from emergence_law.cli import main

sys.exit(main())
