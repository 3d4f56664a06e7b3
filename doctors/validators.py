"""Rules on single values: on the model (so in every admin form) and in the importer."""

import re

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

# C0 and C1 control characters (line breaks, tabs, NUL, ...) and the Unicode
# line and paragraph separators: none belongs in a name, code, email or phone,
# and each breaks the places these values go (email headers, log lines, CSV).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
NAMES = {"\n": "a line break", "\r": "a line break", "\t": "a tab", "\x00": "NUL"}


@deconstructible
class SingleLineValidator:
    """Refuses a value holding a control character; says which one and where."""

    code = "control_character"

    def __call__(self, value) -> None:
        match = CONTROL_CHARACTERS.search(str(value))
        if match is None:
            return
        character = match.group()
        name = NAMES.get(character, f"the control character U+{ord(character):04X}")
        raise ValidationError(
            "Must be on one line without control characters: found %(name)s at "
            "character %(position)d.",
            code=self.code,
            params={"name": name, "position": match.start() + 1},
        )

    def __eq__(self, other) -> bool:
        return isinstance(other, SingleLineValidator)

    def __hash__(self) -> int:
        return hash(SingleLineValidator)


validate_single_line = SingleLineValidator()
