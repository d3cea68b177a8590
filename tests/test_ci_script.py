"""`.ci/run` runs the README's two set-up commands, read from the README itself: check that it
finds them, so a README edit cannot silently leave CI running nothing (or something else)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ci_reads(n: int) -> str:
    script = (ROOT / ".ci" / "run").read_text()
    func = re.search(r"readme_command\(\) \{.*?\n\}\n", script, re.S)
    assert func, "readme_command not found in .ci/run"
    out = subprocess.run(["bash", "-c", func.group(0) + f"readme_command {n}"], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_ci_runs_the_readme_set_up_commands_verbatim():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Set-up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.+?)\n```", section)
    assert len(blocks) == 2, blocks
    main_job, tests = _ci_reads(1), _ci_reads(2)
    assert [main_job, tests] == blocks
    assert main_job == "pip install -e . && emergence-law demo"  # core only: no extras
    assert "[all]" in tests and "pytest" in tests
