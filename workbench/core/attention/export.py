"""Write attention maps to files: CSV, .npy, tokens JSON, PNG (no Qt) and SVG heatmaps."""

from __future__ import annotations

import csv
import html
import io
import json
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from workbench.core.atomic import atomic_write_bytes
from workbench.core.attention.compute import Token

# Viridis at nine evenly spaced stops; interpolated to 256 entries (close to matplotlib's).
_VIRIDIS = ((68, 1, 84), (71, 44, 122), (59, 82, 139), (44, 113, 142), (33, 145, 140),
            (53, 183, 121), (94, 201, 98), (170, 220, 50), (253, 231, 37))
MASKED_RGB = (150, 150, 150)  # the future of causal maps: grey, distinct from any weight


def colormap_lut(n: int = 256) -> np.ndarray:
    """(n, 3) uint8 viridis lookup table, shared by the GUI and the image exports."""
    stops = np.asarray(_VIRIDIS, dtype=np.float64)
    x = np.linspace(0, len(stops) - 1, n)
    lut = np.stack([np.interp(x, np.arange(len(stops)), stops[:, c]) for c in range(3)], axis=1)
    return np.round(lut).astype(np.uint8)


def to_rgb(matrix: np.ndarray, levels: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """(rows, cols, 3) uint8 colours of a matrix; NaN (masked) cells are grey."""
    lo, hi = levels
    lut = colormap_lut()
    m = np.asarray(matrix, dtype=np.float32)
    nan = np.isnan(m)
    scaled = np.clip((np.nan_to_num(m, nan=lo) - lo) / max(hi - lo, 1e-12), 0, 1)
    rgb = lut[np.round(scaled * 255).astype(np.intp)]
    rgb[nan] = MASKED_RGB
    return rgb


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode (h, w, 3) uint8 as a PNG (8-bit RGB, no filter), with zlib and struct only."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b""))


def save_png(path: str | Path, matrix: np.ndarray, min_size: int = 512,
             levels: tuple[float, float] = (0.0, 1.0)) -> Path:
    """A heatmap PNG of a 2-D matrix, each cell scaled up to a square of at least 1 pixel."""
    rgb = to_rgb(matrix, levels)
    scale = max(1, -(-min_size // max(rgb.shape[:2])))
    rgb = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    return atomic_write_bytes(path, png_bytes(np.ascontiguousarray(rgb)))


def read_png_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from a PNG header."""
    data = Path(path).read_bytes()[:24]
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG file")
    return struct.unpack(">II", data[16:24])


def save_npy(path: str | Path, array: np.ndarray) -> Path:
    """Save an array as .npy, float32 kept as is."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return atomic_write_bytes(path, buf.getvalue())


def save_csv(path: str | Path, matrix: np.ndarray, rows: Sequence[str] | None = None,
             cols: Sequence[str] | None = None) -> Path:
    """A matrix as CSV; the first row and column name the key and query tokens when given."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    m = np.asarray(matrix)
    if cols is not None:
        writer.writerow(["query \\ key", *cols])
    for i, row in enumerate(m):
        values = ["" if np.isnan(v) else f"{v:.8g}" for v in row.tolist()]
        writer.writerow(([rows[i]] if rows is not None else []) + values)
    return atomic_write_bytes(path, out.getvalue().encode("utf-8"))


def save_tokens_json(path: str | Path, tokens: Sequence[Token],
                     target_tokens: Sequence[Token] = ()) -> Path:
    """Tokens (text, id, special, unknown, segment) as JSON; target tokens for enc-dec."""
    data: dict = {"tokens": [t.to_json() for t in tokens]}
    if target_tokens:
        data["target_tokens"] = [t.to_json() for t in target_tokens]
    text = json.dumps(data, ensure_ascii=False, indent=1)
    return atomic_write_bytes(path, text.encode("utf-8"))


def heatmap_svg(matrix: np.ndarray, rows: Sequence[str], cols: Sequence[str], title: str = "",
                cell: int = 14, levels: tuple[float, float] = (0.0, 1.0)) -> str:
    """An SVG heatmap with token labels on both axes, a colour bar and a title."""
    rgb = to_rgb(matrix, levels)
    m = np.asarray(matrix)
    n_rows, n_cols = m.shape
    longest = max([len(s) for s in list(rows) + list(cols)] + [1])
    margin = 12 + 7 * min(longest, 24)
    font = max(6, min(11, cell - 2))
    width, height = margin + n_cols * cell + 80, margin + n_rows * cell + 30
    e = html.escape
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="{font}">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="4" y="14" font-size="12">{e(title)}</text>']
    for i in range(n_rows):
        for j in range(n_cols):
            r, g, b = rgb[i, j]
            value = "masked" if np.isnan(m[i, j]) else f"{m[i, j]:.4f}"
            parts.append(f'<rect x="{margin + j * cell}" y="{margin + i * cell}" width="{cell}" '
                         f'height="{cell}" fill="#{r:02x}{g:02x}{b:02x}"><title>{e(rows[i])} -&gt; '
                         f'{e(cols[j])}: {value}</title></rect>')
    for i, label in enumerate(rows):
        parts.append(f'<text x="{margin - 3}" y="{margin + i * cell + cell * 0.75}" '
                     f'text-anchor="end">{e(label[:24])}</text>')
    for j, label in enumerate(cols):
        x, y = margin + j * cell + cell * 0.75, margin - 3
        parts.append(f'<text x="{x}" y="{y}" transform="rotate(-90 {x} {y})">{e(label[:24])}'
                     f'</text>')
    bar_x, bar_h = margin + n_cols * cell + 20, max(n_rows * cell, 60)
    lut = colormap_lut()
    for k in range(64):
        r, g, b = lut[255 - k * 4]
        parts.append(f'<rect x="{bar_x}" y="{margin + k * bar_h / 64:.2f}" width="14" '
                     f'height="{bar_h / 64 + 0.5:.2f}" fill="#{r:02x}{g:02x}{b:02x}"/>')
    parts.append(f'<text x="{bar_x + 18}" y="{margin + 8}">{levels[1]:g}</text>')
    parts.append(f'<text x="{bar_x + 18}" y="{margin + bar_h}">{levels[0]:g}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def save_svg(path: str | Path, matrix: np.ndarray, rows: Sequence[str], cols: Sequence[str],
             title: str = "", levels: tuple[float, float] = (0.0, 1.0)) -> Path:
    """Write `heatmap_svg` to a file."""
    cell = 14 if max(np.shape(matrix)) <= 96 else 4
    text = heatmap_svg(matrix, rows, cols, title, cell=cell, levels=levels)
    return atomic_write_bytes(path, text.encode("utf-8"))
