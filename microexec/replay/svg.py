"""Tiny inline-SVG charts: grouped bars, histograms, lines and scatter.

Why hand-written instead of matplotlib: the report must be one self-contained file whose bytes
depend on the data only (matplotlib stamps dates and random clip ids into its SVG), and the four
chart shapes below are all the report needs; it also keeps matplotlib a dev-only dependency.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

import numpy as np

W, H = 640, 300
ML, MR, MT, MB = 64, 16, 28, 48  # margins: left, right, top, bottom
COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")


def _f(x: float) -> str:
    return f"{x:.2f}"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    return [round(start + k * step, 10) for k in range(int((hi - start) / step + 1e-9) + 1)]


def _label(v: float) -> str:
    return f"{v:.4g}"


class _Frame:
    """Axes mapping data to pixels, with gridlines and labels."""

    def __init__(self, title: str, xlabel: str, ylabel: str, x: tuple[float, float], y: tuple[float, float]) -> None:
        x0, x1 = x
        y0, y1 = y
        if not x1 > x0:
            x0, x1 = x0 - 1, x0 + 1
        if not y1 > y0:
            y0, y1 = y0 - 1, y0 + 1
        self.x0, self.x1, self.y0, self.y1 = x0, x1, y0, y1
        self.parts: list[str] = [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
            f'role="img" aria-label="{escape(title)}">',
            f'<rect width="{W}" height="{H}" fill="#fff"/>',
            f'<text x="{W / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">{escape(title)}</text>',
            f'<text x="{W / 2}" y="{H - 8}" text-anchor="middle" font-size="12">{escape(xlabel)}</text>',
            f'<text x="14" y="{H / 2}" text-anchor="middle" font-size="12" '
            f'transform="rotate(-90 14 {H / 2})">{escape(ylabel)}</text>',
        ]
        for t in _ticks(y0, y1):
            py = self.py(t)
            self.parts.append(f'<line x1="{ML}" x2="{W - MR}" y1="{_f(py)}" y2="{_f(py)}" stroke="#ddd"/>'
                              f'<text x="{ML - 4}" y="{_f(py + 4)}" text-anchor="end" '
                              f'font-size="10">{_label(t)}</text>')
        self.parts.append(f'<line x1="{ML}" x2="{ML}" y1="{MT}" y2="{H - MB}" stroke="#333"/>'
                          f'<line x1="{ML}" x2="{W - MR}" y1="{H - MB}" y2="{H - MB}" stroke="#333"/>')

    def px(self, x: float) -> float:
        return ML + (x - self.x0) / (self.x1 - self.x0) * (W - ML - MR)

    def py(self, y: float) -> float:
        return H - MB - (y - self.y0) / (self.y1 - self.y0) * (H - MT - MB)

    def xticks(self) -> None:
        for t in _ticks(self.x0, self.x1):
            self.parts.append(f'<text x="{_f(self.px(t))}" y="{H - MB + 14}" text-anchor="middle" '
                              f'font-size="10">{_label(t)}</text>')

    def legend(self, names: Sequence[str]) -> None:
        for k, name in enumerate(names):
            x = W - MR - 150
            y = MT + 6 + 16 * k
            self.parts.append(f'<rect x="{x}" y="{y}" width="10" height="10" fill="{COLORS[k % len(COLORS)]}"/>'
                              f'<text x="{x + 14}" y="{y + 9}" font-size="11">{escape(name)}</text>')

    def done(self) -> str:
        return "".join([*self.parts, "</svg>"])


def _finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def histogram(title: str, xlabel: str, series: Mapping[str, Sequence[float]], bins: int = 30) -> str:
    """Side-by-side bars per bin, one colour per series, common bin edges."""
    data = {k: _finite(v) for k, v in series.items()}
    allv = [v for vs in data.values() for v in vs]
    if not allv:
        return empty(title, "no filled orders")
    lo, hi = float(np.percentile(allv, 0.5)), float(np.percentile(allv, 99.5))
    if hi <= lo:
        lo, hi = lo - 1, hi + 1
    edges = np.linspace(lo, hi, bins + 1)
    counts = {k: np.histogram(np.clip(v, lo, hi), edges)[0] for k, v in data.items()}
    top = max(int(c.max()) for c in counts.values())
    fr = _Frame(title, xlabel, "orders", (lo, hi), (0, max(1, top) * 1.08))
    width = (fr.px(edges[1]) - fr.px(edges[0])) / max(1, len(counts))
    for s, (_name, c) in enumerate(counts.items()):
        for i, n in enumerate(c):
            if n:
                x = fr.px(edges[i]) + s * width
                fr.parts.append(f'<rect x="{_f(x)}" y="{_f(fr.py(n))}" width="{_f(max(width - 0.5, 0.5))}" '
                                f'height="{_f(fr.py(0) - fr.py(n))}" fill="{COLORS[s % len(COLORS)]}"/>')
    fr.xticks()
    fr.legend(list(counts))
    return fr.done()


def lines(title: str, xlabel: str, ylabel: str, series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
          points: bool | Sequence[str] = False) -> str:
    """Polylines of (x, y) per series; dots instead for every series (``points=True``) or the named ones."""
    xs = [x for xv, yv in series.values() for x, y in zip(xv, yv, strict=True) if math.isfinite(y)]
    ys = [y for _, yv in series.values() for y in yv if math.isfinite(y)]
    if not xs:
        return empty(title, "no data")
    pad = 0.05 * (max(ys) - min(ys) or 1.0)
    fr = _Frame(title, xlabel, ylabel, (min(xs), max(xs)), (min(ys) - pad, max(ys) + pad))
    if fr.y0 < 0 < fr.y1:
        fr.parts.append(f'<line x1="{ML}" x2="{W - MR}" y1="{_f(fr.py(0))}" y2="{_f(fr.py(0))}" stroke="#888" '
                        'stroke-dasharray="4 3"/>')
    for s, (name, (xv, yv)) in enumerate(series.items()):
        color = COLORS[s % len(COLORS)]
        pts = [(fr.px(x), fr.py(y)) for x, y in zip(xv, yv, strict=True) if math.isfinite(y)]
        if points is True or (not isinstance(points, bool) and name in points):
            fr.parts.extend(f'<circle cx="{_f(x)}" cy="{_f(y)}" r="2" fill="{color}" fill-opacity="0.6"/>'
                            for x, y in pts)
        elif pts:
            d = " ".join(f"{_f(x)},{_f(y)}" for x, y in pts)
            fr.parts.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="1.8"/>')
    fr.xticks()
    fr.legend(list(series))
    return fr.done()


def bars(title: str, ylabel: str, groups: Sequence[str], series: Mapping[str, Sequence[float]]) -> str:
    """Grouped bars: one group per label, one bar per series (nan values are left out)."""
    vals = [v for vs in series.values() for v in vs if math.isfinite(v)]
    if not groups or not vals:
        return empty(title, "no data")
    lo, hi = min(0.0, *vals), max(0.0, *vals)
    fr = _Frame(title, "", ylabel, (0, len(groups)), (lo - 0.05 * (hi - lo), hi + 0.12 * (hi - lo or 1)))
    slot = (W - ML - MR) / len(groups)
    width = slot * 0.8 / max(1, len(series))
    for g, name in enumerate(groups):
        fr.parts.append(f'<text x="{_f(ML + slot * (g + 0.5))}" y="{H - MB + 14}" text-anchor="middle" '
                        f'font-size="10">{escape(name)}</text>')
        for s, values in enumerate(series.values()):
            v = values[g]
            if not math.isfinite(v):
                continue
            x = ML + slot * g + slot * 0.1 + s * width
            y0, y1 = sorted((fr.py(0), fr.py(v)))
            fr.parts.append(f'<rect x="{_f(x)}" y="{_f(y0)}" width="{_f(width - 1)}" height="{_f(max(y1 - y0, 0.5))}" '
                            f'fill="{COLORS[s % len(COLORS)]}"><title>{escape(name)}: {v:.4g}</title></rect>')
    fr.legend(list(series))
    return fr.done()


def empty(title: str, message: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} 80" width="{W}" height="80" role="img" '
            f'aria-label="{escape(title)}"><text x="{W / 2}" y="30" text-anchor="middle" font-size="14">'
            f'{escape(title)}</text><text x="{W / 2}" y="58" text-anchor="middle" font-size="12" fill="#888">'
            f'{escape(message)}</text></svg>')
