"""The clinic's admin: one module per page family.

- doctor.py, department.py: the two record pages and their lists
- members.py: the membership list, a department's member management
- memberships.py: the doctor page's membership inline, its validation, History
  rows and the message after a save
- forms.py: the record forms, with optimistic locking
- integrity.py: constraint violations told as messages
- filters.py: list filters
- csv_io.py: CSV import and export pages, and the import runs
- feed.py: the change-history feed, read-only
- changesets.py: the reason field on forms and actions, and change-set pages
- email_failures.py: welcome emails that could not be sent, and sending them again
"""

from .changesets import ChangeReasonMixin, ChangeSetAdmin
from .csv_io import CsvImportExportMixin, ImportRunAdmin
from .department import DepartmentAdmin
from .doctor import DoctorAdmin
from .email_failures import WelcomeEmailFailureAdmin
from .feed import ActivityEventAdmin
from .integrity import ConstraintSafeAdminMixin, explain_integrity_error
from .members import MembershipAdmin
from .memberships import MembershipFormSet

__all__ = [
    "ActivityEventAdmin",
    "ChangeReasonMixin",
    "ChangeSetAdmin",
    "ConstraintSafeAdminMixin",
    "CsvImportExportMixin",
    "DepartmentAdmin",
    "DoctorAdmin",
    "ImportRunAdmin",
    "MembershipAdmin",
    "MembershipFormSet",
    "WelcomeEmailFailureAdmin",
    "explain_integrity_error",
]
