"""Parse a report page with the standard library's HTML parser, for structural assertions."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

URL_ATTRIBUTES = {"src", "href", "srcset", "action", "poster", "data", "formaction",
                  "background", "cite", "longdesc", "manifest", "ping", "xlink:href"}


@dataclass
class Page:
    tags: list[str] = field(default_factory=list)
    urls: list[tuple[str, str, str]] = field(default_factory=list)  # (tag, attribute, value)
    ids: list[str] = field(default_factory=list)
    section_ids: list[str] = field(default_factory=list)
    images: list[dict[str, str]] = field(default_factory=list)
    style: str = ""
    title: str = ""
    sections_rows: dict[str, int] = field(default_factory=dict)  # <tr> count per section


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._in: list[str] = []
        self._section: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.page.tags.append(tag)
        for k, v in a.items():
            if k in URL_ATTRIBUTES:
                self.page.urls.append((tag, k, v))
        if "id" in a:
            self.page.ids.append(a["id"])
        if tag == "section":
            self.page.section_ids.append(a.get("id", ""))
            self._section = a.get("id", "")
        if tag == "img":
            self.page.images.append(a)
        if tag == "tr" and self._section is not None:
            self.page.sections_rows[self._section] = self.page.sections_rows.get(
                self._section, 0) + 1
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._section = None
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "style":
            self.page.style += data
        if self._in and self._in[-1] == "title":
            self.page.title += data


def parse(html_text: str) -> Page:
    parser = _Parser()
    parser.feed(html_text)
    parser.close()
    return parser.page
