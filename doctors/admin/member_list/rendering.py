"""The member list's widgets, written without the template engine."""

from django import forms
from django.contrib.admin.widgets import AdminDateWidget
from django.utils.html import format_html, format_html_join


def _html_attrs(attrs: dict) -> str:
    """Attributes as Django's attrs.html writes them."""
    return format_html_join(
        "",
        "{}",
        (
            (
                format_html(" {}", name)
                if value is True
                else format_html(' {}="{}"', name, value),
            )
            for name, value in attrs.items()
            if value is not False and value is not None
        ),
    )


def render_directly(widget: forms.Widget) -> None:
    """Make `widget` write its HTML without the template engine.

    The list renders about five widgets a row; through templates that is most
    of the page's time (about 2 ms a row). The markup is what Django's widget
    templates write: an <input>, or a <select> of <option>s; a date keeps the
    admin's <p class="date"> wrapper.
    """

    def render(name, value, attrs=None, renderer=None):
        context = widget.get_context(name, value, attrs)["widget"]
        if isinstance(widget, forms.Select):
            options = format_html_join(
                "",
                '<option value="{}"{}>{}</option>',
                (
                    (option["value"], _html_attrs(option["attrs"]), option["label"])
                    for _, group, _ in context["optgroups"]
                    for option in group
                ),
            )
            return format_html(
                '<select name="{}"{}>{}</select>',
                context["name"],
                _html_attrs(context["attrs"]),
                options,
            )
        value_attr = (
            format_html(' value="{}"', context["value"])
            if context["value"] is not None
            else ""
        )
        html = format_html(
            '<input type="{}" name="{}"{}{}>',
            context["type"],
            context["name"],
            value_attr,
            _html_attrs(context["attrs"]),
        )
        if isinstance(widget, AdminDateWidget):
            html = format_html('<p class="date">{}</p>', html)
        return html

    widget.render = render
