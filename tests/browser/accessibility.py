"""Accessibility for the journeys: axe-core's WCAG 2.1 A and AA rules
(`axe_violations`, `assert_no_axe_violations`), and our own basics: every form
field is named, every chart has a text alternative.

axe-core comes inside the axe-playwright-python package (its axe.min.js), so
nothing is downloaded; it runs in the page as the browser rendered it.

`accessibility_problems(page)` reads the page as the browser rendered it and
returns one line per problem (an empty list when there is none); journeys call
`assert_accessible(page)`. It is not a full audit: it checks what our own pages
(the dashboard, the import progress page) must get right.

Form fields are <input> (not hidden, not a button), <select>, <textarea> and
elements with an input role (combobox, textbox, checkbox, ...), rendered and not
hidden from assistive technology. A field counts as named by a <label> (for= or
around it), aria-label, aria-labelledby pointing at text, or a title.

Charts are rendered <svg> and <canvas> elements that are not marked decorative
(aria-hidden="true", role="presentation" or role="none"). A chart counts as
described by aria-label, aria-labelledby pointing at text, a <title> child with
text (SVG), aria-describedby or aria-details pointing at a <table> (or at an
element holding one), or a <table> in the same <figure>.
"""

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

_FIND_PROBLEMS = """
() => {
  const problems = [];
  // Text a label gives: its text, and the alt or aria-label of what it holds
  // (Django's search box is labelled by a magnifier image with alt="Search").
  const text = (element) => {
    if (!element) return "";
    const parts = [element.getAttribute("aria-label") || ""];
    for (const node of element.childNodes) {
      if (node.nodeType === Node.TEXT_NODE) parts.push(node.textContent);
      else if (node.nodeType === Node.ELEMENT_NODE) {
        parts.push(node.getAttribute("alt") || "", text(node));
      }
    }
    return parts.join(" ").trim();
  };
  const referencedText = (element, attribute) =>
    (element.getAttribute(attribute) || "")
      .split(/\\s+/)
      .filter(Boolean)
      .map((id) => text(document.getElementById(id)))
      .join(" ")
      .trim();
  const hiddenFromUsers = (element) =>
    element.closest("[aria-hidden='true'], [hidden]") !== null ||
    element.getClientRects().length === 0;
  const describe = (element) => {
    const tag = element.tagName.toLowerCase();
    const name = element.getAttribute("name");
    if (element.id) return `${tag}#${element.id}`;
    if (name) return `${tag}[name=${name}]`;
    const role = element.getAttribute("role");
    return role ? `${tag}[role=${role}]` : tag;
  };

  const fieldSelector = [
    "input:not([type=hidden]):not([type=submit]):not([type=button])" +
      ":not([type=reset]):not([type=image])",
    "select",
    "textarea",
    ...["combobox", "textbox", "searchbox", "listbox", "checkbox", "radio",
        "switch", "slider", "spinbutton"].map((role) => `[role=${role}]`),
  ].join(", ");
  for (const field of document.querySelectorAll(fieldSelector)) {
    if (hiddenFromUsers(field)) continue;
    const labelled =
      (field.getAttribute("aria-label") || "").trim() ||
      referencedText(field, "aria-labelledby") ||
      Array.from(field.labels || []).map(text).join(" ").trim() ||
      (field.getAttribute("title") || "").trim();
    if (!labelled) problems.push(`form field ${describe(field)} has no label`);
  }

  const holdsTable = (element) =>
    element !== null &&
    (element.tagName.toLowerCase() === "table" ||
      element.querySelector("table") !== null);
  for (const chart of document.querySelectorAll("svg, canvas")) {
    if (chart.parentElement && chart.parentElement.closest("svg")) continue;
    if (hiddenFromUsers(chart)) continue;
    const role = chart.getAttribute("role");
    if (role === "presentation" || role === "none") continue;
    const title = Array.from(chart.children).find(
      (child) => child.tagName.toLowerCase() === "title"
    );
    const tableIds = ["aria-describedby", "aria-details"].flatMap((attribute) =>
      (chart.getAttribute(attribute) || "").split(/\\s+/).filter(Boolean)
    );
    const figure = chart.closest("figure");
    const described =
      (chart.getAttribute("aria-label") || "").trim() ||
      referencedText(chart, "aria-labelledby") ||
      text(title) ||
      tableIds.some((id) => holdsTable(document.getElementById(id))) ||
      (figure !== null && figure.querySelector("table") !== null);
    if (!described) {
      problems.push(`chart ${describe(chart)} has no text alternative`);
    }
  }
  return problems;
}
"""


def accessibility_problems(page: Page) -> list[str]:
    """One line per unnamed form field or chart without a text alternative."""
    return page.evaluate(_FIND_PROBLEMS)


def assert_accessible(page: Page) -> None:
    """Fails with the list of problems found on the page as it is now."""
    problems = accessibility_problems(page)
    assert not problems, f"Accessibility problems on {page.url}:\n" + "\n".join(
        problems
    )


# WCAG 2.0 and 2.1, levels A and AA: the rules the clinic's pages must pass.
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
_axe = Axe()


def axe_violations(page: Page) -> list[str]:
    """One line per axe-core violation on the page as it is now: the rule, its
    impact, and the first elements it found."""
    found = _axe.run(page, options=AXE_OPTIONS).response["violations"]
    lines = []
    for violation in found:
        targets = ", ".join(
            " ".join(map(str, node["target"])) for node in violation["nodes"][:3]
        )
        lines.append(
            f"{violation['id']} ({violation['impact']}, "
            f"{len(violation['nodes'])} elements): {violation['help']} — {targets}"
        )
    return lines


def assert_no_axe_violations(page: Page) -> None:
    violations = axe_violations(page)
    assert not violations, f"axe-core on {page.url}:\n" + "\n".join(violations)
