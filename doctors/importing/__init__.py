"""Bulk CSV import of doctors and departments: strict, atomic, streaming.

parsing (CSV bytes -> rows), readers (the other formats: .xlsx, .ods and JSON
read within limits, in a separate process; a package), errors (the
importer's own error), values (how values are written in the files),
validation (rows -> clean values and problems), diff
(clean values vs the database), writer (bulk writes with history), runner (the
two passes in one transaction, the feed event, the run record), service (a
run's life: upload, preview, confirm, the worker's run, clearing up; the admin,
the commands and the task call it), storage (the uploaded bytes), text (values
quoted in messages). Nothing here imports the admin.
"""
