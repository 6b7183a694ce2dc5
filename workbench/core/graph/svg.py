"""Write a graph Layout (and optionally a block's dataflow beside it) as a standalone SVG file."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from workbench.core.graph.layout import KIND_COLORS, LINK_COLORS, Box, Layout, Link

MARGIN = 24
TITLE_H = 28


def svg_document(layouts: list[tuple[str, Layout]]) -> str:
    """An SVG with each (title, layout) side by side, left to right."""
    parts: list[str] = []
    x = float(MARGIN)
    height = 0.0
    for title, lay in layouts:
        parts.append(f'<g transform="translate({x:.1f},{MARGIN + TITLE_H})">')
        parts.append(f'<text x="0" y="-10" class="title">{escape(title)}</text>')
        parts.extend(_box(b) for b in lay.boxes)
        parts.extend(_link(link) for link in lay.links)
        parts.append("</g>")
        x += max(lay.width, 8.5 * len(title)) + 3 * MARGIN  # titles are bold 14 px
        height = max(height, lay.height)
    width = x - 2 * MARGIN
    total_h = height + 2 * MARGIN + TITLE_H
    markers = "".join(
        f'<marker id="arrow-{k}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{c}"/></marker>' for k, c in LINK_COLORS.items())
    style = ("text{font-family:sans-serif;font-size:11px;fill:#212121}"
             ".title{font-size:14px;font-weight:bold}.sub{fill:#555;font-size:10px}"
             ".link-label{fill:#1565c0;font-size:10px}")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{total_h:.0f}" '
            f'viewBox="0 0 {width:.0f} {total_h:.0f}"><defs>{markers}<style>{style}</style>'
            f'</defs><rect width="100%" height="100%" fill="white"/>{"".join(parts)}</svg>\n')


def _box(b: Box) -> str:
    fill = KIND_COLORS.get(b.node.kind, KIND_COLORS["other"])
    if b.expanded:
        fill = "none" if b.depth else "#fafafa"
    dash = ' stroke-dasharray="4 3"' if not b.node.called else ""
    stroke_w = 2.5 if b.node.repeat > 1 else 1
    out = (f'<g class="node" id="{escape(b.key, {chr(34): "&quot;"})}">'
           f'<rect x="{b.x:.1f}" y="{b.y:.1f}" width="{b.w:.1f}" height="{b.h:.1f}" rx="6" '
           f'fill="{fill}" stroke="#546e7a" stroke-width="{stroke_w}"{dash}/>'
           f'<text x="{b.x + 10:.1f}" y="{b.y + 18:.1f}">{escape(b.title)}</text>')
    if not b.expanded or b.subtitle:
        out += (f'<text class="sub" x="{b.x + 10:.1f}" y="{b.y + 32:.1f}">'
                f'{escape(b.subtitle)}</text>')
    return out + "</g>"


def _link(link: Link) -> str:
    color = LINK_COLORS.get(link.kind, LINK_COLORS["flow"])
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in link.points)
    dash = ' stroke-dasharray="6 3"' if link.kind == "cross" else ""
    out = (f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.5"{dash} '
           f'marker-end="url(#arrow-{link.kind if link.kind in LINK_COLORS else "flow"})"/>')
    if link.label:
        (x, y) = link.points[0] if link.kind == "cross" else link.points[1]
        out += (f'<text class="link-label" x="{x + 4:.1f}" y="{y - 4:.1f}">'
                f'{escape(link.label)}</text>')
    return out


def write_svg(path: str | Path, layouts: list[tuple[str, Layout]]) -> Path:
    """Write the SVG atomically (temp file in the same folder, then rename)."""
    from workbench.core.atomic import atomic_write_text

    return atomic_write_text(path, svg_document(layouts))
