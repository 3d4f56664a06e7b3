"""A JSON list of objects, one per row, as django-import-export writes it.

Read block by block; one object at a time is decoded, and an object longer
than `json_object_chars` is refused before it is decoded. Values may be text,
numbers, true/false or null. Refused, naming the object: a number longer than
`number_chars` or too large for a float, NaN and Infinity (which JSON does not
have), a key given twice in one object, nesting deeper than Python's parser
goes. Row numbers count the objects (the first is 1).
"""

import codecs
import json
import math
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

from ..errors import ImportFileError
from .cells import number_text
from .limits import ReaderLimits

BLOCK = 1 << 16


class JsonObject(NamedTuple):
    number: int  # the first object is 1
    value: object


class _Refused(Exception):
    """Raised inside the decoder's hooks; becomes an ImportFileError that
    names the object."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class JsonObjects:
    """The objects of a JSON list, numbered."""

    def __init__(self, stream: BinaryIO, encoding: str, limits: ReaderLimits):
        self.stream = stream
        self.encoding = encoding
        self.limits = limits
        self.decoder = json.JSONDecoder(
            object_pairs_hook=self._object,
            parse_int=self._int,
            parse_float=self._float,
            parse_constant=self._constant,
        )

    def _object(self, pairs: list[tuple[str, object]]) -> dict:
        value = dict(pairs)
        if len(value) != len(pairs):
            seen: set[str] = set()
            twice = next(key for key, _ in pairs if key in seen or seen.add(key))
            raise _Refused(f"the key {twice[:60]!r} is given twice")
        return value

    def _int(self, text: str) -> int:
        if len(text) > self.limits.number_chars:
            raise _Refused(f"a number has more than {self.limits.number_chars} digits")
        return int(text)

    def _float(self, text: str) -> float:
        if len(text) > self.limits.number_chars:
            raise _Refused(
                f"a number has more than {self.limits.number_chars} characters"
            )
        value = float(text)
        if not math.isfinite(value):
            raise _Refused(f"the number {text} is too large")
        return value

    def _constant(self, text: str) -> float:
        raise _Refused(f"{text} is not a number JSON allows")

    def __iter__(self) -> Iterator[JsonObject]:
        self.stream.seek(0)
        text = _Text(
            codecs.getreader(self.encoding)(self.stream), self.limits.json_object_chars
        )
        if text.peek() == "\ufeff":
            text.position += 1
        if text.peek() == "":
            raise ImportFileError("The file is empty.")
        if text.peek() != "[":
            raise ImportFileError(
                "This JSON file is not a list of objects: it must start with [ "
                "(as an export writes it)."
            )
        text.position += 1
        number = 0
        while True:
            char = text.peek()
            if char == "]":
                text.position += 1
                if text.peek() != "":
                    raise ImportFileError(
                        "There is more after the closing ] of the list."
                    )
                return
            if number:
                if char != ",":
                    raise ImportFileError(
                        f"A , or ] was expected after object {number}"
                        + (" (the file ends too early)." if char == "" else "."),
                        row=number,
                    )
                text.position += 1
                text.peek()
            if number >= self.limits.rows:
                raise ImportFileError(
                    f"The file has more than {self.limits.rows:,} objects; that is "
                    "more than can be imported.",
                    row=number + 1,
                )
            value, end = self._decode(text, number + 1)
            number += 1
            text.position = end
            yield JsonObject(number, value)

    def _decode(self, text: "_Text", number: int) -> tuple[object, int]:
        while True:
            try:
                return self.decoder.raw_decode(text.buffer, text.position)
            except json.JSONDecodeError as error:
                if text.more():
                    continue
                if text.too_long:
                    message = (
                        f"Object {number} is longer than "
                        f"{self.limits.json_object_chars:,} characters; no row is."
                    )
                else:
                    message = f"Object {number} is not valid JSON ({error.msg})."
                raise ImportFileError(message, row=number) from None
            except _Refused as refusal:
                raise ImportFileError(
                    f"Object {number} cannot be read: {refusal.message}.", row=number
                ) from None
            except RecursionError:
                raise ImportFileError(
                    f"Object {number} nests lists or objects too deeply; a row "
                    "holds only text, numbers, true/false or null.",
                    row=number,
                ) from None


def cell_text(item: object) -> str | None:
    """A JSON value as a cell's text; None for a list or an object."""
    if item is None:
        return ""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, (int, float)):
        return number_text(item)
    if isinstance(item, str):
        return item.strip()
    return None


class _Text:
    """Decoded text read block by block, with the part not yet parsed."""

    def __init__(self, reader, longest: int):
        self.reader = reader
        self.longest = longest
        self.buffer = ""
        self.position = 0
        self.too_long = False

    def more(self) -> bool:
        """Read another block; False at the end of the file or when the part
        not yet parsed is already longer than one object may be."""
        if len(self.buffer) - self.position > self.longest:
            self.too_long = True
            return False
        data = self.reader.read(BLOCK)
        if not data:
            return False
        self.buffer = self.buffer[self.position :] + data
        self.position = 0
        return True

    def peek(self) -> str:
        """The next character that is not white space ("" at the end)."""
        while True:
            while self.position < len(self.buffer):
                if self.buffer[self.position] not in " \t\r\n":
                    return self.buffer[self.position]
                self.position += 1
            if not self.more():
                return ""
