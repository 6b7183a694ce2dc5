"""Model structure from a config alone: build on the meta device, no weights, no custom code."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.checkpoint.tensors import TensorInfo
from workbench.core.errors import InvalidConfigError, ModelBuildError


@dataclass(frozen=True)
class ParamInfo:
    """A parameter (or persistent buffer) owned directly by a module."""

    name: str  # local name, e.g. "weight"
    shape: tuple[int, ...]
    dtype: str
    tied_to: str = ""  # the qualified name this parameter is the same tensor as, if tied

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class ModuleNode:
    """One module of a model: class, own parameters and children, with totals."""

    name: str  # local name ("layers", "0", "self_attn"); "" for the root
    path: str  # qualified name ("model.layers.0.self_attn"); "" for the root
    class_name: str
    own_parameters: int
    num_parameters: int  # own + all descendants, tied weights counted once
    params: tuple[ParamInfo, ...] = ()
    children: tuple[ModuleNode, ...] = ()

    def walk(self) -> Iterable[ModuleNode]:
        """Yield this node and every descendant, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, path: str) -> ModuleNode | None:
        """Return the descendant with this qualified path, or None."""
        return next((n for n in self.walk() if n.path == path), None)

    def to_json(self) -> dict:
        return {
            "name": self.name, "path": self.path, "class": self.class_name,
            "own_parameters": self.own_parameters, "num_parameters": self.num_parameters,
            "params": [{"name": p.name, "shape": list(p.shape), "dtype": p.dtype}
                       for p in self.params],
            "children": [c.to_json() for c in self.children],
        }


@dataclass(frozen=True)
class WeightsComparison:
    """How the stored tensors line up with what the config-built model expects."""

    matched: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # the model expects them, the checkpoint lacks them
    unexpected: tuple[str, ...] = ()  # stored, but the model has no such parameter
    mismatched: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = field(default=())
    # (name, stored shape, expected shape)

    def warnings(self) -> list[str]:
        out = []
        for label, items in (("missing from the checkpoint", self.missing),
                             ("stored but not used by the model", self.unexpected)):
            if items:
                out.append(f"{len(items)} weight(s) {label}: {_preview(items)}")
        if self.mismatched:
            names = [f"{n} {list(s)} vs {list(e)}" for n, s, e in self.mismatched]
            out.append(f"{len(names)} weight(s) have a different shape than the config implies: "
                       f"{_preview(names)}")
        return out


def _preview(items: Iterable[str], limit: int = 3) -> str:
    items = list(items)
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def read_config_dict(folder: Path) -> dict[str, Any]:
    """Read config.json from a folder as a dict, with a clear error when it is not valid JSON."""
    path = folder / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InvalidConfigError(
            f"{path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}). "
            f"Fix the file in a text editor or restore it from its source.") from None
    except UnicodeDecodeError:
        raise InvalidConfigError(f"{path} is not UTF-8 text; restore it from its source.") from None
    if not isinstance(data, dict):
        raise InvalidConfigError(f"{path} must hold a JSON object, not {type(data).__name__}.")
    return data


def config_from_dict(data: dict[str, Any]):
    """Build a transformers config from a dict, without ever running a checkpoint's code."""
    from transformers import CONFIG_MAPPING

    model_type = data.get("model_type")
    if not model_type:
        raise InvalidConfigError(
            "config.json has no 'model_type', so the architecture is unknown. "
            "Add the model_type (e.g. \"bert\", \"llama\") to config.json.")
    if model_type not in CONFIG_MAPPING:
        raise InvalidConfigError(
            f"model_type '{model_type}' is not known to this transformers version; "
            f"the tensor view still works. Upgrade transformers if it is a newer architecture.")
    try:
        return CONFIG_MAPPING[model_type].from_dict(dict(data))
    except Exception as e:  # the library validates; any failure is a config problem
        raise InvalidConfigError(f"transformers rejected this {model_type} config: {e}") from None


def model_class_for(config):
    """The transformers class named in `architectures`, else the Auto base model class."""
    import transformers
    from transformers import AutoModel

    for name in getattr(config, "architectures", None) or []:
        cls = getattr(transformers, name, None)
        if isinstance(cls, type) and issubclass(cls, transformers.PreTrainedModel):
            return cls
    try:
        return AutoModel._model_mapping[type(config)]
    except KeyError:
        raise ModelBuildError(
            f"transformers has no model class for model_type '{config.model_type}'.") from None


def build_meta_model(config, model_class=None):
    """Instantiate the model on the meta device: full structure, no memory for weights."""
    import torch

    cls = model_class or model_class_for(config)
    try:
        with torch.device("meta"), skip_meta_init():
            if hasattr(cls, "_from_config"):
                return cls._from_config(config)
            return cls(config)
    except Exception as e:
        raise ModelBuildError(
            f"Could not build {cls.__name__} from this config: {type(e).__name__}: {e}") from None


def skip_meta_init():
    """A context in which weight-init calls on meta tensors return at once (a third faster).

    A torch function mode is per thread, unlike transformers' no_init_weights, which patches
    torch.nn.init for every thread and would skip the init of a real build running meanwhile.
    """
    import torch
    from torch.overrides import TorchFunctionMode

    init = torch.nn.init
    skip = {getattr(init, n) for n in dir(init) if n.endswith("_") and not n.startswith("_")}
    skip |= {torch.Tensor.uniform_, torch.Tensor.normal_, torch.Tensor.fill_,
             torch.Tensor.zero_}

    class SkipMetaInit(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func in skip:
                tensor = args[0] if args else kwargs.get("tensor")
                if isinstance(tensor, torch.Tensor) and tensor.is_meta:
                    return tensor  # meta tensors have no values to initialise
            return func(*args, **kwargs)

    return SkipMetaInit()


def module_tree(model) -> ModuleNode:
    """Summarise a torch module hierarchy, counting each (possibly tied) parameter once."""
    seen: dict[int, str] = {}  # parameter identity -> the first qualified name it was met under

    def visit(name: str, path: str, module) -> ModuleNode:
        params, own = [], 0
        for pname, p in module.named_parameters(recurse=False):
            qualified = f"{path}.{pname}" if path else pname
            tied = seen.get(id(p), "")
            params.append(ParamInfo(pname, tuple(p.shape), str(p.dtype).removeprefix("torch."),
                                    tied))
            if not tied:
                seen[id(p)] = qualified
                own += p.numel()
        children = tuple(visit(cname, f"{path}.{cname}" if path else cname, child)
                         for cname, child in module.named_children())
        total = own + sum(c.num_parameters for c in children)
        return ModuleNode(name, path, type(module).__name__, own, total, tuple(params), children)

    return visit("", "", model)


def compare_with_stored(model, stored: list[TensorInfo]) -> WeightsComparison:
    """Match the model's parameters against stored tensors by name and shape.

    Handles the two common naming offsets (a head model's checkpoint read by a base model and the
    reverse) and tied weights, which are stored once under one of their names.
    """
    expected: dict[str, tuple[int, ...]] = {}
    aliases: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        expected[name] = tuple(p.shape)
        aliases.setdefault(id(p), []).append(name)
    stored_map = {t.name: t.shape for t in stored}
    stored_map = _align_prefix(stored_map, set(expected), getattr(model, "base_model_prefix", ""))

    matched, missing, mismatched = [], [], []
    for names in aliases.values():
        present = [n for n in names if n in stored_map]
        if not present:
            missing.append(names[0])
            continue
        for n in present:
            if stored_map[n] == expected[n]:
                matched.append(n)
            else:
                mismatched.append((n, stored_map[n], expected[n]))
    # Old checkpoints often store buffers (position_ids...); transformers ignores them silently.
    buffers = {name for name, _ in model.named_buffers()}
    unexpected = sorted(set(stored_map) - set(expected) - buffers)
    return WeightsComparison(tuple(matched), tuple(missing), tuple(unexpected), tuple(mismatched))


def _align_prefix(stored: dict, expected: set[str], prefix: str) -> dict:
    if not prefix:
        return stored
    head = prefix + "."
    overlap = len(expected & set(stored))
    stripped = {k.removeprefix(head): v for k, v in stored.items()}
    added = {(k if k.startswith(head) else head + k): v for k, v in stored.items()}
    best = max((stored, stripped, added), key=lambda d: len(expected & set(d)))
    return best if len(expected & set(best)) > overlap else stored


def tree_from_tensor_names(tensors: list[TensorInfo]) -> ModuleNode:
    """A module tree implied by dotted tensor names, for weights that come without a config."""
    root: dict = {}
    for t in tensors:
        *parts, leaf = t.name.split(".")
        node = root
        for part in parts:
            node = node.setdefault(part, {})
        node.setdefault("\0params", []).append(ParamInfo(leaf, t.shape, t.dtype))

    def build(name: str, path: str, node: dict) -> ModuleNode:
        params = tuple(node.get("\0params", ()))
        children = tuple(build(k, f"{path}.{k}" if path else k, v)
                         for k, v in node.items() if k != "\0params")
        own = sum(p.numel for p in params)
        return ModuleNode(name, path, "?", own, own + sum(c.num_parameters for c in children),
                          params, children)

    return build("", "", root)
