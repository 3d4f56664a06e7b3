"""The clinic's admin: one module per page family.

- doctor.py, department.py: the two record pages and their lists
- member_list/: the membership list, a department's member management (its
  columns, in-place edits, actions and the "Add doctors" form)
- membership_inline.py: the doctor page's membership rows and their validation
- membership_history_page.py: membership changes on a History page
- membership_messages.py: the message after a save that changed memberships
- forms.py: the record forms, with optimistic locking
- integrity.py: constraint violations told as messages
- filters.py: list filters
- csv_io.py: CSV import and export pages, and the import runs
- feed.py: the change-history feed, read-only
- changesets.py: the reason field on forms and actions (one field, one box:
  doctors/templatetags/change_reason.py), and change-set pages
- naming.py: records named in a message, a few at most
- confirm_destroy.py: the page asked before a bulk delete or a removal from a
  department (bounded list of names, the reason box)
- bulk_delete.py: deleting selected doctors or departments through that page
- autocomplete.py: the admin's autocomplete with doctors told apart (license,
  primary department) and a department's members left out when asked
- email_failures.py: welcome emails that could not be sent, and sending them again
"""

from .changesets import ChangeReasonMixin, ChangeSetAdmin
from .csv_io import CsvImportExportMixin, ImportRunAdmin
from .department import DepartmentAdmin
from .doctor import DoctorAdmin
from .email_failures import WelcomeEmailFailureAdmin
from .feed import ActivityEventAdmin
from .integrity import ConstraintSafeAdminMixin, explain_integrity_error
from .member_list import MembershipAdmin
from .membership_inline import MembershipFormSet

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
