"""CLI commands of the 'lab' area: ``emergence-law lab run`` (the toy model suite)."""

from __future__ import annotations

from pathlib import Path

import typer

from emergence_law.commands.options import LabDevice, LabScale, out_dir

SCALE_HELP = ("small (<= 15 min on 2 CPU cores), medium or large (GPU); tiny is a seconds-long "
              "smoke test that is too small to show emergence; facts-small / facts-tiny: the "
              "knowledge-extraction family (docs/lab-facts.md)")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app (heavy imports stay inside the commands)."""
    lab = typer.Typer(help="The toy model suite: the whole method end to end on tiny models.",
                      no_args_is_help=True)

    @lab.command("run")
    def run(
        scale: LabScale = typer.Option(LabScale.small, "--scale", help=SCALE_HELP),
        out: Path = typer.Option(Path("lab-results"), "--out", help="results folder (resumable)",
                                 callback=out_dir),
        device: LabDevice = typer.Option(LabDevice.cpu, "--device", help="cpu or cuda"),
        threads: int = typer.Option(1, "--threads",
                                    help="torch CPU threads (1 is fastest for these tiny models)"),
        workers: int = typer.Option(2, "--workers",
                                    help="processes of the measuring sweeps (each job "
                                    "runs once: the store's atomic claims)"),
        no_progress: bool = typer.Option(False, "--no-progress", help="no progress bars"),
        passuntil_budgets: str | None = typer.Option(
            None, "--passuntil-budgets",
            help="PassUntil's per-instance budgets: 'expected' (from each instance's exact "
            "pass rate, capped) or 'fixed' (the cap for every instance); default: the scale's"),
        passuntil_cap: int | None = typer.Option(
            None, "--passuntil-cap", help="most PassUntil samples per instance (default: the "
            "scale's passuntil_budget)"),
        seed: int | None = typer.Option(
            None, "--seed", help="pretraining seed (initialisation, batch order, evaluated "
            "items; the facts world stays the scale's); default: the scale's, 0"),
        cpu_kernels: str = typer.Option(
            "avx2", "--cpu-kernels", metavar="<avx2|native>",
            help="torch's CPU kernels: avx2 (on the AVX-512 machines tested, these retrain "
            "the shipped arithmetic models bit for bit) or native (the CPU's widest: other "
            "last bits, and the lab's chaotic training makes them other tables; docs/lab.md, "
            "\"The CPU's kernels\")"),
    ) -> None:
        """Train a family of tiny transformers, measure emergence, fit and report.

        Loss, few-shot and finetuning run as three sweep recipes written into --out:
        lab_measure.yaml (loss and few-shot), lab_finetune.yaml (finetuning) and
        lab_control.yaml (every finetuning setting on the never-pretrained models: the gate).
        Re-running with the same --out resumes: finished checkpoints and measurements are kept.
        """
        import json

        from emergence_law.errors import OptionError
        from emergence_law.lab.family import get_scale
        from emergence_law.lab.pipeline import DEVICES, run_lab

        scale, device = str(scale), str(device)
        use_cpu_kernels(cpu_kernels)
        sc = get_scale(scale)
        if passuntil_budgets is not None or passuntil_cap is not None:
            sc = _passuntil_settings(sc, passuntil_budgets, passuntil_cap)
        if seed is not None:
            if seed < 0:
                raise OptionError("--seed", f"must be 0 or more, got {seed}")
            from dataclasses import replace

            sc = replace(sc, seed=seed)
        if device not in DEVICES:
            raise OptionError("--device", f"unknown device {device!r} (use cpu or cuda)")
        if workers < 1:
            raise OptionError("--workers", f"must be at least 1, got {workers}")
        res = run_lab(sc, out, device=device, progress=not no_progress, threads=threads,
                      workers=workers)
        summary = json.loads(res.summary.read_text())
        for key, text in summary["answers"].items():
            typer.echo(f"{key}: {text}")
        typer.echo(f"wrote {res.observations}, {res.summary} and {len(res.plots)} plots "
                   f"in {res.seconds:.0f} s")

    app.add_typer(lab, name="lab")


#: ``--cpu-kernels`` -> torch's ATEN_CPU_CAPABILITY (None: leave torch's own choice)
CPU_KERNELS = {"avx2": "avx2", "native": None}


def use_cpu_kernels(kernels: str) -> None:
    """Make torch's CPU kernels the ones asked for, in this process and the workers it starts.

    Why: the lab's tiny models train chaotically, so the AVX-512 kernels' last-bit differences
    from AVX2's grow into other checkpoints (a facts-small d32 with or without a 3-shot onset).
    torch reads ``ATEN_CPU_CAPABILITY`` when it first dispatches a CPU kernel, so this must run
    before the lab loads torch (the option replaces the variable; ``native`` removes it), and
    ``lab_summary.json``'s ``versions`` records the kernels the run really used
    (``torch-cpu-kernels``).
    """
    import os

    from emergence_law.errors import OptionError
    from emergence_law.lab.family import one_of

    one_of("--cpu-kernels", kernels, tuple(CPU_KERNELS), "CPU kernels", OptionError)
    if CPU_KERNELS[kernels] is None:
        os.environ.pop("ATEN_CPU_CAPABILITY", None)
    else:
        os.environ["ATEN_CPU_CAPABILITY"] = CPU_KERNELS[kernels]


def _passuntil_settings(sc, budgets: str | None, cap: int | None):
    """``sc`` with the PassUntil budget rule and cap asked for on the command line (recorded
    in ``lab_summary.json``'s ``scale``, and in the store's namespaces, so runs with other
    budgets never share counts)."""
    from dataclasses import replace

    from emergence_law.errors import OptionError
    from emergence_law.lab.family import PASSUNTIL_BUDGET_FROM, one_of

    if budgets is not None:
        one_of("--passuntil-budgets", budgets, PASSUNTIL_BUDGET_FROM, "budget rule", OptionError)
    if cap is not None and cap < 1:
        raise OptionError("--passuntil-cap", f"must be at least 1, got {cap}")
    return replace(sc, passuntil_budget_from=budgets or sc.passuntil_budget_from,
                   passuntil_budget=cap or sc.passuntil_budget)
