"""Model structure from a config alone: build on the meta device, no weights, no custom code."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core import jsonio
from workbench.core.checkpoint.tensors import TensorInfo
from workbench.core.errors import InvalidConfigError, ModelBuildError
from workbench.core.model.limits import check_structure


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
    # The module's own buffers (`named_buffers(recurse=False)`: position_ids, inv_freq...) when
    # built from a model; a tree implied by tensor names cannot tell them from parameters.
    buffers: tuple[ParamInfo, ...] = ()

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
    ignored: tuple[str, ...] = ()  # stored buffers (position_ids...) transformers drops silently

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


# config.json files are a few KB (a 1,000-label id2label ~30 KB); these limits leave a wide margin.
CONFIG_LIMITS = jsonio.JsonLimits(max_bytes=16_000_000, max_depth=32, max_keys=1_000_000)


def read_config_dict(folder: Path) -> dict[str, Any]:
    """Read config.json from a folder as a dict, within limits, with its key fields checked."""
    path = folder / "config.json"
    data = jsonio.load_file(path, error=InvalidConfigError, limits=CONFIG_LIMITS, what="config")
    if not isinstance(data, dict):
        raise InvalidConfigError(f"{path} must hold a JSON object, not {type(data).__name__}.")
    check_config_fields(data, str(path))
    return data


def check_config_fields(data: dict[str, Any], source: str = "config.json") -> None:
    """Refuse the fields every reader relies on when they have the wrong type."""
    model_type = data.get("model_type")
    if model_type is not None and not isinstance(model_type, str):
        raise InvalidConfigError(
            f"{source}: model_type must be a string such as \"bert\" or \"llama\", not "
            f"{type(model_type).__name__} {_clip(model_type)}. Fix it in a text editor.")
    architectures = data.get("architectures")
    if architectures is not None and (
            not isinstance(architectures, list)
            or not all(isinstance(a, str) for a in architectures)):
        raise InvalidConfigError(
            f"{source}: architectures must be a list of class names such as "
            f"[\"BertForMaskedLM\"], not {_clip(architectures)}. Fix it in a text editor.")


def _clip(value: object, limit: int = 60) -> str:
    text = ascii(value)
    return text if len(text) <= limit else text[:limit] + "..."


def config_from_dict(data: dict[str, Any]):
    """Build a transformers config from a dict, without ever running a checkpoint's code."""
    from transformers import CONFIG_MAPPING

    check_config_fields(data)
    check_structure(data)
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
    """The transformers class for a config, found the way transformers itself would find one.

    In order: a class named in `architectures`; AutoModel's mapping for the config (a tuple
    there, as Funnel's, means several base classes: the first is the default); another Auto
    mapping that knows the config (sub-configs such as `*_text_model` are often only in one);
    the class the config's name implies (`CLIPTextConfig` -> `CLIPTextModel`).
    """
    import transformers

    for name in getattr(config, "architectures", None) or []:
        cls = getattr(transformers, name, None)
        if _is_model_class(cls):
            return cls
    for mapping in _auto_mappings():
        cls = _lookup(mapping, type(config))
        if cls is not None:
            return cls
    stem = type(config).__name__.removesuffix("Config")
    for name in (f"{stem}Model", stem):
        cls = getattr(transformers, name, None)
        if _is_model_class(cls) and getattr(cls, "config_class", None) is type(config):
            return cls
    cls = _declared_model_class(type(config))
    if cls is not None:
        return cls
    raise ModelBuildError(
        f"transformers has no model class for model_type '{config.model_type}' (no "
        f"'architectures' in the config, and no Auto class knows it).")


def _declared_model_class(config_class):
    """A model class of the config's own modeling module that declares this config class
    (`config_class = ...`), e.g. a vision tower's model; None when there is none."""
    import importlib

    package, _, module = config_class.__module__.rpartition(".")
    if not module.startswith("configuration_") or not package.startswith("transformers."):
        return None
    name = "modeling_" + module.removeprefix("configuration_")
    try:
        modeling = importlib.import_module(f"{package}.{name}")
    except Exception:  # optional dependencies of that family missing: no class from it
        return None
    found = [c for c in vars(modeling).values() if _is_model_class(c)
             and c.__dict__.get("config_class") is config_class
             and not c.__name__.endswith("PreTrainedModel")]
    found.sort(key=lambda c: (not c.__name__.endswith("Model"), len(c.__name__)))
    return found[0] if found else None


def _is_model_class(cls) -> bool:
    import transformers

    return isinstance(cls, type) and issubclass(cls, transformers.PreTrainedModel)


def _auto_mappings() -> list:
    """transformers' Auto model mappings: the base-model one first, then the task ones."""
    from transformers.models.auto import modeling_auto

    first = ("MODEL_MAPPING", "MODEL_FOR_CAUSAL_LM_MAPPING", "MODEL_FOR_MASKED_LM_MAPPING",
             "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING", "MODEL_FOR_IMAGE_MAPPING")
    rest = sorted(n for n in dir(modeling_auto)
                  if n.startswith("MODEL_") and n.endswith("_MAPPING") and n not in first)
    return [m for n in (*first, *rest)
            if isinstance(m := getattr(modeling_auto, n, None), modeling_auto._LazyAutoMapping)]


def _lookup(mapping, config_class):
    """mapping[config_class] as one model class, or None (a lazy mapping may fail to import)."""
    try:
        found = mapping[config_class]
    except (KeyError, ValueError, ImportError, AttributeError):
        return None
    if isinstance(found, list | tuple):
        found = next((c for c in found if _is_model_class(c)), None)
    return found if _is_model_class(found) else None


def build_meta_model(config, model_class=None):
    """Instantiate the model on the meta device: full structure, no memory for weights."""
    import torch

    check_structure(config.to_dict(), f"This {type(config).__name__}")
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
    """Summarise a torch module hierarchy, counting each (possibly tied) parameter once and
    recording each module's own buffers."""
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
        buffers = tuple(ParamInfo(bname, tuple(b.shape), str(b.dtype).removeprefix("torch."))
                        for bname, b in module.named_buffers(recurse=False) if b is not None)
        children = tuple(visit(cname, f"{path}.{cname}" if path else cname, child)
                         for cname, child in module.named_children())
        total = own + sum(c.num_parameters for c in children)
        return ModuleNode(name, path, type(module).__name__, own, total, tuple(params), children,
                          buffers)

    return visit("", "", model)


def compare_with_stored(model, stored: list[TensorInfo], plan=None) -> WeightsComparison:
    """Match the model's parameters against stored tensors by name and shape.

    Stored names go through transformers' own key conversions first (renamed keys, fused MoE
    experts, the base-model prefix offset: see key_mapping), and tied weights count as present
    when stored once under any of their names, so the result agrees with `from_pretrained`.
    """
    from workbench.core.model.key_mapping import ignored_missing, ignored_unexpected, plan_keys

    plan = plan or plan_keys(model, stored)
    expected: dict[str, tuple[int, ...]] = {}
    aliases: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        expected[name] = tuple(p.shape)
        aliases.setdefault(id(p), []).append(name)
    skip_missing = ignored_missing(model)

    matched, missing, mismatched = [], [], []
    for names in aliases.values():
        present = [n for n in names if n in plan.shapes]
        if not present:
            if not (skip_missing and skip_missing.search(names[0])):
                missing.append(names[0])
            continue
        for n in present:
            if plan.shapes[n] == expected[n]:
                matched.append(n)
            else:
                mismatched.append((n, plan.shapes[n], expected[n]))
    # Old checkpoints often store buffers (position_ids...); transformers ignores them silently.
    skip_unexpected = ignored_unexpected(model)
    ignored = sorted(n for n in plan.unused if skip_unexpected and skip_unexpected.search(n))
    unexpected = sorted(set(plan.unused) - set(ignored))
    unexpected += sorted(plan.failed)  # stored, but transformers' conversion of them failed
    return WeightsComparison(tuple(matched), tuple(missing), tuple(unexpected), tuple(mismatched),
                             tuple(ignored))


# Real tensor names have < 10 dotted parts; deeper names are folded into one module name, so
# every recursive walk of the tree (to_json, views) stays far below Python's recursion limit.
MAX_TREE_DEPTH = 32


class _NameNode:
    """A module implied by tensor names while the tree is assembled (children by local name)."""

    __slots__ = ("children", "params")

    def __init__(self) -> None:
        self.children: dict[str, _NameNode] = {}
        self.params: list[ParamInfo] = []


def tree_from_tensor_names(tensors: list[TensorInfo]) -> ModuleNode:
    """A module tree implied by dotted tensor names, for weights that come without a config."""
    root = _NameNode()
    for t in tensors:
        *parts, leaf = t.name.split(".")
        if len(parts) > MAX_TREE_DEPTH:
            parts = [*parts[:MAX_TREE_DEPTH - 1], ".".join(parts[MAX_TREE_DEPTH - 1:])]
        node = root
        for part in parts:
            child = node.children.get(part)
            if child is None:  # not setdefault: that would build a throw-away node per part
                child = node.children[part] = _NameNode()
            node = child
        node.params.append(ParamInfo(leaf, t.shape, t.dtype))

    def build(name: str, path: str, node: _NameNode) -> ModuleNode:
        children = tuple(build(k, f"{path}.{k}" if path else k, v)
                         for k, v in node.children.items())
        own = sum(p.numel for p in node.params)
        return ModuleNode(name, path, "?", own, own + sum(c.num_parameters for c in children),
                          tuple(node.params), children)

    return build("", "", root)
