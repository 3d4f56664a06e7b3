"""Formula escaping (doctors/formulas.py), one rule for every file written."""

import pytest

from doctors.dashboard.feed_csv import formula_safe
from doctors.formulas import neutralize, restore


@pytest.mark.parametrize(
    "value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "'=1", "''+x", "plain", ""]
)
def test_a_neutralized_value_comes_back_unchanged(value):
    assert restore(neutralize(value)) == value
    assert not neutralize(value).startswith(("=", "+", "-", "@", "\t", "\r"))


def test_the_feed_csv_escapes_as_the_exports_do():
    """A value that already looks escaped gets one more quote, in the feed too,
    so that reading it back gives the value."""
    assert formula_safe("'=1") == neutralize("'=1") == "''=1"
    assert formula_safe(None) == ""
    assert formula_safe(-5) == "'-5"
