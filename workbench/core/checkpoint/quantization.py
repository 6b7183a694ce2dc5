"""Quantized Hugging Face checkpoints: what `quantization_config` says and what the tensors hold.

A quantized checkpoint stores packed integer tensors plus quantization metadata (scales, zero
points, group indices) beside the layers it quantized. Each method's documented layout:

- gptq:  `x.qweight` int32 [in * bits / 32, out], `x.qzeros` int32, `x.scales`, `x.g_idx`
- awq:   `x.qweight` int32 [in, out * bits / 32] (GEMM; GEMV packs the other axis), `x.qzeros`,
         `x.scales`
- bitsandbytes 4-bit: `x.weight` uint8 [n / 2, 1] plus `x.weight.absmax`, `x.weight.quant_map`,
         `x.weight.nested_*` and `x.weight.quant_state.bitsandbytes__nf4|fp4`
- bitsandbytes 8-bit: `x.weight` int8 [out, in] plus `x.SCB` (and `x.weight_format`)
- fp8:   `x.weight` float8 [out, in] plus `x.weight_scale_inv` (block scales) or `x.weight_scale`
- compressed-tensors: pack-quantized `x.weight_packed` int32 [out, in * bits / 32] plus
         `x.weight_scale`, `x.weight_zero_point`, `x.weight_shape`; float/int-quantized keep
         `x.weight` in fp8/int8 beside `x.weight_scale` (and `x.input_scale`)

A packed tensor holds `element bits / bits` logical weights per element; metadata tensors are not
parameters. The config-built (meta) model is unquantized, so the weights check renames `x.qweight`
to `x.weight` with the model's shape once the element count agrees.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from workbench.core.checkpoint.tensors import DTYPE_BYTES, TensorInfo
from workbench.core.errors import InvalidConfigError, MissingDependencyError, ModelBuildError

# method -> (suffixes of packed weight tensors, suffixes of quantization metadata tensors)
_LAYOUTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "gptq": ((".qweight",), (".qzeros", ".scales", ".g_idx")),
    "awq": ((".qweight",), (".qzeros", ".scales")),
    "bitsandbytes": ((), (".weight.absmax", ".weight.quant_map", ".weight.nested_absmax",
                          ".weight.nested_quant_map", ".SCB", ".weight_format")),
    "fp8": ((), (".weight_scale_inv", ".weight_scale", ".input_scale", ".activation_scale")),
    "compressed-tensors": ((".weight_packed",), (
        ".weight_scale", ".weight_zero_point", ".weight_g_idx", ".weight_shape",
        ".weight_global_scale", ".input_scale", ".input_zero_point", ".input_global_scale",
        ".output_scale")),
}
_QUANT_STATE = ".weight.quant_state."  # bitsandbytes 4-bit: a packed JSON blob per layer
_BITS_RANGE = range(1, 17)
_ALIASES = {"bitsandbytes_4bit": "bitsandbytes", "bitsandbytes_8bit": "bitsandbytes",
            "fbgemm_fp8": "fp8", "mxfp8": "fp8"}


@dataclass(frozen=True)
class QuantizationInfo:
    """A quantized checkpoint's method, settings and its counts with packing undone."""

    method: str
    bits: int | None
    group_size: int | None
    detail: str | None  # nf4/fp4, awq version, compressed-tensors format, fp8 format
    quantized_modules: tuple[str, ...]  # modules whose weight is stored quantized
    skipped_modules: tuple[str, ...]  # modules_to_not_convert / ignore, as configured
    logical_parameters: int  # weights as the unquantized model counts them
    stored_elements: int  # elements of every stored tensor, metadata included
    metadata_elements: int  # scales, zero points, group indices...
    stored_bytes: int

    def to_json(self) -> dict:
        return asdict(self)


def quantization_config(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """The checkpoint's quantization_config (None when it has none); malformed -> raises."""
    if not config or config.get("quantization_config") is None:
        return None
    qc = config["quantization_config"]
    if not isinstance(qc, dict):
        raise _bad(f"quantization_config is {type(qc).__name__}, not an object")
    method = qc.get("quant_method")
    if not isinstance(method, str) or not method:
        raise _bad("quantization_config has no quant_method (gptq, awq, bitsandbytes, fp8, "
                   "compressed-tensors...)")
    return qc


def read_quantization(config: dict[str, Any] | None,
                      tensors: list[TensorInfo]) -> QuantizationInfo | None:
    """Describe the quantization of a checkpoint from its config and tensor headers."""
    qc = quantization_config(config)
    if qc is None:
        return None
    method = _ALIASES.get(qc["quant_method"], qc["quant_method"])
    bits, group, detail, skipped = _settings(method, qc)
    packed_suffixes, meta_suffixes = _LAYOUTS.get(method, ((), ()))
    logical = metadata = 0
    modules: list[str] = []
    names = {t.name for t in tensors}
    for t in tensors:
        role = _role(t, names, packed_suffixes, meta_suffixes)
        if role == "metadata":
            metadata += t.numel
        elif role == "packed":
            logical += t.numel * _pack_factor(t, bits)
            modules.append(_module_of(t.name))
        else:
            logical += t.numel
            if _is_quantized_plain(t, method, names):
                modules.append(t.name.removesuffix(".weight"))
    return QuantizationInfo(
        method=method, bits=bits, group_size=group, detail=detail,
        quantized_modules=tuple(sorted(set(modules))), skipped_modules=skipped,
        logical_parameters=logical, stored_elements=sum(t.numel for t in tensors),
        metadata_elements=metadata, stored_bytes=sum(t.nbytes for t in tensors))


def to_model_names(model: Any, tensors: list[TensorInfo], config: dict[str, Any]
                   ) -> list[TensorInfo]:
    """The stored tensors as the unquantized model names them: packed weights become
    `x.weight` with the model's shape when their unpacked size agrees, metadata is dropped."""
    qc = quantization_config(config)
    if qc is None:
        return tensors
    method = _ALIASES.get(qc["quant_method"], qc["quant_method"])
    bits = _settings(method, qc)[0]
    packed_suffixes, meta_suffixes = _LAYOUTS.get(method, ((), ()))
    expected = {n: tuple(p.shape) for n, p in model.named_parameters()}
    names = {t.name for t in tensors}
    out = []
    for t in tensors:
        role = _role(t, names, packed_suffixes, meta_suffixes)
        if role == "metadata":
            continue
        if role == "packed":
            name = _module_of(t.name) + ".weight"
            shape = _unpacked_shape(t, name, bits, expected)
            out.append(TensorInfo(name, t.dtype, shape, t.shard, t.data_offsets))
        else:
            out.append(t)
    return out


# method -> (the package its kernels come from, what running it needs), for messages
_RUNTIME = {
    "gptq": ("gptqmodel", "gptqmodel and optimum (`pip install gptqmodel optimum`); without "
                          "gptqmodel's CPU kernels a CUDA GPU"),
    "awq": ("gptqmodel", "gptqmodel (`pip install gptqmodel`) and usually a CUDA GPU"),
    "bitsandbytes": ("bitsandbytes", "bitsandbytes (`pip install bitsandbytes`) and usually a "
                                     "CUDA GPU"),
    "compressed-tensors": ("compressed_tensors", "compressed-tensors "
                                                 "(`pip install compressed-tensors`)"),
    "fp8": (None, "a GPU with fp8 support, unless transformers dequantizes it on this device"),
}


def check_can_load(config: dict[str, Any] | None, device: str = "cpu") -> None:
    """Raise a WorkbenchError saying what is missing when transformers cannot run this
    quantized checkpoint here (a library, a GPU); return quietly when it can or is unquantized.

    It asks transformers' own quantizer for the method (`validate_environment`), so the rule
    is the one from_pretrained applies.
    """
    import importlib.util

    qc = quantization_config(config)
    if qc is None:
        return
    from transformers.quantizers import AutoHfQuantizer

    method = _ALIASES.get(qc["quant_method"], qc["quant_method"])
    package, needs = _RUNTIME.get(method, (None, "the library that wrote it"))
    try:
        quantizer = AutoHfQuantizer.from_config(dict(qc), pre_quantized=True)
        quantizer.validate_environment(device_map={"": device}, dtype=None, from_tf=False,
                                       from_flax=False, weights_only=True)
    except Exception as e:
        # (ImportError, RuntimeError "GPU is required", even a NameError from optimum when
        # gptqmodel is absent); each one means this checkpoint cannot run here as it is.
        missing = package is not None and importlib.util.find_spec(package) is None
        kind = MissingDependencyError if missing or isinstance(e, ImportError) \
            else ModelBuildError
        raise kind(
            f"This checkpoint is quantized with {method}; running it (Attention, Fine-tune) "
            f"needs {needs}. transformers says: {type(e).__name__}: {str(e)[:300]} "
            f"Inspect, the tensor table and Graph work without it; or use an unquantized copy "
            f"of the model.") from None


def _settings(method: str, qc: dict[str, Any]
              ) -> tuple[int | None, int | None, str | None, tuple[str, ...]]:
    """(bits, group size, detail, skipped modules) from the method's own config keys."""
    bits = group = detail = None
    skipped = qc.get("modules_to_not_convert") or qc.get("ignore") or ()
    if method in ("gptq", "awq"):
        bits = _int(qc, "bits", 4)
        group = _int(qc, "group_size", 128, allow_negative=True)
        detail = qc.get("version") if method == "awq" else qc.get("checkpoint_format")
    elif method == "bitsandbytes":
        four = qc.get("load_in_4bit") is True or qc.get("quant_method") == "bitsandbytes_4bit"
        eight = qc.get("load_in_8bit") is True or qc.get("quant_method") == "bitsandbytes_8bit"
        if four == eight:
            raise _bad("bitsandbytes quantization_config must set exactly one of load_in_4bit "
                       "and load_in_8bit to true")
        bits = 4 if four else 8
        detail = qc.get("bnb_4bit_quant_type", "fp4") if four else "int8"
        skipped = qc.get("llm_int8_skip_modules") or skipped
    elif method == "fp8":
        bits = 8
        detail = qc.get("fmt") or qc.get("activation_scheme")
        block = qc.get("weight_block_size")
        if block is not None and not (isinstance(block, list) and len(block) == 2 and all(
                isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in block)):
            raise _bad(f"fp8 weight_block_size {block!r} is not two positive integers")
    elif method == "compressed-tensors":
        detail = qc.get("format")
        groups = qc.get("config_groups") or {}
        if not isinstance(groups, dict):
            raise _bad("compressed-tensors config_groups is not an object")
        weights = next((g.get("weights") for g in groups.values()
                        if isinstance(g, dict) and isinstance(g.get("weights"), dict)), None)
        if weights:
            bits = _int(weights, "num_bits", 8)
            group = _int(weights, "group_size", None, allow_negative=True)
    if isinstance(skipped, str):
        skipped = (skipped,)
    if not isinstance(skipped, list | tuple) or not all(isinstance(s, str) for s in skipped):
        raise _bad(f"the list of modules left unquantized is not a list of names: {skipped!r}")
    if detail is not None and not isinstance(detail, str):
        detail = str(detail)
    return bits, group, detail, tuple(skipped)


def _int(d: dict, key: str, default: int | None, allow_negative: bool = False) -> int | None:
    value = d.get(key, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(f"quantization {key} is {value!r}, not a whole number")
    if key in ("bits", "num_bits") and value not in _BITS_RANGE:
        raise _bad(f"quantization {key} is {value}; it must be between 1 and 16")
    if value == 0 or (value < 0 and not (allow_negative and value == -1)):
        raise _bad(f"quantization {key} is {value}; use a positive size (or -1 for one group)")
    return value


def _bad(what: str) -> InvalidConfigError:
    return InvalidConfigError(f"config.json: {what}. Restore config.json from the model's source "
                              f"(the quantization tool wrote it) or remove quantization_config "
                              f"if the weights are not quantized.")


def _role(t: TensorInfo, names: set[str], packed: tuple[str, ...], meta: tuple[str, ...]) -> str:
    if t.name.endswith(packed) and packed:
        return "packed"
    if (meta and t.name.endswith(meta)) or _QUANT_STATE in t.name:
        return "metadata"
    if _has_quant_state(t.name, names):
        return "packed"  # bitsandbytes 4-bit keeps the packed bytes under the plain name
    return "plain"


def _has_quant_state(name: str, names: set[str]) -> bool:
    """Whether `name` is a bitsandbytes 4-bit weight (it has a quant_state sibling)."""
    prefix = name + ".quant_state."
    return name.endswith(".weight") and any(n.startswith(prefix) for n in names)


def _is_quantized_plain(t: TensorInfo, method: str, names: set[str]) -> bool:
    """A weight kept under its own name but in the quantized dtype (8-bit, fp8)."""
    if not t.name.endswith(".weight"):
        return False
    base = t.name.removesuffix(".weight")
    if method == "bitsandbytes":
        return f"{base}.SCB" in names
    if method in ("fp8", "compressed-tensors"):
        return any(f"{base}{s}" in names for s in (".weight_scale_inv", ".weight_scale"))
    return False


def _pack_factor(t: TensorInfo, bits: int | None) -> int:
    """Logical values per stored element: 32 // 4 = 8 for int32-packed 4-bit."""
    element_bits = int(DTYPE_BYTES.get(t.dtype, 1) * 8)
    if not bits or bits >= element_bits or t.dtype.startswith("F"):
        return 1
    return max(1, element_bits // bits)


def _module_of(name: str) -> str:
    for suffix in (".qweight", ".weight_packed", ".weight"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name.rsplit(".", 1)[0]


def _unpacked_shape(t: TensorInfo, name: str, bits: int | None,
                    expected: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    """The model's shape when the unpacked count matches it, else the stored shape scaled."""
    logical = t.numel * _pack_factor(t, bits)
    # The stored name may carry the head model's prefix ("model.") that a base model lacks, or
    # the reverse; compare_with_stored aligns the prefixes afterwards.
    related = (k for k in expected if k.endswith("." + name) or name.endswith("." + k))
    for key in (name, *related):
        shape = expected.get(key)
        if shape is not None and math.prod(shape) == logical:
            return shape
    return (logical,)  # a count that does not fit: the weights check reports the mismatch
