"""The importer's own error: the file as a whole cannot be imported.

Kept apart from the readers and the checks (and free of Django) so that the
process that reads an untrusted file (readers.sandbox) can raise it too.
"""


class ImportFileError(Exception):
    """The file as a whole cannot be imported (nothing was written)."""

    def __init__(self, message: str, *, row: int | None = None):
        super().__init__(message)
        self.message = message
        self.row = row

    def __reduce__(self):
        return _rebuild, (type(self), self.message, self.row)


def _rebuild(kind, message: str, row: int | None) -> "ImportFileError":
    return kind(message, row=row)
