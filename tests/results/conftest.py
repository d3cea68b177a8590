"""The result-type tests import their helper module (results_helpers.py) under either pytest
import mode (importlib does not put test folders on sys.path)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
