"""The soak's plot as a self-contained SVG (no plotting library on these machines): one panel per
quantity, minutes since the start on x, one line per series, the faults as dashed verticals
numbered as in the soak's table, and the warm-up shaded."""

from html import escape

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
          "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd"]
WIDTH, PANEL_H, LEFT, RIGHT, TOP = 1100, 230, 70, 300, 40


def nice_max(v: float) -> float:
    """The smallest of 1, 2, 5 × 10^k at least `v` (an axis' top)."""
    if v <= 0:
        return 1.0
    k = 1.0
    while k * 10 < v:
        k *= 10
    while k > v * 10:
        k /= 10
    return next(m * k for m in (1, 2, 5, 10) if m * k >= v)


def panel(title: str, series: dict, y0: float, t0: float, span: float, marks: list, warm: float) -> list:
    """One panel's SVG elements; `series` is {name: [(t, value)]}."""
    plot_w = WIDTH - LEFT - RIGHT
    top = nice_max(max((v for pts in series.values() for _, v in pts), default=1.0))
    x = lambda t: LEFT + (t - t0) / span * plot_w  # noqa: E731
    y = lambda v: y0 + PANEL_H - v / top * PANEL_H  # noqa: E731
    out = [f'<text x="{LEFT}" y="{y0 - 8}" font-weight="bold">{escape(title)}</text>',
           f'<rect x="{LEFT}" y="{y0}" width="{x(t0 + warm) - LEFT:.1f}" height="{PANEL_H}" fill="#f0f0f0"/>',
           f'<rect x="{LEFT}" y="{y0}" width="{plot_w}" height="{PANEL_H}" fill="none" stroke="#999"/>']
    for frac in (0, 0.5, 1):
        v = top * frac
        out.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11">{v:g}</text>')
    minutes = max(1, int(span / 60 / 6))
    for m in range(0, int(span / 60) + 1, minutes):
        out.append(f'<text x="{x(t0 + m * 60):.1f}" y="{y0 + PANEL_H + 14}" text-anchor="middle" font-size="11">{m}</text>')
    for t, label in marks:
        out.append(f'<line x1="{x(t):.1f}" y1="{y0}" x2="{x(t):.1f}" y2="{y0 + PANEL_H}" stroke="#c00" stroke-dasharray="4,3"/>')
        out.append(f'<text x="{x(t) + 2:.1f}" y="{y0 + 11}" font-size="10" fill="#c00">{escape(label)}</text>')
    for k, (name, pts) in enumerate(sorted(series.items())):
        color = COLORS[k % len(COLORS)]
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.3"/>')
        ly = y0 + 12 + k * 13
        if ly < y0 + PANEL_H + 20:
            out.append(f'<rect x="{WIDTH - RIGHT + 12}" y="{ly - 8}" width="10" height="3" fill="{color}"/>')
            out.append(f'<text x="{WIDTH - RIGHT + 26}" y="{ly - 3}" font-size="10">{escape(name)}</text>')
    return out


def svg(title: str, panels: list, t0: float, t1: float, marks: list, warm: float) -> str:
    """`panels` is [(title, {series: [(t, value)]})]; `marks` [(t, label)] of the faults."""
    height = TOP + len(panels) * (PANEL_H + 60) + 10
    body = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif">',
            '<rect width="100%" height="100%" fill="white"/>',
            f'<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{escape(title)}</text>']
    for i, (name, series) in enumerate(panels):
        body += panel(name, series, TOP + 20 + i * (PANEL_H + 60), t0, max(t1 - t0, 1.0), marks, warm)
    body.append(f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2}" y="{height - 4}" text-anchor="middle" '
                'font-size="11">minutes since the start (grey: warm-up; red: faults, numbered as in the table)</text>')
    body.append("</svg>")
    return "\n".join(body) + "\n"
