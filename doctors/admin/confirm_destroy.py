"""The page asked before destroying: a bulk delete of doctors or departments,
or removing doctors from a department.

It names what will go, bounded (the first LISTED names, then "and 412
more"), takes the optional reason for the change history (and, when the caller
gives one, a form of its own, such as the members' last day), and posts the
same selection again with post=yes; only that second request changes
anything.
"""

from collections.abc import Iterable

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.template.response import TemplateResponse

# Names listed on the page; the count says how many more.
LISTED = 50
# What a confirmation posts again: the action, the selection and, on the
# member list, the version of each ticked row as the list showed it.
CARRIED = ("action", "index", "select_across", ACTION_CHECKBOX_NAME)
CARRIED_PREFIXES = ("row-version-",)


def carried_fields(post) -> list[tuple[str, str]]:
    """The posted fields the confirmation sends again, as they came (so no
    more than the list page sent)."""
    fields = []
    for name in post:
        if name in CARRIED or name.startswith(CARRIED_PREFIXES):
            fields.extend((name, value) for value in post.getlist(name))
    return fields


def confirmation_page(
    model_admin,
    request,
    *,
    title: str,
    question: str,
    consequence: str = "",
    names: Iterable[str],
    total: int,
    listed_heading: str,
    confirm_label: str,
    back_url: str,
    back_label: str,
    form=None,
) -> TemplateResponse:
    names = list(names)[:LISTED]
    more = total - len(names)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "question": question,
        "consequence": consequence,
        "listed_heading": listed_heading,
        "names": names,
        "more": more,
        "more_text": f"{more:,}",
        "carried": carried_fields(request.POST),
        "post_url": request.get_full_path(),
        "confirm_label": confirm_label,
        "back_url": back_url,
        "back_label": back_label,
        "form": form,
    }
    return TemplateResponse(request, "admin/doctors/confirm_destroy.html", context)
