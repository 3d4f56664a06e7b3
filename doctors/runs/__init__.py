"""Runs: imports, undos, redos and reverts, and their one life.

Every run has a status row in the database (an import its ImportRun; an
undo, redo or revert its Run), is claimed once by a conditional UPDATE (a
second submission does nothing and is told what became of the first), runs
here or in the worker by one rule, and reports progress one way. The admin
views, the commands and the worker call these modules; none of them holds a
state machine of its own.

    access.py     who may see a run and who may act on it (import, confirm,
                  undo or redo, revert)
    placement.py  here or in the worker
    status.py     the claim, the end of a run, what a second submission is
                  told; clearing up stale rows
    imports.py    the life of an import: upload, preview, confirm, import
    undos.py      the life of an undo or redo of an import
    reverts.py    the life of a revert of a doctor or a department
    tasks.py      the worker's tasks (large imports, undos and redos)
    progress.py   progress: stored for the progress page, drawn on a terminal
    locks.py      table locks held while a run checks and writes
    spool.py      the temporary file a run's planned writes wait in

The engines they drive: doctors.importing (reading and checking files,
writing rows), doctors.undo (reversing a change-set) and
doctors.timetravel.revert (a record back to a moment).
"""
