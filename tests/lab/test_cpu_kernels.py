"""``lab run --cpu-kernels``: the lab pins torch's CPU kernels (AVX2 by default) so that its
chaotic training gives the same weights on CPUs with and without AVX-512, and records the
kernels a run used (docs/lab.md, "The CPU's kernels")."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from emergence_law.commands.lab import use_cpu_kernels
from emergence_law.errors import OptionError

_KERNELS = ("from emergence_law.commands.lab import use_cpu_kernels; import sys; "
            "use_cpu_kernels(sys.argv[1]); import torch; "
            "print(torch.backends.cpu.get_cpu_capability())")


def _kernels_in_a_fresh_process(kernels: str, **env: str) -> str:
    done = subprocess.run([sys.executable, "-c", _KERNELS, kernels], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_avx2_is_what_torch_dispatches_to_and_native_is_the_cpus_own():
    pytest.importorskip("torch")
    native = _kernels_in_a_fresh_process("native", ATEN_CPU_CAPABILITY="avx2")
    if native not in ("AVX2", "AVX512"):
        pytest.skip(f"this CPU has no AVX2 (torch's kernels: {native})")
    # a variable set before is replaced: native removes it, avx2 sets it
    assert native == _kernels_in_a_fresh_process("native")
    assert _kernels_in_a_fresh_process("avx2", ATEN_CPU_CAPABILITY="default") == "AVX2"


def test_an_unknown_kernel_choice_is_an_option_error():
    with pytest.raises(OptionError, match="--cpu-kernels.*unknown CPU kernels 'avx512'"):
        use_cpu_kernels("avx512")


def test_the_cli_refuses_an_unknown_kernel_choice_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "emergence_law", "lab", "run", "--scale",
                           "tiny", "--out", str(tmp_path / "r"), "--cpu-kernels", "fast"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    err = done.stderr.strip().splitlines()
    assert len(err) == 1 and "--cpu-kernels" in err[0] and "Traceback" not in done.stderr
    assert not (tmp_path / "r" / "models").exists()  # refused before anything was trained


def test_versions_name_the_kernels_once_torch_is_loaded():
    torch = pytest.importorskip("torch")
    from emergence_law.provenance import versions

    assert versions()["torch-cpu-kernels"] == torch.backends.cpu.get_cpu_capability()
