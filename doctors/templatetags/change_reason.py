"""`{% reason_box "Reason for this change" %}`: the optional reason typed with a
save, a deletion, an import, an undo or a revert, written in one place (the
field is doctors.admin.changesets.reason_field)."""

from django import template

from ..admin.changesets import ReasonForm

register = template.Library()


@register.inclusion_tag("admin/doctors/includes/reason_box.html", takes_context=True)
def reason_box(context, label: str = "Reason") -> dict:
    request = context.get("request")
    # After a refused save the page shows again with what was typed.
    data = request.POST if request is not None and request.method == "POST" else None
    return {"field": ReasonForm(data, label=label)["change_reason"]}
