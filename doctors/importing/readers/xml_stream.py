"""One XML part of a workbook, parsed as a stream within the limits.

expat is fed the part block by block; the handler's `open`, `close` and
`text` methods see each element as it comes, and nothing is kept but what the
handler keeps. Counted as the part is read: its unpacked bytes (by
archive.Archive), its elements and how deep they nest. A document type
declaration is refused wherever it is and whatever the encoding or byte-order
mark (expat reports it after decoding), so no entity is ever declared; an
undeclared one is an error.
"""

from collections.abc import Iterable, Iterator
from xml.parsers import expat

from ..errors import ImportFileError
from .limits import ReaderLimits

# expat joins namespace and local name with this: "urn:...:table:1.0}table-row".
NAMESPACE_END = "}"


class PartHandler:
    """Receives the elements of one part; subclasses override open/close/text.

    `capture` is set by a subclass while it wants the character data (a
    cell's text); characters are then counted against `max_text`.
    """

    def __init__(self, part: str, limits: ReaderLimits):
        self.part = part
        self.limits = limits
        self.depth = 0
        self.elements = 0
        self.capture: list[str] | None = None
        self.captured = 0
        self.max_text = limits.cell_chars
        self.max_depth = limits.xml_depth
        self.max_elements = limits.xml_elements

    def start(self, name: str, attributes: dict[str, str]) -> None:
        # The handlers of the large parts (a sheet, the shared strings) repeat
        # these three lines rather than call this: one call less per element.
        self.depth += 1
        self.elements += 1
        if self.depth > self.max_depth or self.elements > self.max_elements:
            self.too_large()
        self.open(name, attributes)

    def end(self, name: str) -> None:
        self.depth -= 1
        self.close(name)

    def too_large(self) -> None:
        if self.depth > self.max_depth:
            raise ImportFileError(
                f"Part {self.part} nests elements more than "
                f"{self.max_depth} deep; no spreadsheet does."
            )
        raise ImportFileError(
            f"Part {self.part} has more than {self.max_elements:,} "
            "elements; that is more than can be imported."
        )

    def data(self, text: str) -> None:
        if self.capture is not None:
            self.captured += len(text)
            if self.captured > self.max_text:
                self.too_much_text()
            self.capture.append(text)

    def begin_text(self) -> None:
        self.capture = []
        self.captured = 0

    def end_text(self) -> str:
        text = "".join(self.capture or ())
        self.capture = None
        return text

    def too_much_text(self) -> None:
        raise ImportFileError(
            f"Part {self.part} has a text of more than {self.max_text:,} characters."
        )

    def open(self, name: str, attributes: dict[str, str]) -> None:
        pass

    def close(self, name: str) -> None:
        pass


def _refuse_doctype(*_args) -> None:
    raise UnsafeXml


class UnsafeXml(Exception):
    """A document type declaration: how entity tricks come in."""


def parse(blocks: Iterable[bytes], handler: PartHandler) -> Iterator[None]:
    """Feed `blocks` (the part's bytes) to expat; yields after each block so
    the caller can take what the handler produced."""
    parser = expat.ParserCreate(namespace_separator=NAMESPACE_END)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    parser.buffer_size = 1 << 16
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    parser.StartElementHandler = handler.start
    parser.EndElementHandler = handler.end
    parser.CharacterDataHandler = handler.data
    try:
        for block in blocks:
            parser.Parse(block, False)
            yield
        parser.Parse(b"", True)
    except UnsafeXml:
        raise ImportFileError(
            f"Part {handler.part} cannot be read: a document type declaration "
            "is not allowed (<!DOCTYPE>, which no spreadsheet writes)."
        ) from None
    except (LookupError, ValueError):
        # pyexpat's answer to an encoding it cannot decode (UTF-7, ...).
        raise ImportFileError(
            f"Part {handler.part} is written in a text encoding that cannot be "
            "read; spreadsheet programs write UTF-8."
        ) from None
    except expat.ExpatError as error:
        raise ImportFileError(
            f"Part {handler.part} is damaged: {expat.ErrorString(error.code)} "
            f"(line {error.lineno}, column {error.offset + 1}). Open the file in "
            "the spreadsheet program and save it again."
        ) from None
    yield


def local(name: str) -> str:
    """The local part of an expat name ("table-row" of "urn:...}table-row")."""
    return name.rpartition(NAMESPACE_END)[2]
