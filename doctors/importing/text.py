"""Values quoted in messages: short, and on one line however long the value."""

QUOTE_LIMIT = 60


def shorten(value: str, limit: int = QUOTE_LIMIT) -> str:
    """`value`, cut to `limit` characters with an ellipsis when longer."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def quoted(value: str) -> str:
    """`value` for a message: shortened, quoted, control characters escaped."""
    return repr(shorten(value))


def shown(value: str) -> str:
    """`value` shortened, and quoted only when it holds unprintable characters."""
    value = shorten(value)
    return value if value.isprintable() else repr(value)
