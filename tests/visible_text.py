"""The text a person sees on a page: what the browser would render as words,
without markup, attribute values, scripts, styles or hidden elements."""

from html.parser import HTMLParser

# Elements whose content is never read as text on the page.
_SILENT = {"script", "style", "template", "head", "noscript"}
_VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
    "source", "track", "wbr",
}  # fmt: skip


class _VisibleText(HTMLParser):
    def __init__(self, skip: tuple[str, ...]):
        super().__init__()
        self.skip = set(skip)
        self.stack: list[tuple[str, bool]] = []
        self.words: list[str] = []

    def _silent(self) -> bool:
        return any(silent for _tag, silent in self.stack)

    def handle_starttag(self, tag, attrs):
        if tag in _VOID:
            return
        names = dict(attrs)
        silent = (
            tag in _SILENT
            or tag in self.skip
            or "hidden" in names
            or names.get("aria-hidden") == "true"
            or "visually-hidden" in (names.get("class") or "").split()
        )
        self.stack.append((tag, silent))

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                return

    def handle_data(self, data):
        if not self._silent() and data.strip():
            self.words.append(data.strip())


def visible_text(html: str, *, skip: tuple[str, ...] = ()) -> str:
    """The page's words, one text node a line; elements named in `skip` are
    left out too."""
    parser = _VisibleText(skip)
    parser.feed(html)
    return "\n".join(parser.words)
