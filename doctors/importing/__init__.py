"""Bulk CSV import of doctors and departments: strict, atomic, streaming.

parsing (bytes -> rows), validation (rows -> clean values and problems), diff
(clean values vs the database), writer (bulk writes with history), runner (the
two passes in one transaction, the feed event, the run record).
"""
