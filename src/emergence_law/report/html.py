"""Build the one-file HTML report of a results folder: the page's layout.

The page is self-contained on purpose: plots are base64 ``data:`` URIs, the CSS is inline, there
is no script and no external URL, and a Content-Security-Policy forbids the browser to fetch
anything but embedded images. It can be mailed, archived or opened offline and will look the
same in ten years. Sections follow the pipeline (fit, ground truth, backtest, ablations,
comparisons, loss to size, the ladder forecast, PassUntil, the toy lab, the data used, settings
and versions) and appear only when their
files are present, in the folder itself or in one of its immediate subfolders. The sections
themselves are drawn in :mod:`.sections`, their words in :mod:`.sentences`.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping
from pathlib import Path

from emergence_law import __version__
from emergence_law.atomic import atomic_write_text
from emergence_law.errors import SettingError
from emergence_law.provenance import versions
from emergence_law.report.collect import ResultsFolder, collect_tree
from emergence_law.report.render import esc, figure, json_html, key_values
from emergence_law.report.sections import OTHER_ROWS_SHOWN, Section, long_table
from emergence_law.report.sections import sections as result_sections
from emergence_law.report.sentences import answer, data_origin, headline

#: the browser may load embedded images and inline styles, nothing else (no network, no script)
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

CSS = """
:root { --fg:#1d232a; --muted:#5b6570; --line:#d8dde3; --accent:#1f5fa8; --bg-alt:#f4f6f8; }
* { box-sizing: border-box; }
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif;
       color: var(--fg); margin: 0 auto; padding: 1.5rem 2rem 4rem; max-width: 1100px;
       line-height: 1.45; font-size: 15px; }
h1 { font-size: 1.7rem; margin: 0 0 .3rem; }
h2 { font-size: 1.3rem; margin: 2.2rem 0 .6rem; padding-bottom: .25rem;
     border-bottom: 2px solid var(--accent); }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
.meta, .note, figcaption, .caption { color: var(--muted); font-size: .9rem; }
nav ol { columns: 2; margin: .6rem 0 0; padding-left: 1.3rem; }
nav a, a { color: var(--accent); text-decoration: none; }
.headline { background: var(--bg-alt); border-left: 4px solid var(--accent);
            padding: .6rem 1rem; margin: 1rem 0; }
.headline li { margin: .2rem 0; }
.answer { background: #eef5ee; border-left: 4px solid #2a7d46; padding: .5rem 1rem .7rem;
          margin: 1rem 0; }
.answer h2 { border: none; margin: .2rem 0 .4rem; font-size: 1.25rem; }
.answer li { margin: .3rem 0; }
.answer .big { font-size: 1.1rem; }
.flag { color: #9a5b00; font-weight: 600; }
.warn { background: #fff4e0; border-left: 4px solid #d98b00; padding: .4rem .8rem; }
.scroll { overflow-x: auto; margin: .5rem 0 1rem; }
.scroll.tall { max-height: 36rem; overflow-y: auto; border-bottom: 1px solid var(--line); }
.scroll.tall thead th { position: sticky; top: 0; }
td.t, th.t { text-align: left; }
td.t { white-space: nowrap; } td.long { white-space: normal; min-width: 24rem; }
details summary { cursor: pointer; color: var(--accent); margin: .4rem 0; }
.pair { display: flex; flex-wrap: wrap; gap: 0 2.5rem; align-items: flex-start; }
table { border-collapse: collapse; font-size: .85rem; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: .2rem 0; }
th, td { border: 1px solid var(--line); padding: .22rem .5rem; text-align: right;
         vertical-align: top; }
th { background: var(--bg-alt); }
table.kv th { text-align: left; font-weight: 500; }
table.kv td { text-align: left; }
td.ok { background: #e3f4e6; } td.bad { background: #fbe4e4; }
tbody tr:nth-child(even) td { background-color: #fafbfc; }
tbody tr:nth-child(even) td.ok { background: #d9efdd; }
tbody tr:nth-child(even) td.bad { background: #f6dada; }
figure { margin: 1rem 0 1.5rem; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .82rem; }
pre { background: var(--bg-alt); padding: .6rem .8rem; overflow-x: auto; white-space: pre-wrap; }
.file { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .8rem; }
@media print { .scroll.tall { max-height: none; } nav { display: none; } }
@media (max-width: 640px) { body { padding: 1rem .8rem 3rem; font-size: 14px; }
  nav ol { columns: 1; } td.long { min-width: 12rem; }
  .answer, .headline { padding: .4rem .6rem; } .answer ul, .headline ul { padding-left: 1.1rem; }
  h1 { font-size: 1.35rem; } }
footer { margin-top: 3rem; color: var(--muted); font-size: .8rem; }
"""


def _settings_section(parts: list[ResultsFolder]) -> Section:
    body = []
    records = [(res, doc) for res in parts for doc in res.provenance]
    if not records:
        body.append('<p class="note">No provenance records (run_*.json) in the folder: the '
                    "settings of the runs are unknown.</p>")
    for res, doc in records:
        rec = doc.content
        command = rec.get("command", doc.name)
        where = f" <span class=\"file\">in {esc(res.label)}</span>" if res.part else ""
        body.append(f"<h3><code>{esc(command)}</code>{where}</h3>")
        meta = []
        if "time" in rec:
            meta.append(f"run at {esc(rec['time'])}")
        if "platform" in rec:
            meta.append(f"on {esc(rec['platform'])}")
        meta.append(f'<span class="file">{esc(doc.name)}</span>')
        body.append(f'<p class="meta">{", ".join(meta)}</p>')
        argv = rec.get("argv")
        if isinstance(argv, list) and argv:
            words = [str(a) for a in argv]
            words[0] = Path(words[0]).name
            body.append(f"<pre>{esc(shlex.join(words))}</pre>")
        tables = []
        if isinstance(rec.get("options"), Mapping) and rec["options"]:
            tables.append(key_values(rec["options"], caption="Options"))
        if isinstance(rec.get("versions"), Mapping):
            tables.append(key_values(rec["versions"], caption="Versions"))
        body.append(f'<div class="pair">{"".join(tables)}</div>')
        rest = {k: v for k, v in rec.items()
                if k not in ("command", "time", "platform", "argv", "options", "versions")}
        if rest:
            body.append(key_values(rest, caption="Other"))
    body.append("<h3>This report</h3>" + key_values(versions(), caption="Built with"))
    return Section("settings", "Settings and versions", "".join(body))


def _other_section(res: ResultsFolder) -> Section | None:
    if not (res.other_images or res.other_tables or res.other_json or res.unreadable):
        return None
    body = [f'<p class="warn"><span class="file">{esc(path.name)}</span> could not be read: '
            f"{esc(reason)}</p>" for path, reason in res.unreadable]
    for img in res.other_images:
        body.append(figure(img, img.path.stem.replace("_", " ")))
    for tab in res.other_tables:
        body.append(f'<h3 class="file">{esc(tab.name)}</h3>'
                    + long_table(tab.frame, "data", tab.name, OTHER_ROWS_SHOWN))
    for doc in res.other_json:
        body.append(f'<h3 class="file">{esc(doc.name)}</h3>' + json_html(doc.content))
    return Section("other", "Other outputs", "".join(body))


#: the order of the result sections: the forecast first, the data it used last
SECTION_ORDER = ("fit", "ground-truth", "backtest", "ablations", "compare", "to-params", "ladder",
                 "passuntil", "lab", "data")


def _section_rank(section: Section) -> int:
    for i, kind in enumerate(SECTION_ORDER):
        if section.anchor == kind or section.anchor.endswith("-" + kind):
            return i
    return len(SECTION_ORDER)


def _part_rank(res: ResultsFolder) -> tuple[int, int]:
    """The folder itself first, except that an MCMC fit (the default) leads other fits."""
    method = res.fit.posterior_method if res.fit is not None else None
    return (0 if method == "mcmc" else 1 if res.fit is not None else 2,
            0 if res.part is None else 1)


def render_report(parts: ResultsFolder | list[ResultsFolder]) -> str:
    """The report page for an already collected results folder (and its subfolder parts)."""
    if isinstance(parts, ResultsFolder):
        parts = [parts]
    root = parts[0].root if parts[0].part is None else parts[0].root.parent
    fits = [res.fit for res in parts if res.fit is not None]
    task = fits[0].task if fits else None
    title = f"emergence-law report: {task}" if task else "emergence-law report"
    parts = sorted(parts, key=_part_rank)
    sections = sorted((s for res in parts for s in result_sections(res)), key=_section_rank)
    sections += [o.in_part(res) for res in parts if (o := _other_section(res))]
    sections.append(_settings_section(parts))
    lines = [f"<span class=\"file\">{esc(res.label)}</span> {item}" if res.part else item
             for res in parts for item in headline(res)]
    origin = data_origin(parts)
    if origin:
        lines.append(origin)
    nav = "".join(f'<li><a href="#{esc(s.anchor)}">{esc(s.title)}</a></li>' for s in sections)
    page = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',  # constant, no " inside
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="emergence-law {esc(__version__)}">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{esc(title)}</h1>",
        f'<p class="meta">Results folder <span class="file">{esc(root.resolve())}</span>; '
        f"report built {esc(time.strftime('%Y-%m-%d %H:%M:%S %Z'))} by emergence-law "
        f"{esc(__version__)}.</p></header>",
    ]
    top = answer(parts)
    if top:
        page.append(top)
    if lines:
        page.append('<div class="headline"><b>Every result in one line</b><ul>'
                    + "".join(f"<li>{h}</li>" for h in lines) + "</ul></div>")
    page.append(f"<nav><b>Contents</b><ol>{nav}</ol></nav>")
    page.extend(s.html() for s in sections)
    page.append("<footer>Self-contained report: every plot is embedded; the page loads nothing "
                "from the network.</footer></body></html>")
    return "\n".join(page) + "\n"


def build_report(results_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the self-contained HTML report of ``results_dir`` and return its path.

    Immediate subfolders holding a command's outputs (e.g. ``passuntil_fit/``, the default
    ``--out`` of ``passuntil fit``) are reported too, each section labelled with its subfolder.
    ``out`` defaults to ``results_dir/report.html``. The file is written atomically (a reader
    never sees half a report). Raises :class:`~emergence_law.errors.OptionError` for a missing
    folder or an unusable ``out`` (a ``SettingError`` naming ``out``) and
    :class:`~emergence_law.errors.DataError` for a folder with no known outputs or an unreadable
    file.
    """
    parts = collect_tree(results_dir)
    target = Path(out) if out is not None else Path(results_dir) / "report.html"
    if target.is_dir():
        raise SettingError("out", f"{target} is a folder, expected an .html file name")
    page = render_report(parts)
    return atomic_write_text(target, page)
