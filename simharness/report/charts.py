"""Small inline-SVG line charts (no library: the report must open offline)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from simharness.report.markup import attr, esc

WIDTH, HEIGHT = 410, 290
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 34, 70
PALETTE = ("#2563eb", "#d1263b", "#0d9488", "#a16207", "#9333ea", "#db2777", "#65a30d", "#475569")


@dataclass(frozen=True)
class Series:
    """One line: a name, a value per x position (None: no point there), and its look."""

    name: str
    values: tuple[float | None, ...]
    colour: str
    dashed: bool = False


def colour(n: int) -> str:
    """The n-th series colour."""
    return PALETTE[n % len(PALETTE)]


def _nice_max(value: float) -> float:
    for step in (0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 500, 1000):
        if value <= step * 5:
            return step * 5
    return value


def line_chart(title: str, ident: str, x_labels: Sequence[str], series: Sequence[Series],
               y_format: Callable[[float], str], y_max: float | None = None, x_title: str = "") -> str:
    """A line chart; `data-chart` = `ident`, each line has `data-series`."""
    top = max([v for s in series for v in s.values if v is not None] + [0.0])
    y_top = y_max if y_max is not None else _nice_max(top * 1.05 or 1.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = max(1, len(x_labels))

    def x(i: int) -> float:
        return LEFT + (plot_w * (i + 0.5) / count)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - min(v, y_top) / y_top)

    parts = [f'<text class="title" x="{LEFT}" y="18">{esc(title)}</text>']
    for k in range(6):
        value = y_top * k / 5
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#e5e8ee"/>'
                     f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{esc(y_format(value))}</text>')
    for i, label in enumerate(x_labels):
        parts.append(f'<text x="{x(i):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{esc(label)}</text>')
    if x_title:
        parts.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h + 32}" text-anchor="middle">{esc(x_title)}</text>')
    legend_y = TOP + plot_h + 50
    legend_x = float(LEFT)
    for s in series:
        points = [(x(i), y(v), v) for i, v in enumerate(s.values) if v is not None]
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        path = " ".join(f"{'M' if n == 0 else 'L'}{px:.1f},{py:.1f}" for n, (px, py, _) in enumerate(points))
        dots = "".join(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{s.colour}">'
                       f'<title>{esc(f"{s.name}: {y_format(v)}")}</title></circle>'
                       for px, py, v in points if not s.dashed)
        parts.append(f'<g{attr("data-series", s.name)}><path d="{path}" fill="none" stroke="{s.colour}" '
                     f'stroke-width="2"{dash}/>{dots}</g>')
        parts.append(f'<line x1="{legend_x:.1f}" x2="{legend_x + 16:.1f}" y1="{legend_y - 4}" y2="{legend_y - 4}" '
                     f'stroke="{s.colour}" stroke-width="2"{dash}/>'
                     f'<text x="{legend_x + 20:.1f}" y="{legend_y}">{esc(s.name)}</text>')
        legend_x += 28 + 6.2 * len(s.name)
        if legend_x > WIDTH - 120:
            legend_x, legend_y = float(LEFT), legend_y + 15
    height = max(HEIGHT, legend_y + 10)
    parts.insert(0, f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fbfcfd" stroke="#d8dce4"/>')
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg"{attr("data-chart", ident)} width="{WIDTH}" '
            f'height="{height}" viewBox="0 0 {WIDTH} {height}" role="img"{attr("aria-label", title)}>'
            + "".join(parts) + "</svg>")
