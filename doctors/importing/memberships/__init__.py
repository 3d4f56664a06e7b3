"""Import and export of membership periods: one row per period.

A memberships file has the columns license_number, department, role, primary,
joined_on, left_on (values.py). Each row is one period, matched to a stored one
by (license number, department code, first day): found, it is corrected to
the row; not found, it is created; stored periods the file does not name are
kept. A period's first day is the key, so it is corrected in the admin, not
by a file.

The state after the whole file is checked against the period rules before
anything is written (checking.py); a file that breaks one is refused, naming
its rows, and nothing is written. The rest is the doctors import's machinery:
the readers (every format, within their limits), the run record, preview,
confirm, change-set and undo (doctors.runs).

    values.py    the columns and how their values are written and read
    checking.py  rows -> clean periods and problems; the rules on the whole file
    planning.py  clean periods vs the database: created, corrected, unchanged
    writing.py   the writes, in an order the rules allow, with history rows
    runner.py    the two passes in one transaction, the feed event, the run
    exporting.py every stored period as rows of the same columns
"""
