"""What the journeys do on the admin pages, in the words of the user.

Each helper waits for what the user would wait for (the next page, the list of
autocomplete choices), so a journey reads as a list of steps and never sleeps.
After a helper that submits a form returns, the server has answered and the
page has loaded: the test may use the ORM again (see conftest.py).
"""

import re

from django.urls import reverse
from playwright.sync_api import Locator, Page, expect

from tests.factories import USER_PASSWORD


def log_in(page: Page, username: str, password: str = USER_PASSWORD) -> None:
    """Log in through the admin's login form and land on the admin index."""
    page.goto(reverse("admin:login"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


def open_admin(page: Page, url_name: str, *args) -> None:
    """Open an admin page by its URL name, e.g. ("admin:doctors_doctor_add",)."""
    page.goto(reverse(url_name, args=args))


def messages(page: Page) -> Locator:
    """The messages at the top of an admin page ("… was added successfully")."""
    return page.locator("ul.messagelist li")


def expect_message(page: Page, text: str) -> None:
    expect(messages(page).filter(has_text=text)).to_have_count(1)


def form_errors(page: Page) -> Locator:
    """The errors shown on a change form that did not save."""
    return page.locator(".errornote, ul.errorlist li")


class ChangeForm:
    """An admin add or change form, with its inline rows."""

    def __init__(self, page: Page):
        self.page = page

    def field(self, label: str) -> Locator:
        """The field labelled `label` (the admin adds a colon to labels)."""
        return self.page.get_by_label(re.compile(rf"^{re.escape(label)}:?$"))

    def fill(self, label: str, value: str) -> None:
        self.field(label).fill(value)

    def choose(self, label: str, option: str) -> None:
        self.field(label).select_option(label=option)

    def add_inline_row(
        self, link_text: str, prefix: str = "memberships"
    ) -> "InlineRow":
        """Click "Add another <verbose name>" and return the new, empty row."""
        rows = self.page.locator(f"tr.form-row.dynamic-{prefix}")
        before = rows.count()
        self.page.get_by_role("button", name=re.compile(link_text, re.I)).click()
        expect(rows).to_have_count(before + 1)
        return InlineRow(self.page, rows.nth(before))

    def inline_row(self, text: str) -> "InlineRow":
        """The saved inline row whose heading mentions `text` (e.g. a name)."""
        row = self.page.locator("tr.form-row.has_original").filter(has_text=text)
        expect(row).to_have_count(1)
        return InlineRow(self.page, row)

    def save(self) -> None:
        """Click Save and wait for the page the server answers with."""
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="Save", exact=True).click()


class InlineRow:
    """One row of a tabular inline (a membership on a doctor or department)."""

    def __init__(self, page: Page, row: Locator):
        self.page = page
        self.row = row

    def pick(self, field: str, search: str, option: str) -> None:
        """Type `search` into the field's autocomplete box and pick `option`."""
        pick_autocomplete(
            self.page, self.row.locator(f"td.field-{field}"), search, option
        )

    def choose(self, field: str, option: str) -> None:
        self.row.locator(f"td.field-{field} select").select_option(label=option)

    def check(self, field: str) -> None:
        self.row.locator(f"td.field-{field} input[type=checkbox]").check()

    def mark_for_deletion(self) -> None:
        self.row.locator("td.delete input[type=checkbox]").check()


def pick_autocomplete(page: Page, cell: Locator, search: str, option: str) -> None:
    """Use the admin's select2 autocomplete widget the way a user does: open it,
    type, wait for the server's suggestions, click one."""
    cell.locator(".select2-selection").click()
    # select2 opens one search box at a time, at the end of <body>.
    search_box = page.locator(".select2-container--open .select2-search__field")
    search_box.fill(search)
    choice = page.locator(
        ".select2-container--open .select2-results__option",
        has_text=re.compile(rf"^{re.escape(option)}$"),
    )
    expect(choice).to_have_count(1)
    choice.click()
    expect(cell.locator(".select2-selection__rendered")).to_have_text(option)


def search_changelist(page: Page, text: str) -> None:
    """Type into a change list's search box and submit it."""
    page.locator("#searchbar").fill(text)
    with page.expect_navigation():
        page.locator("#searchbar").press("Enter")


def changelist_rows(page: Page) -> Locator:
    return page.locator("#result_list tbody tr")
