"""The server-side SVG chart: valid XML, accessible, reference lines where the values say."""

import xml.etree.ElementTree as ET

from clinic.kbr.svg import BOTTOM, HEIGHT, TOP, Reference, line_chart

NS = {"svg": "http://www.w3.org/2000/svg"}


def _chart(points, **kw):
    svg = line_chart(points, chart_id="chart-x", title="Wait <mean> & more", desc="Two weeks.", **kw)
    return svg, ET.fromstring(str(svg))


def test_valid_accessible_svg_with_reference_lines() -> None:
    svg, root = _chart(
        [("2026-W46", 40.0), ("2026-W47", None), ("2026-W48", 20.0), ("2026-W49", 10.0)],
        references=[Reference("target", 30, "Target"), Reference("promise", 45, "Promise")],
        max_value=100,
    )
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("role") == "img" and root.get("aria-labelledby") == "chart-x-title chart-x-desc"
    assert root.find("svg:title", NS).text == "Wait <mean> & more"  # escaped in the markup, intact as text
    assert "&lt;mean&gt; &amp; more" in str(svg)
    assert root.find("svg:desc", NS).text == "Two weeks."
    plot_h = HEIGHT - TOP - BOTTOM
    refs = {
        g.get("class").split("--")[-1]: g
        for g in root.iterfind(".//svg:g", NS)
        if "kbr-chart__ref " in g.get("class", "")
    }
    assert set(refs) == {"target", "promise"}
    line = refs["target"].find("svg:line", NS)
    assert float(line.get("y1")) == float(line.get("y2")) == round(TOP + plot_h * (1 - 30 / 100), 1)
    assert refs["promise"].find("svg:text", NS).text.startswith("Promise 45")
    points = root.findall(".//svg:circle", NS)
    assert [c.get("data-week") for c in points] == [
        "2026-W46",
        "2026-W48",
        "2026-W49",
    ]  # no dot for no figure
    # the line breaks at the week without a figure: one run of a single point (not drawn), one of two
    polylines = root.findall(".//svg:polyline", NS)
    assert len(polylines) == 1 and len(polylines[0].get("points").split()) == 2
    assert float(points[0].get("cy")) == round(TOP + plot_h * (1 - 40 / 100), 1)


def test_scale_rounds_up_from_the_largest_value_or_reference() -> None:
    _, root = _chart([("W1", 130.0)], references=[Reference("target", 60, "Target")])
    labels = [t.text for t in root.iterfind(".//svg:g[@class='kbr-chart__axis']/svg:text", NS)]
    assert labels == ["0", "100", "200", "W1"]  # 130 * 1.1 = 143 -> the next of 1, 2, 2.5, 5 x 100 is 200
    _, small = _chart([("W1", 3.0)], references=[Reference("target", 6, "Target")])
    labels = [t.text for t in small.iterfind(".//svg:g[@class='kbr-chart__axis']/svg:text", NS)]
    assert labels == ["0", "5", "10", "W1"]  # 6 * 1.1 = 6.6 -> 10
    _, empty = _chart([("W1", None), ("W2", None)])
    assert empty.findall(".//svg:circle", NS) == [] and empty.findall(".//svg:polyline", NS) == []
