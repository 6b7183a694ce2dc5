"""Box-and-arrow layout of the folded graph and of a block's dataflow (pure geometry, no Qt).

The Qt scene and the SVG writer draw the same Layout, so a CLI export looks like the window.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.core.graph.dataflow import BlockDataflow
from workbench.core.graph.folding import GraphNode, instance
from workbench.core.units import human_count

KIND_COLORS = {
    "embedding": "#c8e6c9", "attention": "#bbdefb", "mlp": "#ffe0b2", "norm": "#e1bee7",
    "head": "#ffcdd2", "block": "#eceff1", "other": "#f5f5f5", "op": "#fff9c4",
    "input": "#e0e0e0", "output": "#e0e0e0",
}
LINK_COLORS = {"flow": "#607d8b", "data": "#607d8b", "cross": "#1565c0", "residual": "#e65100"}

LEAF_H = 50
HEADER = 34
PAD = 14
GAP = 22
CHAR_W = 7.0


@dataclass(frozen=True)
class Box:
    """A node's rectangle; `expanded` boxes contain their children's boxes."""

    key: str  # module path, unique in a layout
    node: GraphNode
    x: float
    y: float
    w: float
    h: float
    depth: int
    expanded: bool
    expandable: bool
    title: str
    subtitle: str


@dataclass(frozen=True)
class Link:
    """An arrow through `points`; kind is flow, data, cross or residual."""

    points: tuple[tuple[float, float], ...]
    kind: str = "flow"
    label: str = ""


@dataclass(frozen=True)
class Layout:
    """Boxes in drawing order (parents before children), links, and the overall size."""

    boxes: tuple[Box, ...]
    links: tuple[Link, ...]
    width: float
    height: float

    def box(self, key: str) -> Box | None:
        return next((b for b in self.boxes if b.key == key), None)


def node_key(node: GraphNode) -> str:
    return node.path or "(model)"


def labels(node: GraphNode) -> tuple[str, str]:
    """(title, subtitle) of a box: name and class, then parameters and output shape."""
    if node.repeat > 1:
        title = f"{node.name}: {node.class_name} × {node.repeat}"
        params = (f"{human_count(node.each_parameters)} each, "
                  f"{human_count(node.num_parameters)} total")
    else:
        title = f"{node.name}: {node.class_name}" if node.name != node.class_name else node.name
        params = f"{human_count(node.num_parameters)} params"
    shape = f" → {'×'.join(map(str, node.output_shape))}" if node.output_shape else ""
    return title, params + shape


def visible_children(node: GraphNode) -> list[GraphNode]:
    """What an expanded box shows: the N instances of a fold, else the children."""
    if node.repeat > 1:
        return [instance(node, i) for i in range(node.repeat)]
    return list(node.children)


def expandable(node: GraphNode) -> bool:
    return node.repeat > 1 or bool(node.children)


def default_expanded(root: GraphNode, max_depth: int = 4) -> set[str]:
    """Open the containers down to the stacks; folds, blocks and layers start closed."""
    out: set[str] = set()

    def visit(node: GraphNode, depth: int) -> None:
        if depth > max_depth or node.repeat > 1 or not node.children:
            return
        if node.kind not in ("other",) and depth > 0:
            return
        out.add(node_key(node))
        for c in node.children:
            visit(c, depth + 1)

    visit(root, 0)
    return out


def all_expandable_keys(root: GraphNode) -> set[str]:
    """Every key that can be expanded, folds unfolded (for "expand all")."""
    out: set[str] = set()

    def visit(node: GraphNode) -> None:
        if expandable(node):
            out.add(node_key(node))
        for c in visible_children(node):
            visit(c)

    visit(root)
    return out


def layout_graph(root: GraphNode, expanded: set[str]) -> Layout:
    """Place every visible box: children stacked top-down, encoder and decoder side by side."""
    boxes: list[Box] = []
    links: list[Link] = []
    sizes: dict[int, tuple[float, float]] = {}
    rows_cache: dict[int, tuple] = {}  # id(node) -> (rows, sizes); holds the nodes alive

    def rows_of(kids: list[GraphNode]) -> list[list[GraphNode]]:
        names = [k.name for k in kids]
        if "encoder" in names and "decoder" in names:
            e, d = names.index("encoder"), names.index("decoder")
            pair = [kids[e], kids[d]]
            rest = [k for i, k in enumerate(kids) if i not in (e, d)]
            first = min(e, d)
            return [[k] for k in rest[:first]] + [pair] + [[k] for k in rest[first:]]
        return [[k] for k in kids]

    def measure(node: GraphNode) -> tuple[float, float]:
        title, sub = labels(node)
        base_w = max(200.0, CHAR_W * max(len(title), len(sub)) + 28)
        if node_key(node) not in expanded or not expandable(node):
            size = (base_w, float(LEAF_H))
        else:
            rows = rows_of(visible_children(node))
            row_sizes = [[measure(k) for k in row] for row in rows]
            w = max([sum(s[0] for s in r) + GAP * (len(r) - 1) for r in row_sizes] + [base_w])
            h = sum(max(s[1] for s in r) for r in row_sizes) + GAP * (len(rows) - 1)
            size = (w + 2 * PAD, HEADER + h + PAD)
            rows_cache[id(node)] = (rows, row_sizes, node)
        sizes[id(node)] = size
        return size

    def place(node: GraphNode, x: float, y: float, depth: int) -> None:
        w, h = sizes[id(node)]
        key = node_key(node)
        is_open = key in expanded and expandable(node)
        title, sub = labels(node)
        boxes.append(Box(key, node, x, y, w, h, depth, is_open, expandable(node), title, sub))
        if not is_open:
            return
        rows, row_sizes, _ = rows_cache[id(node)]
        cy = y + HEADER
        previous: list[Box] = []
        for row, rsz in zip(rows, row_sizes, strict=True):
            row_w = sum(s[0] for s in rsz) + GAP * (len(row) - 1)
            row_h = max(s[1] for s in rsz)
            cx = x + (w - row_w) / 2
            current = []
            for child, (cw, _ch) in zip(row, rsz, strict=True):
                place(child, cx, cy, depth + 1)
                current.append(next(b for b in reversed(boxes) if b.key == node_key(child)))
                cx += cw + GAP
            for a in previous if node.kind not in ("attention", "mlp") else ():
                # (inside attention/MLP the sub-modules run in parallel, q/k/v: no chain)
                for b in current:
                    if not (a.node.called and b.node.called):
                        continue  # e.g. a tied embedding reached under another name
                    if a.node.name == "encoder" and any(c.node.name == "decoder"
                                                        for c in previous):
                        continue  # the encoder's output goes sideways, into cross-attention
                    links.append(Link(((a.x + a.w / 2, a.y + a.h), (b.x + b.w / 2, b.y))))
            previous = current
            cy += row_h + GAP

    measure(root)
    place(root, 0.0, 0.0, 0)
    links.extend(_cross_links(boxes))
    w, h = sizes[id(root)]
    return Layout(tuple(boxes), tuple(links), w, h)


def _cross_links(boxes: list[Box]) -> list[Link]:
    """Encoder output -> the deepest visible boxes that hold cross-attention."""
    by_key = {b.key: b for b in boxes}
    out = []
    targets = [b for b in boxes if b.node.cross_attention and not any(
        o.node.cross_attention and o.key.startswith(b.key + ".") for o in boxes)]
    for t in targets:
        source = _reads(t, boxes)
        src = by_key.get(source) if source else None
        if src is None or src is t:
            continue
        start = (src.x + src.w, src.y + src.h / 2)
        end = (t.x, t.y + min(t.h / 2, LEAF_H / 2))
        mid = (start[0] + end[0]) / 2
        out.append(Link((start, (mid, start[1]), (mid, end[1]), end), "cross",
                        "encoder output"))
    return out


def _reads(target: Box, boxes: list[Box]) -> str | None:
    """The stack a cross-attention box reads: its own reads_from or its nearest ancestor's."""
    if target.node.reads_from:
        return target.node.reads_from
    ancestors = [b for b in boxes if target.key.startswith(b.key + ".") and b.node.reads_from]
    if ancestors:
        return max(ancestors, key=lambda b: len(b.key)).node.reads_from
    decoder = [b for b in boxes if b.node.name == "decoder" and b.key == target.key]
    if decoder:
        parent = target.key.rsplit(".", 1)[0] if "." in target.key else ""
        return f"{parent}.encoder" if parent else "encoder"
    return None


def layout_dataflow(flow: BlockDataflow) -> Layout:
    """Steps top-down in call order; residual skips arc around on the right, and extra inputs
    (the encoder output read by cross-attention) sit in a side column next to their reader."""
    boxes, links = [], []
    side_inputs = {n.id for n in flow.nodes if n.kind == "input" and n.id != 0}
    main = [n for n in flow.nodes if n.id not in side_inputs]
    w = max([200.0] + [CHAR_W * len(_flow_title(n)) + 28 for n in flow.nodes])
    side_x = w + 100
    y = 0.0
    pos: dict[int, Box] = {}
    for n in main:
        pos[n.id] = _flow_box(n, 0.0, y, w)
        boxes.append(pos[n.id])
        y += 44.0 + 18
    for n in flow.nodes:
        if n.id in side_inputs:
            reader = next((pos[e.target] for e in flow.edges if e.source == n.id), None)
            pos[n.id] = _flow_box(n, side_x, reader.y if reader else 0.0, w)
            boxes.append(pos[n.id])
    order = {n.id: i for i, n in enumerate(main)}
    lane = 0
    for e in flow.edges:
        a, b = pos[e.source], pos[e.target]
        if e.source in side_inputs:
            links.append(Link(((a.x, a.y + a.h / 2), (b.x + w, b.y + b.h / 2)), e.kind, e.kind))
        elif order[e.target] - order[e.source] == 1 and e.kind == "data":
            links.append(Link(((a.x + w / 2, a.y + a.h), (b.x + w / 2, b.y)), "data"))
        else:
            lane += 1
            side = w + 16 + 14 * (lane % 4)
            label = e.kind if e.kind != "data" else ""
            links.append(Link(((a.x + w, a.y + a.h / 2), (side, a.y + a.h / 2),
                               (side, b.y + b.h / 2), (b.x + w, b.y + b.h / 2)), e.kind, label))
    width = side_x + w if side_inputs else w + 16 + 14 * 4
    return Layout(tuple(boxes), tuple(links), width, max(y - 18, 0))


def _flow_box(n, x: float, y: float, w: float) -> Box:
    node = GraphNode(n.name, n.path, n.class_name, n.kind, 0, output_shape=n.output_shape)
    return Box(f"flow:{n.id}", node, x, y, w, 44.0, 0, False, False, _flow_title(n),
               _flow_subtitle(n))


def _flow_title(n) -> str:
    return n.name if not n.class_name or n.class_name == n.name else f"{n.name}: {n.class_name}"


def _flow_subtitle(n) -> str:
    a = n.attrs
    parts = []
    if "heads" in a:
        parts.append(f"heads {a['heads']}, kv {a.get('kv_heads', '?')}, "
                     f"dim {a.get('head_dim', '?')}" + (" (cross)" if a.get("cross") else ""))
    if "inner_size" in a:
        parts.append(f"inner {a['inner_size']}" + (f", {a['activation']}" if "activation" in a
                                                    else "")
                     + (f", {a['experts']} experts" if "experts" in a else ""))
    if n.output_shape:
        parts.append("×".join(map(str, n.output_shape)))
    return " · ".join(parts)
