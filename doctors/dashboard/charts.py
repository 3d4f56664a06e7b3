"""Charts drawn on the server as SVG geometry; the templates only place it.

No JavaScript and no styles in the markup: colours come from classes in
static/clinic/dashboard.css, so the page works offline and under a strict CSP.
"""

import datetime
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.formats import date_format, localize

SERIES = (
    ("edits", "Doctor and department edits"),
    ("memberships", "Membership changes"),
    ("imports", "Imports"),
    ("undos", "Undos and redos"),
)


@dataclass
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float
    href: str = ""
    css_class: str = ""
    title: str = ""


@dataclass
class Chart:
    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""


def department_chart(
    rows: list[dict[str, Any]], *, selected_id: int | None = None
) -> Chart:
    """Horizontal bars, one per department, each a link to its doctor list."""
    label_width, plot_width, value_width = 200, 380, 60
    bar_height, gap, top = 18, 8, 4
    width = label_width + plot_width + value_width
    largest = max((row["doctor_count"] for row in rows), default=0) or 1
    changelist = reverse("admin:doctors_doctor_changelist")
    chart = Chart(width=width, height=top * 2 + len(rows) * (bar_height + gap))
    for position, row in enumerate(rows):
        y = top + position * (bar_height + gap)
        name = row["name"] if row["is_active"] else f"{row['name']} (inactive)"
        count = row["doctor_count"]
        chart.bars.append(
            Bar(
                label=name,
                value=count,
                x=label_width,
                y=y,
                width=round(plot_width * count / largest, 1),
                height=bar_height,
                href=changelist
                + "?"
                + urlencode({"departments__id__exact": row["id"]}),
                css_class="bar-selected" if row["id"] == selected_id else "bar",
                title=f"{name}: {localize(count)} doctor{'s' if count != 1 else ''}",
            )
        )
    total = sum(row["doctor_count"] for row in rows)
    chart.description = (
        f"Doctors per department, {len(rows)} departments, "
        f"{localize(total)} memberships in all. "
        + "; ".join(f"{bar.label}: {localize(bar.value)}" for bar in chart.bars)
    )
    return chart


def daily_chart(days: list[dict[str, Any]]) -> Chart:
    """Stacked columns per day, one colour per series of SERIES."""
    axis_width, plot_width, plot_height, top, bottom = 48, 640, 200, 10, 24
    chart = Chart(width=axis_width + plot_width + 8, height=top + plot_height + bottom)
    largest = max((_total(day) for day in days), default=0) or 1
    slot = plot_width / max(len(days), 1)
    column = max(slot * 0.8, 1)
    for index, day in enumerate(days):
        x = round(axis_width + index * slot + (slot - column) / 2, 2)
        baseline = top + plot_height
        title = f"{date_format(day['day'])}: " + ", ".join(
            f"{localize(day[key])} {name.lower()}" for key, name in SERIES
        )
        for key, _name in SERIES:
            value = day[key]
            if not value:
                continue
            height = round(plot_height * value / largest, 2)
            baseline -= height
            chart.bars.append(
                Bar(
                    label=key,
                    value=value,
                    x=x,
                    y=round(baseline, 2),
                    width=round(column, 2),
                    height=height,
                    css_class=f"series-{key}",
                    title=title,
                )
            )
    # Whole numbers on the axis: counts have no halves.
    for tick in sorted({0, largest // 2, largest}):
        chart.labels.append(
            {
                "axis": "y",
                "x": axis_width - 6,
                "y": round(top + plot_height * (1 - tick / largest), 1),
                "text": localize(tick),
                "line_x2": axis_width + plot_width,
            }
        )
    if days:
        picks = sorted({0, len(days) // 2, len(days) - 1})
        for index in picks:
            chart.labels.append(
                {
                    "axis": "x",
                    "x": round(axis_width + index * slot + slot / 2, 1),
                    "y": top + plot_height + 16,
                    "text": _short(days[index]["day"]),
                }
            )
    totals = {key: sum(day[key] for day in days) for key, _ in SERIES}
    busiest = max(days, key=_total, default=None)
    description = (
        f"Changes per day, {len(days)} days: "
        + ", ".join(f"{localize(totals[key])} {name.lower()}" for key, name in SERIES)
        + "."
    )
    if busiest is not None and _total(busiest):
        description += (
            f" Busiest day {date_format(busiest['day'])} with"
            f" {localize(_total(busiest))} changes."
        )
    chart.description = description
    return chart


def _total(day: dict[str, Any]) -> int:
    return sum(day[key] for key, _ in SERIES)


def _short(day: datetime.date) -> str:
    return date_format(day, "MONTH_DAY_FORMAT")
