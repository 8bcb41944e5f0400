"""Small server-side SVG charts: a weekly line with the internal target and external promise as reference
lines. Accessible: ``role="img"`` with ``<title>``/``<desc>`` (the page also shows the data as a table).

Pure Python; every text is escaped, so labels from configuration cannot inject markup.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 120, 16, 36


@dataclass(frozen=True)
class Reference:
    """A horizontal reference line (``kind`` ``target`` or ``promise``) at ``value``, labelled ``label``."""

    kind: str
    value: float
    label: str


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 2.5, 5):
        magnitude = 10 ** (len(str(int(value))) - 1)
        top = step * magnitude
        if top >= value:
            return float(top)
    return float(10 ** len(str(int(value))))


def _num(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 or abs(value) >= 100 else f"{value:.1f}"


def line_chart(
    points: Sequence[tuple[str, float | None]],
    *,
    chart_id: str,
    title: str,
    desc: str,
    references: Sequence[Reference] = (),
    max_value: float | None = None,
    unit_suffix: str = "",
    label: Callable[[float], str] | None = None,
) -> Markup:
    """An SVG line over ``points`` (label, value or ``None`` for a week without a figure: the line breaks
    there). ``max_value`` fixes the top of the scale (100 for percentages); otherwise it is rounded up
    from the largest value or reference. ``label`` formats the values on the axis and reference lines (in
    the reader's locale); without it they are plain numbers followed by ``unit_suffix``."""
    text = label or (lambda value: _num(value) + unit_suffix)
    values = [v for _, v in points if v is not None]
    top = max_value or _nice_max(max([*values, *(r.value for r in references), 0.0]) * 1.1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = max(len(points), 1)

    def x(index: int) -> float:
        return LEFT + (plot_w * (index + 0.5) / count)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - min(max(value / top, 0.0), 1.0))

    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="kbr-chart" id="{escape(chart_id)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{title_id} {desc_id}" '
        f'preserveAspectRatio="xMinYMin meet">',
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<desc id="{desc_id}">{escape(desc)}</desc>',
        '<g class="kbr-chart__grid" stroke="#d0d5dd" stroke-width="1">',
    ]
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        gy = y(top * fraction)
        parts.append(f'<line x1="{LEFT}" y1="{gy:.1f}" x2="{LEFT + plot_w}" y2="{gy:.1f}"/>')
    parts.append("</g>")
    parts.append('<g class="kbr-chart__axis" font-size="11" fill="#475467">')
    for fraction in (0, 0.5, 1):
        value = top * fraction
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{escape(text(value))}</text>'
        )
    for index, (label, _) in enumerate(points):
        short = label.split("-")[-1]
        parts.append(
            f'<text x="{x(index):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{escape(short)}</text>'
        )
    parts.append("</g>")
    colours = {"target": "#027a48", "promise": "#b54708"}
    for ref in references:
        ry = y(ref.value)
        colour = colours.get(ref.kind, "#344054")
        parts.append(
            f'<g class="kbr-chart__ref kbr-chart__ref--{escape(ref.kind)}" data-value="{ref.value:g}">'
            f'<line x1="{LEFT}" y1="{ry:.1f}" x2="{LEFT + plot_w}" y2="{ry:.1f}" stroke="{colour}" '
            f'stroke-width="2" stroke-dasharray="{"6 4" if ref.kind == "target" else "2 3"}"/>'
            f'<text x="{LEFT + plot_w + 6}" y="{ry + 4:.1f}" font-size="11" fill="{colour}">'
            f"{escape(ref.label)} {escape(text(ref.value))}</text></g>"
        )
    runs: list[list[tuple[float, float]]] = [[]]
    for index, (_, value) in enumerate(points):
        if value is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((x(index), y(value)))
    parts.append('<g class="kbr-chart__series" fill="none" stroke="#1849a9" stroke-width="2.5">')
    for run in runs:
        if len(run) > 1:
            parts.append('<polyline points="' + " ".join(f"{px:.1f},{py:.1f}" for px, py in run) + '"/>')
    parts.append("</g>")
    parts.append('<g class="kbr-chart__points" fill="#1849a9">')
    for index, (label, value) in enumerate(points):
        if value is not None:
            parts.append(
                f'<circle cx="{x(index):.1f}" cy="{y(value):.1f}" r="3.5" data-week="{escape(label)}" '
                f'data-value="{value:.2f}"/>'
            )
    parts.append("</g></svg>")
    return Markup("".join(parts))
