"""Find and read what the other commands wrote into a results folder.

The report reads results, it never recomputes them: each command leaves files with fixed names
(``fit.json``, ``backtest.csv``, ``run_<command>.json``, ...), declared by its result type
(:mod:`emergence_law.results`), and a report section appears only when its files are there.
Results are read through those types, so the report and the writers agree on every key. Everything is read and checked here, before any HTML is written, so a
broken output of a command stops the report with one line naming the file (and column) instead
of producing a page with a hole in it. Files no command documents are shown as "other outputs";
one that cannot be read is listed with its reason instead.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from emergence_law.errors import DataError, OptionError
from emergence_law.jsonfile import json_int
from emergence_law.results import Result, output_file_names
from emergence_law.results.analysis import (
    AblationTable,
    BacktestTable,
    ComparisonResult,
    GroundTruthTable,
    LadderForecastResult,
    ToParamsResult,
)
from emergence_law.results.base import read_csv_table
from emergence_law.results.core import FitResult
from emergence_law.results.demo import DemoResult
from emergence_law.results.lab import LabSummary
from emergence_law.results.passuntil import PassUntilFit

R = TypeVar("R", bound=Result)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

def known_names() -> frozenset[str]:
    """The documented output names: every result type's files (``lab_*.png`` and
    ``run_*.json`` are matched by pattern)."""
    return frozenset(output_file_names())

#: the order in which commands' provenance records are listed (the pipeline's order)
COMMAND_ORDER = ("lab run", "measure", "import-lmeval", "import-olmo", "sweep", "fit",
                 "ground-truth", "ablate", "backtest", "compare", "to-params", "ladder",
                 "passuntil run", "passuntil fit", "demo", "report")


@dataclass(frozen=True)
class FileRead:
    """A file of a results folder, read: its path (for captions and error messages)."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Image(FileRead):
    """A PNG read into memory, with its pixel size (read from the header, no decoding)."""

    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class Table(FileRead):
    """A CSV file read as a DataFrame."""

    frame: pd.DataFrame


@dataclass(frozen=True)
class JsonDoc(FileRead):
    """A JSON file's parsed content."""

    content: Any


@dataclass
class ResultsFolder:
    """Everything the report can show from one results folder; ``None`` where a file is absent."""

    root: Path
    #: the subfolder's name when this is one part of a larger results folder, else None
    part: str | None = None
    fit: FitResult | None = None
    fit_curves: Image | None = None
    emergence_cdf: Image | None = None
    data_used: Table | None = None
    #: ablations.csv with ablations.md as its ``markdown``
    ablations: AblationTable | None = None
    #: ablations.md when there is no ablations.csv beside it
    ablations_md: str | None = None
    ablations_plot: Image | None = None
    backtest: BacktestTable | None = None
    backtest_plot: Image | None = None
    compare: ComparisonResult | None = None
    compare_plot: Image | None = None
    to_params: ToParamsResult | None = None
    to_params_plot: Image | None = None
    passuntil: PassUntilFit | None = None
    passuntil_plot: Image | None = None
    #: ground_truth.csv: one elbow per group (``ground-truth``)
    ground_truth: GroundTruthTable | None = None
    ground_truth_plot: Image | None = None
    #: ladder_forecast.json with ladder_forecast.csv as its table (``ladder``)
    ladder: LadderForecastResult | None = None
    ladder_plot: Image | None = None
    #: lab_summary.json (its record only: the lab's CSV tables are shown as other outputs)
    lab: LabSummary | None = None
    lab_plots: list[Image] = field(default_factory=list)
    #: ``emergence_fit_<method>.json``: the lab's fits (fit.json's type), one per method, by name
    lab_fits: list[tuple[str, FitResult]] = field(default_factory=list)
    #: demo.json: the numbers the answer opens with (also shown among the other outputs)
    demo: DemoResult | None = None
    provenance: list[JsonDoc] = field(default_factory=list)
    other_images: list[Image] = field(default_factory=list)
    other_tables: list[Table] = field(default_factory=list)
    other_json: list[JsonDoc] = field(default_factory=list)
    #: other files that could not be read: (path, reason), shown in the report, not fatal
    unreadable: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def images(self) -> list[Image]:
        """Every image the report embeds, in page order (tests check each one loads)."""
        named = [self.fit_curves, self.emergence_cdf, self.ground_truth_plot, self.backtest_plot,
                 self.ablations_plot, self.compare_plot, self.to_params_plot, self.ladder_plot,
                 self.passuntil_plot]
        return [i for i in named if i is not None] + self.lab_plots + self.other_images

    @property
    def has_known_outputs(self) -> bool:
        """True when a file with one of the commands' documented names is present."""
        singles = [self.fit, self.fit_curves, self.emergence_cdf, self.data_used, self.ablations,
                   self.ablations_md, self.ablations_plot, self.backtest, self.backtest_plot,
                   self.compare, self.compare_plot, self.to_params, self.to_params_plot,
                   self.passuntil, self.passuntil_plot, self.ground_truth,
                   self.ground_truth_plot, self.ladder, self.ladder_plot, self.lab]
        return any(x is not None for x in singles) or bool(self.lab_plots)

    @property
    def has_results(self) -> bool:
        """True when at least one output (not only provenance) is present."""
        return self.has_known_outputs or any(
            [self.other_images, self.other_tables, self.other_json])

    @property
    def label(self) -> str:
        """``""`` for the results folder itself, ``"name/"`` for a subfolder part."""
        return "" if self.part is None else f"{self.part}/"


# ---------------------------------------------------------------------------------------------
# readers: each raises DataError naming the file


def read_png(path: Path) -> Image:
    """Read a PNG and its size; anything else (or a truncated file) is a DataError."""
    data = path.read_bytes()
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise DataError("not a PNG image (bad signature or header)", source=str(path))
    width, height = struct.unpack(">II", data[16:24])
    if width == 0 or height == 0:
        raise DataError("PNG image has zero width or height", source=str(path))
    if not data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82"):
        raise DataError("PNG image is truncated (no IEND chunk)", source=str(path))
    return Image(path, data, int(width), int(height))


def read_json(path: Path) -> JsonDoc:
    """Parse a JSON file; invalid JSON is a DataError with the line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError("not UTF-8 text", source=str(path)) from exc
    try:
        content = json.loads(text, parse_int=json_int)  # no int beyond float range
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                        source=str(path)) from exc
    except (ValueError, RecursionError) as exc:
        raise DataError(f"invalid JSON: {exc or 'nested too deeply'}", source=str(path)) from exc
    return JsonDoc(path, content)


def read_json_object(path: Path) -> JsonDoc:
    """Parse a JSON file that must hold one object (the commands' summary files do)."""
    doc = read_json(path)
    if not isinstance(doc.content, dict):
        raise DataError(f"expected a JSON object, got a {type(doc.content).__name__}",
                        source=str(path))
    return doc


def read_csv(path: Path, required: tuple[str, ...] = ()) -> Table:
    """Read a CSV (numbers parsed, text kept); missing required columns are a DataError."""
    return Table(path, read_csv_table(path, required))


def read_result(cls: type[R], path: Path) -> R:
    """A command's JSON record read through its result type; a bad file names itself."""
    return cls.from_record(read_json_object(path).content, str(path))


# ---------------------------------------------------------------------------------------------


def _listed_plots(summary: LabSummary, source: Path, root: Path) -> list[Image]:
    """The PNGs a summary lists under ``plots`` (paths relative to its folder, e.g. plots/x.png).

    A listed file that is missing, or a path leading outside the results folder, is an error
    naming the summary (``source``): the report must not silently drop a figure the run says
    it made.
    """
    listed = summary.plots
    if listed is None:
        return []
    if not isinstance(listed, list) or not all(isinstance(p, str) for p in listed):
        raise DataError("'plots' must be a list of relative file names", source=str(source))
    images = []
    base = root.resolve()
    for rel in listed:
        path = (root / rel).resolve()
        if not path.is_relative_to(base):
            raise DataError(f"plot {rel!r} lies outside the results folder",
                            source=str(source))
        if not path.is_file():
            raise DataError(f"listed plot {rel!r} does not exist", source=str(source))
        if path.suffix.lower() == ".png":
            images.append(read_png(path))
    return images


#: the columns of a ladder forecast the report shows (``ladder_forecast.csv`` / ``forecasts``)
LADDER_COLUMNS = ("run", "checkpoint", "loss", "acc", "acc_pred", "pred_lower", "pred_upper",
                  "error", "covered")


def _read_ladder(take: Callable[[str], Path | None]) -> LadderForecastResult | None:
    """ladder_forecast.json with its CSV as the table. Without the JSON (the record of what was
    fitted on what) the CSV is left to the other outputs; the forecasts must have the columns the
    section shows, or the report stops naming the file and the column."""
    path = take(LadderForecastResult.FILES["json"])
    if path is None:
        return None
    csv = take(LadderForecastResult.FILES["table"])
    table = read_csv_table(csv, LADDER_COLUMNS) if csv else None
    result = LadderForecastResult.from_record(read_json_object(path).content, str(path),
                                              table=table)
    if table is None:
        forecasts = result.forecasts
        if not isinstance(forecasts, list) or not all(isinstance(f, Mapping) for f in forecasts):
            raise DataError("'forecasts' must be a list of objects", source=str(path))
        for i, rec in enumerate(forecasts):
            missing = [c for c in LADDER_COLUMNS if c not in rec]
            if missing:
                raise DataError(f"forecast {i} has no {missing[0]!r}", source=str(path),
                                column="forecasts")
    return result


def _command_rank(doc: JsonDoc) -> tuple[int, str]:
    command = str(doc.content.get("command", "")) if isinstance(doc.content, dict) else ""
    rank = COMMAND_ORDER.index(command) if command in COMMAND_ORDER else len(COMMAND_ORDER)
    return rank, doc.name


def _check_folder(results_dir: str | Path) -> Path:
    root = Path(results_dir)
    if not root.exists():
        raise OptionError("DIR", f"results folder {root} does not exist")
    if not root.is_dir():
        raise OptionError("DIR", f"{root} is a file, expected a results folder")
    return root


_NOTHING = ("expected the outputs of fit, ground-truth, ablate, backtest, compare, to-params, "
            "ladder, passuntil fit or lab run (e.g. fit.json, backtest.csv, *.png)")


def _nothing_found(folder: ResultsFolder, where: str = "") -> DataError:
    what = "only provenance records (run_*.json)" if folder.provenance else "no files it knows"
    return DataError(f"{what}{where}; {_NOTHING}", source=str(folder.root))


def collect(results_dir: str | Path) -> ResultsFolder:
    """Read every known output in ``results_dir`` (top level only) into a :class:`ResultsFolder`.

    Raises :class:`OptionError` when the folder does not exist or is a file, and
    :class:`DataError` when it holds no output or when a file cannot be read.
    """
    folder = read_folder(_check_folder(results_dir))
    if not folder.has_results:
        raise _nothing_found(folder)
    return folder


def collect_tree(results_dir: str | Path) -> list[ResultsFolder]:
    """The results folder and each immediate subfolder holding a command's outputs, in order.

    Commands write to their own ``--out`` folder (``passuntil fit`` defaults to
    ``passuntil_fit/``), so a user often gathers them as subfolders of one folder. A subfolder
    counts only when it holds a file with a documented name, so folders of checkpoints or raw
    measurements are not dragged into the report. Deeper levels are not searched.
    """
    root = _check_folder(results_dir)
    known = known_names()
    top = read_folder(root)
    parts = [top] if top.has_results else []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        # cheap pre-check on names, so big unrelated folders are never read
        names = {p.name for p in sub.iterdir() if p.is_file()}
        if not (names & known or any(n.startswith("lab_") and n.endswith(".png")
                                           for n in names)):
            continue
        part = read_folder(sub, part=sub.name)
        if part.has_results:  # design's outputs: documented, shown as other outputs
            parts.append(part)
    if not parts:
        raise _nothing_found(top, where=" (nor do its subfolders)")
    return parts


def read_folder(root: Path, part: str | None = None) -> ResultsFolder:
    """Read the known outputs (and any other PNG/CSV/JSON) at the top level of ``root``."""
    files = {p.name: p for p in sorted(root.iterdir()) if p.is_file()}
    used: set[str] = set()

    def take(name: str) -> Path | None:
        if name in files:
            used.add(name)
            return files[name]
        return None

    def png(name: str) -> Image | None:
        path = take(name)
        return read_png(path) if path else None

    def typed(cls: type[R], role: str = "json") -> R | None:
        path = take(cls.FILES[role])
        return read_result(cls, path) if path else None

    out = ResultsFolder(root=root, part=part)
    out.fit = typed(FitResult)
    out.fit_curves = png(FitResult.FILES["curves"])
    out.emergence_cdf = png(FitResult.FILES["cdf"])
    data = take(FitResult.FILES["data"])
    out.data_used = read_csv(data) if data else None
    if out.fit is not None and out.data_used is not None:
        out.fit.data_used = out.data_used.frame  # the rows the fit used (where its edge is)
    md = take(AblationTable.FILES["markdown"])
    markdown = md.read_text(encoding="utf-8", errors="replace") if md else None
    tab = take(AblationTable.FILES["table"])
    out.ablations = AblationTable.read(tab, markdown=markdown) if tab else None
    out.ablations_md = markdown if tab is None else None
    out.ablations_plot = png(AblationTable.FILES["plot"])
    tab = take(BacktestTable.FILES["table"])
    out.backtest = BacktestTable.read(tab) if tab else None
    out.backtest_plot = png(BacktestTable.FILES["plot"])
    out.compare = typed(ComparisonResult)
    out.compare_plot = png(ComparisonResult.FILES["plot"])
    out.to_params = typed(ToParamsResult)
    out.to_params_plot = png(ToParamsResult.FILES["plot"])
    out.passuntil = typed(PassUntilFit)
    out.passuntil_plot = png(PassUntilFit.FILES["plot"])
    tab = take(GroundTruthTable.FILES["table"])
    out.ground_truth = GroundTruthTable.read(tab) if tab else None
    out.ground_truth_plot = png(GroundTruthTable.FILES["plot"])
    out.ladder = _read_ladder(take)
    out.ladder_plot = png(LadderForecastResult.FILES["plot"])
    summary = take(LabSummary.FILES["json"])
    out.lab = read_result(LabSummary, summary) if summary else None
    out.lab_plots = [read_png(files[n]) for n in files
                     if n.startswith("lab_") and n.endswith(".png")]
    used.update(i.name for i in out.lab_plots)
    if out.lab is not None and summary is not None:
        out.lab_plots += _listed_plots(out.lab, summary, root)
        fits = [n for n in files if n.startswith("emergence_fit_") and n.endswith(".json")]
        out.lab_fits = [(n, read_result(FitResult, files[n])) for n in fits]
        used.update(fits)
    demo = files.get(DemoResult.FILES["json"])  # not taken: its table stays on the page
    out.demo = read_result(DemoResult, demo) if demo else None
    runs = [n for n in files if n.startswith("run_") and n.endswith(".json")]
    used.update(runs)
    out.provenance = sorted((read_json_object(files[n]) for n in runs), key=_command_rank)

    # files no command documents: a broken one is reported on the page, it does not stop it
    rest = [n for n in files if n not in used and not n.startswith(".")]
    readers: list[tuple[str, Callable[[Path], Any], list[Any]]] = [
        (".png", read_png, out.other_images), (".csv", read_csv, out.other_tables),
        (".json", read_json, out.other_json)]
    for name in rest:
        for suffix, reader, into in readers:
            if name.lower().endswith(suffix):
                try:
                    into.append(reader(files[name]))
                except DataError as exc:
                    out.unreadable.append((files[name], exc.reason))

    return out
