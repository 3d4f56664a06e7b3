"""Admin search at 100k rows on SQLite: narrowed by a trigram full-text index.

Django's admin search filters with LIKE '%term%' on every search field. On
PostgreSQL the pg_trgm indexes (migration 0010) answer that directly. SQLite
has no such index and reads every row, so there each search term of three or
more characters also restricts the rows to those whose indexed columns contain
it, as the FTS5 trigram tables of migration 0013 find them. Django's own filter
still decides which of those rows match, so what a search finds is the same on
both databases; the index only saves reading the rest. Shorter terms (the
trigram index cannot look them up, as on PostgreSQL) search as before.
"""

from django.db import connections
from django.db.models.expressions import RawSQL
from django.utils.text import smart_split, unescape_string_literal

# Fewer characters than a trigram: the index cannot look the term up.
TRIGRAM = 3


def search_terms(search_term: str) -> list[str]:
    """The terms Django's admin searches for, split and unquoted the same way."""
    terms = []
    for bit in smart_split(search_term):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
            bit = unescape_string_literal(bit)
        terms.append(bit)
    return terms


def fts_phrase(term: str) -> str:
    """An FTS5 query for `term` as one phrase: with the trigram tokenizer it
    matches rows with the term anywhere in an indexed column, in any case."""
    return '"' + term.replace('"', '""') + '"'


class TrigramSearchMixin:
    """Narrow the admin search with a SQLite FTS5 trigram table.

    `search_index` is (FTS table, lookup of the indexed row's id): the table
    must index every column `search_fields` searches on that row.
    """

    search_index: tuple[str, str]

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(
            request, queryset, search_term
        )
        if connections[queryset.db].vendor != "sqlite":
            return queryset, may_have_duplicates
        table, lookup = self.search_index
        for term in search_terms(search_term):
            if len(term) < TRIGRAM:
                continue
            found = RawSQL(
                f"SELECT rowid FROM {table} WHERE {table} MATCH %s",  # noqa: S608
                [fts_phrase(term)],
            )
            queryset = queryset.filter(**{f"{lookup}__in": found})
        return queryset, may_have_duplicates
