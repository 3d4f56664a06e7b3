"""Time travel: the clinic as the history tables recorded it at a past moment.

- moments.py: what was recorded up to a moment (a department's members on a
  date, a doctor's or a department's memberships, an object's fields)
- timeline.py: a doctor's membership timeline (joined, role and primary
  changes, left), read from the membership history
- revert.py: put a doctor or a department back to a point in its history,
  fields and memberships, with a preview and the conflicts that stop it

Every answer comes from simple-history's tables, which every road that changes
memberships writes (see doctors.m2m_history for the one road Django
leaves without a history row).
"""
