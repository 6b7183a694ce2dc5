"""Recognise a checkpoint on disk and describe it from headers only (`inspect_checkpoint`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from workbench.core import jsonio
from workbench.core.checkpoint import gguf_model, gguf_split, quantization
from workbench.core.checkpoint.gguf_header import read_gguf_header
from workbench.core.checkpoint.gguf_model import GgufSummary
from workbench.core.checkpoint.links import check_inside
from workbench.core.checkpoint.name_guess import ArchitectureGuess, guess_architecture
from workbench.core.checkpoint.pickle_weights import read_pickle_tensors
from workbench.core.checkpoint.quantization import QuantizationInfo
from workbench.core.checkpoint.safetensors_header import MAX_TENSORS, read_safetensors_header
from workbench.core.checkpoint.tensors import TensorInfo
from workbench.core.checkpoint.tokenizer_info import TokenizerInfo, read_tokenizer_info
from workbench.core.errors import (
    InvalidConfigError,
    InvalidIndexError,
    ModelBuildError,
    NotACheckpointError,
    PathNotFoundError,
)
from workbench.core.model import architecture as arch
from workbench.core.model.memory import MemoryEstimate, estimate_memory

ST_INDEX = "model.safetensors.index.json"
PT_INDEX = "pytorch_model.bin.index.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth")
# A shard index maps each tensor to a file: ~60 bytes a tensor, 2,000,000 tensors at most.
INDEX_LIMITS = jsonio.JsonLimits(max_bytes=256_000_000, max_depth=16,
                                 max_keys=MAX_TENSORS + 10_000, max_string=100_000)
ADAPTER_LIMITS = jsonio.JsonLimits(max_bytes=1_000_000, max_depth=16, max_keys=100_000)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class AdapterInfo:
    """A PEFT adapter's own description (adapter_config.json)."""

    peft_type: str | None
    base_model: str | None
    task_type: str | None
    r: int | None
    alpha: float | None
    target_modules: tuple[str, ...]

    def to_json(self) -> dict:
        return {"peft_type": self.peft_type, "base_model": self.base_model,
                "task_type": self.task_type, "r": self.r, "alpha": self.alpha,
                "target_modules": list(self.target_modules)}


@dataclass(frozen=True)
class CheckpointInfo:
    """Everything `inspect` learns about a checkpoint; plain data, safe to pass between threads."""

    path: str
    root: str  # the folder that holds the checkpoint's files
    format: str
    model_type: str | None
    architecture: str | None
    num_parameters: int
    num_tensors: int
    total_bytes: int
    size_on_disk: int
    dtypes: dict[str, int]
    shards: tuple[str, ...]
    config: dict[str, Any] | None
    warnings: tuple[str, ...]
    tensors: tuple[TensorInfo, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    tokenizer: TokenizerInfo | None = None
    adapter: AdapterInfo | None = None
    guess: ArchitectureGuess | None = None
    module_tree: arch.ModuleNode | None = None
    comparison: arch.WeightsComparison | None = None
    memory: MemoryEstimate | None = None
    has_weights: bool = True
    custom_code: bool = False
    structure_error: str | None = None  # why the config gave no model structure, if it did not
    gguf: GgufSummary | None = None
    quantization: QuantizationInfo | None = None

    @property
    def load_path(self) -> str:
        """What load_model / load_tokenizer / a training spec take for this checkpoint: the
        GGUF file itself (its folder may hold several), else the checkpoint folder."""
        return self.path if self.format == "gguf" else self.root

    def to_json(self, with_tensors: bool = False) -> dict[str, Any]:
        """The documented `workbench inspect --json` object."""
        out: dict[str, Any] = {
            "path": self.path, "format": self.format, "model_type": self.model_type,
            "architecture": self.architecture, "num_parameters": self.num_parameters,
            "num_tensors": self.num_tensors, "total_bytes": self.total_bytes,
            "size_on_disk": self.size_on_disk, "dtypes": self.dtypes, "shards": list(self.shards),
            "config": self.config, "warnings": list(self.warnings),
            "metadata": self.metadata,
            "tokenizer": self.tokenizer.to_json() if self.tokenizer else None,
            "adapter": self.adapter.to_json() if self.adapter else None,
            "guess": self.guess.to_json() if self.guess else None,
            "memory": self.memory.to_json() if self.memory else None,
            "custom_code": self.custom_code,
            "gguf": self.gguf.to_json() if self.gguf else None,
            "quantization": self.quantization.to_json() if self.quantization else None,
        }
        if self.comparison:
            c = self.comparison
            out["weights_check"] = {"matched": len(c.matched), "missing": list(c.missing),
                                    "unexpected": list(c.unexpected),
                                    "ignored": list(c.ignored),
                                    "mismatched": [[n, list(s), list(e)]
                                                   for n, s, e in c.mismatched]}
        if with_tensors:
            out["tensors"] = [t.to_json() for t in self.tensors]
        return out


def inspect_checkpoint(path: str | Path, *, build_tree: bool = True,
                       progress: Progress | None = None) -> CheckpointInfo:
    """Recognise `path` and describe it from headers; weights are never loaded into memory."""
    report = progress or (lambda _msg: None)
    p = Path(path).expanduser()
    if not p.exists():
        raise PathNotFoundError(f"{p} does not exist. Check the path, or pick the folder with "
                                f"File > Open.")
    p = p.resolve()
    if p.is_file() and p.name == "config.json":
        p = p.parent
    report("Reading headers")
    if p.is_dir():
        scan = _scan_folder(p)
    else:
        scan = _scan_file(p)
    return _describe(p, scan, build_tree, report)


@dataclass
class _Scan:
    """What the format-specific readers found, before the architecture is worked out."""

    format: str
    root: Path
    tensors: list[TensorInfo]
    files: list[Path]
    config: dict[str, Any] | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    adapter: AdapterInfo | None = None
    warnings: list[str] = field(default_factory=list)
    gguf: GgufSummary | None = None
    # Stored tensors renamed (and reshaped) as the config-built model names them, for the check.
    rename_for_model: Callable[[Any, list[TensorInfo]], list[TensorInfo]] | None = None


def _weights_files(folder: Path) -> list[tuple[Path, str]]:
    """The files that may hold a folder's weights, in the order they are preferred."""
    loose = sorted(folder.glob("*.safetensors"))
    return [(folder / ST_INDEX, "hf-sharded-safetensors"),
            (folder / "model.safetensors", "hf-safetensors"),
            (folder / PT_INDEX, "hf-sharded-pytorch"),
            (folder / "pytorch_model.bin", "hf-pytorch"),
            *([(loose[0], "hf-safetensors")] if len(loose) == 1 else [])]


def _scan_folder(folder: Path) -> _Scan:
    if (folder / "adapter_config.json").is_file():
        return _scan_adapter(folder)
    if (gguf_file := gguf_model.find_gguf(folder)) is not None:
        scan = _scan_gguf(gguf_file)
        if (folder / "config.json").is_file():
            scan.warnings.append("The folder's config.json was not used: a GGUF file's own "
                                 "metadata is its configuration.")
        return scan
    config = arch.read_config_dict(folder) if (folder / "config.json").is_file() else None
    files = [folder / "config.json"] if config is not None else []
    scan = None
    for path, kind in _weights_files(folder):
        if path.is_file():
            check_inside(folder, path, "The file")  # before reading it (see links.py)
            scan = (_scan_index(path, kind) if kind.startswith("hf-sharded")
                    else _scan_pickle(path, kind) if kind == "hf-pytorch"
                    else _scan_safetensors(path, kind))
            break
    if scan is None and config is not None:
        scan = _Scan("hf-config-only", folder, [], [])
        scan.warnings.append("This folder has config.json but no weights: the architecture and "
                             "parameter count come from the config alone.")
    elif scan is None:
        raise NotACheckpointError(
            f"{folder} is not a checkpoint: it has no config.json, no model.safetensors (or "
            f"shard index) and no pytorch_model.bin. Open a model folder or a weights file.")
    scan.root = folder
    scan.config = config
    scan.files = files + scan.files
    return scan


def _scan_file(path: Path) -> _Scan:
    name = path.name
    if name.endswith(".index.json"):
        kind = "safetensors-index" if ".safetensors." in name else "pytorch-index"
        scan = _scan_index(path, kind)
    elif path.suffix == ".safetensors":
        scan = _scan_safetensors(path, "safetensors")
    elif path.suffix in PICKLE_SUFFIXES:
        scan = _scan_pickle(path, "pytorch")
    elif path.suffix.lower() == gguf_model.GGUF_SUFFIX:
        return _scan_gguf(path)  # its metadata is its config; a neighbouring config.json is not
    else:
        raise NotACheckpointError(
            f"{name} is not a checkpoint file. Open a .safetensors, .bin/.pt/.pth, a shard index "
            f"(*.index.json), a .gguf file or a model folder.")
    sibling = path.parent / "config.json"
    if sibling.is_file():
        try:
            scan.config = arch.read_config_dict(path.parent)
            scan.files.insert(0, sibling)
        except InvalidConfigError as e:
            scan.warnings.append(f"The neighbouring config.json was ignored: {e}")
    return scan


def _scan_safetensors(path: Path, kind: str) -> _Scan:
    tensors, metadata = read_safetensors_header(path)
    return _Scan(kind, path.parent, tensors, [path], metadata=metadata)


def _scan_gguf(path: Path) -> _Scan:
    """A GGUF file: header only; the config is what transformers derives from its metadata.
    For a part of a split model, every part's header is read and the tensor tables joined."""
    header = read_gguf_header(path)
    files, notes = [path], []
    if gguf_split.split_count(header) > 1:
        split = gguf_split.read_split(path, header)
        files = list(split.parts)
        tensors = tuple(t for h in split.headers for t in h.tensors)
        # Part 1 holds the model's metadata; the others hold split.* keys and tensors only.
        first = split.headers[0] if split.parts[0] == split.first else header
        header = replace(first, tensors=tensors)
        path = split.first if split.parts[0] == split.first else path
        notes.append(f"A split GGUF model in {split.count} parts; the counts cover "
                     + (f"the {len(split.parts)} parts present (missing: "
                        f"{', '.join(split.missing)})." if split.missing else "all of them."))
        notes.append("transformers loads one GGUF file only, so Attention and Fine-tune need "
                     "the parts merged first: `llama-gguf-split --merge FIRST-PART OUT.gguf`.")
    summary = gguf_model.summarize(header)
    scan = _Scan("gguf", path.parent, list(header.tensors), files,
                 metadata={k: str(v) for k, v in header.metadata.items()})
    scan.warnings.extend(notes)
    try:
        config = gguf_model.gguf_config_dict(path, header)
    except Exception as e:  # transformers raises ValueError, KeyError, OSError... for these
        scan.warnings.append(
            f"transformers cannot turn GGUF architecture '{summary.architecture}' into a model "
            f"({type(e).__name__}: {str(e)[:200]}), so Graph, Attention and Fine-tune are not "
            f"available for this file; the module tree comes from the tensor names.")
    else:
        if (problem := gguf_model.check_against_tensors(config, header)) is None:
            scan.config = config
        else:
            scan.warnings.append(f"{path.name} is inconsistent: {problem}. The module tree "
                                 f"comes from the tensor names; re-convert the file.")
    scan.gguf = summary
    arch_name = summary.architecture
    scan.rename_for_model = lambda model, ts: gguf_model.to_model_names(model, ts, arch_name)
    return scan


def _scan_pickle(path: Path, kind: str) -> _Scan:
    return _Scan(kind, path.parent, read_pickle_tensors(path), [path])


def _scan_index(index_path: Path, kind: str) -> _Scan:
    """Read a shard index and every shard header, refusing unsafe or inconsistent indexes."""
    folder = index_path.parent
    index = jsonio.load_file(index_path, error=InvalidIndexError, limits=INDEX_LIMITS,
                             what="shard index", source=index_path.name)
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise InvalidIndexError(f"{index_path.name} has no 'weight_map'; it is not a shard index.")
    if len(weight_map) > MAX_TENSORS:
        raise InvalidIndexError(
            f"{index_path.name} lists {len(weight_map):,} tensors; the limit is {MAX_TENSORS:,} "
            f"(the largest public checkpoints have fewer). The index is corrupt.")
    declared = _declared_total_size(index_path.name, index.get("metadata"))
    by_shard: dict[str, set[str]] = {}
    for tensor, shard in weight_map.items():
        if not isinstance(shard, str) or not _is_safe_relative(shard):
            raise InvalidIndexError(
                f"{index_path.name} points tensor '{tensor}' at '{shard}', outside the "
                f"checkpoint folder (absolute path or '..'). Refusing to read it: the index may "
                f"be malicious. Use an index whose shard names are plain file names.")
        by_shard.setdefault(shard, set()).add(tensor)
    for shard in by_shard:
        check_inside(folder, folder / shard, "The shard")
    missing = [s for s in by_shard if not (folder / s).is_file()]
    if missing:
        raise InvalidIndexError(
            f"{len(missing)} shard(s) listed in {index_path.name} are missing from {folder}: "
            f"{', '.join(sorted(missing)[:3])}. Download the missing files, or re-save the model.")

    tensors: list[TensorInfo] = []
    metadata: dict[str, str] = {}
    warnings: list[str] = []
    for shard in sorted(by_shard):
        shard_path = folder / shard
        if shard.endswith(".safetensors"):
            found, meta = read_safetensors_header(shard_path, shard)
            metadata = metadata or meta
        else:
            found = read_pickle_tensors(shard_path, shard)
        names = {t.name for t in found}
        absent = by_shard[shard] - names
        if absent:
            raise InvalidIndexError(
                f"{index_path.name} says {len(absent)} tensor(s) are in {shard}, but that shard "
                f"does not contain them (e.g. '{sorted(absent)[0]}'). The index and shards are "
                f"from different versions; re-download them together.")
        extra = names - by_shard[shard]
        if extra:
            warnings.append(f"{shard} holds {len(extra)} tensor(s) the index does not list "
                            f"(e.g. '{sorted(extra)[0]}'); they are shown but transformers "
                            f"would not load them.")
        tensors.extend(t for t in found if t.name in by_shard[shard])
    actual = sum(t.nbytes for t in tensors)
    if declared is not None and actual and not actual <= 2 * declared <= 4 * actual:
        warnings.append(f"The index declares total_size {declared:,} bytes but the shards "
                        f"hold {actual:,} bytes of tensors.")
    shard_files = [folder / s for s in sorted(by_shard)]
    scan = _Scan(kind, folder, tensors, [index_path, *shard_files], metadata=metadata)
    scan.warnings.extend(warnings)
    return scan


def _declared_total_size(index_name: str, metadata: object) -> int | None:
    """metadata.total_size of a shard index: None when absent; wrong types are refused."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise InvalidIndexError(
            f"{index_name}: 'metadata' must be an object such as {{\"total_size\": 1234}}, not "
            f"a {type(metadata).__name__}. The index is corrupt; restore it from its source.")
    total = metadata.get("total_size")
    if isinstance(total, float) and total.is_integer():
        total = int(total)  # some writers store the byte count as a float
    if total is not None and (type(total) is not int or total < 0):
        raise InvalidIndexError(
            f"{index_name}: metadata.total_size must be a whole number of bytes (0 or more), "
            f"not {total!r}. The index is corrupt; restore it from its source.")
    return total


def _is_safe_relative(name: str) -> bool:
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    return not (posix.is_absolute() or windows.is_absolute() or windows.drive
                or ".." in posix.parts or ".." in windows.parts)


def _scan_adapter(folder: Path) -> _Scan:
    cfg = jsonio.load_file(folder / "adapter_config.json", error=InvalidConfigError,
                           limits=ADAPTER_LIMITS, what="adapter config")
    if not isinstance(cfg, dict):
        raise InvalidConfigError(f"{folder / 'adapter_config.json'} must hold a JSON object, "
                                 f"not {type(cfg).__name__}.")
    if (folder / "adapter_model.safetensors").is_file():
        scan = _scan_safetensors(folder / "adapter_model.safetensors", "peft-adapter")
    elif (folder / "adapter_model.bin").is_file():
        scan = _scan_pickle(folder / "adapter_model.bin", "peft-adapter")
    else:
        scan = _Scan("peft-adapter", folder, [], [])
        scan.warnings.append("adapter_config.json found but no adapter_model.safetensors/.bin.")
    targets = cfg.get("target_modules") or ()
    targets = (targets,) if isinstance(targets, str) else tuple(
        t for t in targets if isinstance(t, str)) if isinstance(targets, list) else ()
    scan.adapter = AdapterInfo(
        _typed(cfg, "peft_type", str), _typed(cfg, "base_model_name_or_path", str),
        _typed(cfg, "task_type", str), _typed(cfg, "r", int), _typed(cfg, "lora_alpha", float),
        targets)
    scan.files.insert(0, folder / "adapter_config.json")
    scan.config = cfg
    return scan


def _typed(cfg: dict[str, Any], key: str, kind: type) -> Any:
    """cfg[key] when it has the expected type (ints count as floats, bools as neither)."""
    value = cfg.get(key)
    if isinstance(value, bool) or value is None:
        return None
    if kind is float and isinstance(value, int):
        return float(value)
    return value if isinstance(value, kind) else None


def _describe(path: Path, scan: _Scan, build_tree: bool, report: Progress) -> CheckpointInfo:
    """Combine tensors, config and the meta-built model into a CheckpointInfo."""
    warnings = list(scan.warnings)
    tensors = scan.tensors
    config = scan.config if scan.adapter is None else None
    model_type = (config or {}).get("model_type")
    architectures = (config or {}).get("architectures") or []
    architecture = architectures[0] if architectures else None
    custom_code = bool(config and config.get("auto_map"))
    if custom_code:
        warnings.append("This model ships custom code (auto_map), which was not run; the "
                        "structure shown comes from the built-in transformers class, if any.")

    quant = None
    if config is not None and tensors:
        try:
            quant = quantization.read_quantization(config, tensors)
        except InvalidConfigError as e:
            warnings.append(f"{e} Its tensors are counted as stored.")
    if quant is not None:
        scan.rename_for_model = lambda model, ts: quantization.to_model_names(model, ts, config)
    tree = comparison = structure_error = None
    built_params = 0
    if config is not None and build_tree:
        report("Building the model structure on the meta device")
        try:
            cfg = arch.config_from_dict(config)
            model = arch.build_meta_model(cfg)
            tree = arch.module_tree(model)
            built_params = tree.num_parameters
            architecture = architecture or type(model).__name__
            if tensors:
                comparison = arch.compare_with_stored(model, _for_model(scan, model, warnings))
                warnings.extend(f"Config/weights mismatch: {w}" for w in comparison.warnings())
            del model
        except (InvalidConfigError, ModelBuildError) as e:
            structure_error = str(e)
            warnings.append(f"{e} The module tree below comes from the tensor names."
                            if tensors else structure_error)
    guess = (guess_architecture(tensors) if tensors and config is None and scan.gguf is None
             else None)
    if scan.gguf and not architecture:
        architecture = f"{scan.gguf.architecture or 'unknown'} (GGUF; no transformers model)"
    if scan.adapter:
        model_type = None
        architecture = f"{scan.adapter.peft_type or 'PEFT'} adapter"
    elif guess and not architecture:
        architecture = f"{guess.family} (guessed from tensor names)"
        model_type = guess.model_type
    if tree is None and tensors:
        tree = arch.tree_from_tensor_names(tensors)

    stored_params = sum(t.numel for t in tensors)
    dtypes: dict[str, int] = {}
    for t in tensors:
        dtypes[t.dtype] = dtypes.get(t.dtype, 0) + t.numel
    num_parameters = stored_params if tensors else built_params
    if quant is not None:
        num_parameters = quant.logical_parameters  # packed weights unpacked, scales left out
    shards = tuple(sorted({t.shard for t in tensors}))
    size_on_disk = sum(f.stat().st_size for f in scan.files if f.is_file())
    total_bytes = sum(t.nbytes for t in tensors)
    gguf = _gguf_verdict(scan.gguf, comparison, model_type, warnings) if scan.gguf else None
    return CheckpointInfo(
        path=str(path), root=str(scan.root), format=scan.format, model_type=model_type,
        architecture=architecture, num_parameters=num_parameters, num_tensors=len(tensors),
        total_bytes=total_bytes, size_on_disk=size_on_disk, dtypes=dtypes,
        shards=shards, config=scan.config, warnings=tuple(warnings), tensors=tuple(tensors),
        metadata=scan.metadata, tokenizer=read_tokenizer_info(scan.root), adapter=scan.adapter,
        guess=guess, module_tree=tree, comparison=comparison,
        memory=estimate_memory(num_parameters, total_bytes if tensors else None),
        has_weights=bool(tensors), custom_code=custom_code, structure_error=structure_error,
        gguf=gguf, quantization=quant,
    )


def _for_model(scan: _Scan, model: Any, warnings: list[str]) -> list[TensorInfo]:
    """The stored tensors under the names the model uses (GGUF and packed tensors differ)."""
    if scan.rename_for_model is None:
        return scan.tensors
    try:
        return scan.rename_for_model(model, scan.tensors)
    except Exception as e:  # a library mapping we call; its failure only costs the check
        warnings.append(f"The stored tensor names could not be mapped to the model's "
                        f"({type(e).__name__}: {str(e)[:200]}); the weights check compares "
                        f"them as stored.")
        return scan.tensors


def _gguf_verdict(summary: GgufSummary, comparison: arch.WeightsComparison | None,
                  model_type: str | None, warnings: list[str]) -> GgufSummary:
    """Say whether transformers can dequantize-load the GGUF file (Attention, Fine-tune)."""
    summary = dataclasses.replace(summary, transformers_model_type=model_type)
    if comparison is None:
        return summary
    if comparison.missing or comparison.mismatched:
        warnings.append("transformers would not find every weight of this GGUF file (see the "
                        "mismatch above), so Attention and Fine-tune would run with random "
                        "weights and are not offered.")
        return summary
    note = ("transformers loads this file by dequantizing every tensor to float, so Attention "
            "and Fine-tune work; they need the float model's memory (fp32/bf16 below), not "
            "the file's size.")
    return dataclasses.replace(summary, loadable=True, notes=(*summary.notes, note))
