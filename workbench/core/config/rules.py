"""Validation of an edited config: per-field types and ranges, cross-field rules, then transformers.

Every message names the field and says how to fix it; the form shows them inline and the CLI
prints the same text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from workbench.core import jsonio
from workbench.core.config.schema import ConfigSchema, FieldSpec, effective_values
from workbench.core.errors import InvalidConfigError, WorkbenchError
from workbench.core.model import config_roles
from workbench.core.model.limits import EXPERT_FIELDS, LAYER_FIELDS, structure_problems

# Counts that must be positive although they are no size role (roles: core/model/config_roles).
COUNT_FIELDS = frozenset({"num_labels", "type_vocab_size", "sliding_window", "embedding_size"})
MAX_SIZE = 2**31 - 1
# A typed value or `--set` value: a number, a string, or a small JSON object such as rope_scaling.
VALUE_LIMITS = jsonio.JsonLimits(max_bytes=1_000_000, max_depth=16, max_keys=100_000)


@dataclass(frozen=True)
class Issue:
    """One problem: the field it belongs to (None = the config as a whole) and how to fix it."""

    field: str | None
    message: str
    severity: str = "error"  # "error" blocks Save and Build; "warning" only informs
    related: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"field": self.field, "message": self.message, "severity": self.severity,
                "related": list(self.related)}


@dataclass(frozen=True)
class ValidationResult:
    """All issues of one config; `ok` when none is an error."""

    issues: tuple[Issue, ...] = ()

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity != "error")

    @property
    def ok(self) -> bool:
        return not self.errors

    def for_field(self, name: str) -> list[Issue]:
        """Issues shown next to `name` (its own, and cross-field ones that involve it)."""
        return [i for i in self.issues if i.field == name or name in i.related]

    def raise_if_errors(self) -> None:
        """Raise InvalidConfigError listing every error, as the CLI reports them."""
        if self.errors:
            lines = [i.message for i in self.errors]
            raise InvalidConfigError(
                f"{len(lines)} problem(s) in the config: " + " | ".join(lines))


# -- text -> value (shared by the form's text fields and `--set key=value`) -----------------------
def parse_value(spec: FieldSpec | None, text: str) -> Any:
    """Turn typed text into a value for `spec`: JSON where possible, else the text itself."""
    stripped = text.strip()
    if spec is not None and spec.kind == "str" and _accepts_int(spec) \
            and re.fullmatch(r"[+-]?\d+", stripped):
        return int(stripped)  # a `str | int` field (Mamba2's time_step_rank: "auto" or 4)
    if spec is not None and spec.kind == "str" and stripped not in ("null", "None"):
        return text  # "1" typed into a string field stays a string
    if stripped in ("None", "") and (spec is None or spec.optional) and spec is not None \
            and spec.kind != "str":
        return None
    try:
        value = jsonio.loads(stripped, source=spec.name if spec else "the value",
                             error=InvalidConfigError, syntax_error=_NotJson,
                             limits=VALUE_LIMITS, what="value")
    except _NotJson:
        if spec is not None and spec.kind == "json":
            raise WorkbenchError(f"{spec.name}: not valid JSON ({stripped[:40]!r}). Write JSON, "
                                 f"e.g. {{\"type\": \"linear\", \"factor\": 2}} or [1, 2].") \
                from None
        if stripped in ("True", "False"):
            return stripped == "True"
        return text
    if spec is not None and spec.kind == "float" and isinstance(value, int) \
            and not isinstance(value, bool):
        return float(value)
    return value


class _NotJson(WorkbenchError):
    """Typed text that is not JSON at all (then it is taken as plain text)."""


def parse_assignments(pairs: list[str], schema: ConfigSchema) -> dict[str, Any]:
    """`key=value` strings from the command line -> {field: value}, aliases resolved."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidConfigError(f"--set needs key=value, got '{pair}'. Example: "
                                     f"--set num_hidden_layers=3")
        spec = schema.get(key)
        out[spec.name if spec else key] = parse_value(spec, text)
    return out


# -- per-field checks ----------------------------------------------------------------------------
def check_field(spec: FieldSpec, value: Any,
                size_fields: Collection[str] | None = None) -> list[Issue]:
    """Type and range problems of one value; `size_fields` are the fields that must be >= 1
    (by default the standard role names and COUNT_FIELDS)."""
    name = spec.name
    if value is None:
        if spec.optional:
            return []
        return [Issue(name, f"{name} cannot be empty; enter a {spec.type_text} value "
                            f"(default {spec.default!r}).")]
    kind = spec.kind
    if kind == "bool" and not isinstance(value, bool):
        return [Issue(name, f"{name} must be true or false, not {value!r}.")]
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        if isinstance(value, float) and value.is_integer():
            return [Issue(name, f"{name} must be a whole number: write {int(value)}, not {value}.")]
        return [Issue(name, f"{name} must be a whole number, not {value!r}.")]
    if kind == "float" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return [Issue(name, f"{name} must be a number such as 0.1 or 1e-05, not {value!r}.")]
    if kind == "str" and not isinstance(value, str):
        if _accepts_int(spec) and isinstance(value, int) and not isinstance(value, bool):
            return []
        either = " or a whole number" if _accepts_int(spec) else ""
        return [Issue(name, f"{name} must be text{either}, not {value!r}.")]
    if kind == "choice" and value not in spec.choices:
        options = ", ".join(repr(c) for c in spec.choices)
        return [Issue(name, f"{name} must be one of {options}; got {value!r}.")]
    if size_fields is None:
        size_fields = COUNT_FIELDS | set(config_roles.ROLE_ATTRIBUTES.values())
    return _range_issues(spec, value, name in size_fields)


def _accepts_int(spec: FieldSpec) -> bool:
    """Whether a text field's annotation also allows a whole number (`str | int`)."""
    return "int" in re.split(r"[^\w]+", spec.type_text or "")


def _range_issues(spec: FieldSpec, value: Any, is_size: bool) -> list[Issue]:
    name, n = spec.name, spec.name.lower()
    if spec.kind == "int" and value == spec.default:
        return []  # what transformers itself writes, e.g. DeBERTa-v2's type_vocab_size=0
    if spec.kind == "int":
        if is_size and value < 1:
            return [Issue(name, f"{name} must be at least 1 (got {value}); sizes, layer and head "
                                f"counts are positive.")]
        if name in LAYER_FIELDS + EXPERT_FIELDS and (problem := structure_problems({name: value})):
            return [Issue(name, problem[0][1])]
        if is_size and value > MAX_SIZE:
            return [Issue(name, f"{name} = {value:,} is beyond what torch can index; use a value "
                                f"below {MAX_SIZE:,}.")]
    if spec.kind == "float":
        if any(k in n for k in ("dropout", "pdrop", "layerdrop")) and not 0 <= value <= 1:
            return [Issue(name, f"{name} is a probability: use a value from 0 to 1 "
                                f"(got {value}).")]
        if (n.endswith(("_eps", "epsilon")) or n == "eps") and value <= 0:
            return [Issue(name, f"{name} must be a small positive number such as 1e-05 "
                                f"(got {value}); 0 can divide by zero in normalisation.")]
        if n in ("initializer_range", "init_std") and value < 0:
            return [Issue(name, f"{name} is a standard deviation: use 0 or more (got {value}).")]
    if spec.suggestions and spec.kind == "str" and value not in spec.suggestions:
        return [Issue(name, f"{name} '{value}' is not an activation transformers knows; choose "
                            f"one of {', '.join(spec.suggestions[:8])}...", "warning")]
    return []


# -- cross-field rules ----------------------------------------------------------------------------
def _role(values: dict[str, Any], role: str, cls: type | None) -> tuple[str | None, Any]:
    name = config_roles.role_field(values, role, cls)
    return name, values.get(name) if name else None


def _ints(*values: Any) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values)


def divisors(n: int) -> list[int]:
    """Every divisor of n >= 1, ascending, found in O(sqrt n) steps (n = 10**9: ~31,623)."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return small + [n // d for d in reversed(small) if d * d != n]


def _near_divisors(n: int, around: int, count: int = 3) -> list[int]:
    found = divisors(n) if n <= MAX_SIZE else [1, n]  # sizes above MAX_SIZE are refused
    return sorted(sorted(found, key=lambda d: (abs(d - around), d))[:count])


def _near_multiples(m: int, around: int) -> list[int]:
    low = max(m, around // m * m)
    return sorted({low, low + m} - {around})


def cross_field_issues(values: dict[str, Any], *, tokenizer_vocab_size: int | None = None,
                       model_type: str | None = None) -> list[Issue]:
    """Rules that involve several fields, each with a suggestion that would fix it."""
    issues: list[Issue] = []
    cls = config_roles.config_class(model_type or values.get("model_type"))
    hidden_name, hidden = _role(values, "hidden", cls)
    head_dim_name, head_dim = _role(values, "head_dim", cls)
    kv_name, kv = _role(values, "kv_heads", cls)
    heads_field = config_roles.role_field(values, "heads", cls)
    head_names = [n for n in (heads_field, *config_roles.decoder_fields(values, "heads"))
                  if n is not None and isinstance(values.get(n), int)]
    if cls is not None and config_roles.head_dim_is_independent(cls):
        head_names = []  # e.g. T5 sizes heads with d_kv: hidden need not divide evenly
    for heads_name in head_names:
        heads = values[heads_name]
        if not _ints(hidden, heads) or head_dim is not None:
            continue
        if hidden % heads:
            div = ", ".join(map(str, _near_divisors(hidden, heads)))
            mult = " or ".join(map(str, _near_multiples(heads, hidden)))
            issues.append(Issue(
                hidden_name, f"{hidden_name} ({hidden}) is not divisible by {heads_name} "
                f"({heads}): each head gets {hidden_name} / {heads_name} dimensions. Set "
                f"{heads_name} to a divisor such as {div}, or {hidden_name} to {mult}.",
                related=(heads_name,)))
    heads_name = head_names[0] if head_names else None
    heads = values.get(heads_name) if heads_name else None
    if kv_name and _ints(kv, heads):
        if kv > heads:
            issues.append(Issue(kv_name, f"{kv_name} ({kv}) cannot exceed {heads_name} "
                                f"({heads}); use {heads} or fewer (grouped-query attention "
                                f"shares each key/value head between query heads).",
                                related=(heads_name,)))
        elif heads % kv:
            div = ", ".join(map(str, _near_divisors(heads, kv)))
            issues.append(Issue(kv_name, f"{heads_name} ({heads}) is not divisible by {kv_name} "
                                f"({kv}): every key/value head must serve the same number of "
                                f"query heads. Set {kv_name} to {div}.", related=(heads_name,)))
    if head_dim_name and _ints(head_dim, heads, hidden) and head_dim * heads != hidden:
        derived = hidden // heads if hidden % heads == 0 else "?"
        issues.append(Issue(head_dim_name, f"{head_dim_name} ({head_dim}) x {heads_name} "
                            f"({heads}) = {head_dim * heads}, not {hidden_name} ({hidden}): "
                            f"attention projects to {head_dim * heads} and back. Clear "
                            f"{head_dim_name} to derive {derived} or keep it if that is intended.",
                            "warning",
                            related=(heads_name, hidden_name)))
    rotary = any(k in values for k in ("rope_parameters", "rope_theta", "rope_scaling"))
    per_head = head_dim if head_dim is not None else (
        hidden // heads if _ints(hidden, heads) and hidden % heads == 0 else None)
    if rotary and isinstance(per_head, int) and per_head % 2:
        issues.append(Issue(head_dim_name or hidden_name, f"The head size is {per_head}, but "
                            f"rotary position embeddings rotate pairs of dimensions: choose "
                            f"sizes that give an even head size (e.g. head_dim {per_head + 1}).",
                            related=tuple(n for n in (heads_name, hidden_name) if n)))
    rotary_dim = values.get("rotary_dim")  # GPT-J, CodeGen: the rotated part of each head
    if _ints(rotary_dim, per_head) and rotary_dim > per_head:
        issues.append(Issue("rotary_dim", f"rotary_dim ({rotary_dim}) is larger than the head "
                            f"size ({per_head}): rotary embeddings rotate a part of each head, "
                            f"at most all of it, and the model fails on its first input. Set "
                            f"rotary_dim to {per_head} or less.",
                            related=tuple(n for n in (heads_name, hidden_name) if n)))
    issues += _token_issues(values, tokenizer_vocab_size, cls)
    issues += _window_issues(values)
    issues += _expert_issues(values)
    return issues


def _expert_issues(values: dict[str, Any]) -> list[Issue]:
    """Mixture-of-experts routing that the model's code cannot run (each fails on the first
    input, measured with transformers 5.25: Mixtral, Qwen-MoE, DeepSeek-V3)."""
    issues: list[Issue] = []
    experts_name = next((n for n in ("n_routed_experts", "num_local_experts", "num_experts")
                         if _ints(values.get(n))), None)
    experts = values.get(experts_name) if experts_name else None
    per_token = values.get("num_experts_per_tok")
    if _ints(experts, per_token) and per_token > experts:
        issues.append(Issue("num_experts_per_tok", f"num_experts_per_tok ({per_token}) exceeds "
                            f"{experts_name} ({experts}): each token is routed to that many of "
                            f"the experts. Set it to {experts} or fewer.",
                            related=(experts_name,)))
    groups, top_groups = values.get("n_group"), values.get("topk_group")
    if _ints(experts, groups) and groups > 0:
        # DeepSeek's group routing scores each group by its two best experts
        if experts % groups or experts // groups < 2:
            div = ", ".join(str(d) for d in divisors(experts) if experts // d >= 2) or "1"
            issues.append(Issue("n_group", f"{experts_name} ({experts}) must split into "
                                f"n_group ({groups}) equal groups of at least 2 experts (each "
                                f"group is scored by its two best). Set n_group to {div}.",
                                related=(experts_name,)))
        if _ints(top_groups) and top_groups > groups:
            issues.append(Issue("topk_group", f"topk_group ({top_groups}) exceeds n_group "
                                f"({groups}); set it to {groups} or fewer.",
                                related=("n_group",)))
    return issues


def _token_issues(values: dict[str, Any], tokenizer_vocab_size: int | None,
                  cls: type | None) -> list[Issue]:
    issues: list[Issue] = []
    vocab_name, vocab = _role(values, "vocab", cls)
    for name, value in values.items():
        if not name.endswith(("token_id", "token_ids")) or value is None:
            continue
        ids = value if isinstance(value, list) else [value]
        for tid in ids:
            if not isinstance(tid, int) or isinstance(tid, bool):
                issues.append(Issue(name, f"{name} must be a token id (a whole number) or a "
                                    f"list of them, not {tid!r}."))
            elif tid < 0:
                issues.append(Issue(name, f"{name} ({tid}) is negative; token ids start at 0. "
                                    f"Clear it (None) if the model has no such token."))
            elif _ints(vocab) and tid >= vocab:
                issues.append(Issue(name, f"{name} ({tid}) is outside the vocabulary "
                                    f"({vocab_name} = {vocab}, ids 0..{vocab - 1}). Set "
                                    f"{vocab_name} to at least {tid + 1} or choose another id.",
                                    related=(vocab_name,)))
    if tokenizer_vocab_size and _ints(vocab) and tokenizer_vocab_size > vocab:
        issues.append(Issue(vocab_name, f"The attached tokenizer has {tokenizer_vocab_size:,} "
                            f"tokens but {vocab_name} is {vocab:,}: ids from {vocab:,} up would "
                            f"index past the embedding table. Set {vocab_name} to at least "
                            f"{tokenizer_vocab_size:,}."))
    return issues


def _window_issues(values: dict[str, Any]) -> list[Issue]:
    window = values.get("sliding_window")
    use = values.get("use_sliding_window", True)
    positions = values.get("max_position_embeddings")
    if use and _ints(window, positions) and window > positions:
        return [Issue("sliding_window", f"sliding_window ({window}) is longer than "
                      f"max_position_embeddings ({positions}), so it never limits attention; "
                      f"lower it or turn use_sliding_window off.", "warning",
                      related=("max_position_embeddings",))]
    return []


# -- the library's word ---------------------------------------------------------------------------
_FIELD_IN_MESSAGE = re.compile(r"[Ff]ield '(\w+)'")


def library_issue(error: Exception, schema: ConfigSchema,
                  values: dict[str, Any] | None = None) -> Issue:
    """A transformers/torch exception as an Issue, attached to the field it names if any."""
    text = str(error)
    # transformers prefixes the wrapped message with its own; keep the last line that says what.
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    detail = lines[-1] if lines else type(error).__name__
    match = _FIELD_IN_MESSAGE.search(text)
    name = match.group(1) if match else None
    if name is None:
        hits = [f.name for f in schema.fields if re.search(rf"\b{re.escape(f.name)}\b", text)]
        name = hits[0] if len(hits) == 1 else None
    if name is None and values:
        # e.g. KeyError: 'foo' from an unknown activation name: point at the field holding it
        hits = [k for k, v in values.items()
                if isinstance(v, str) and len(v) > 1 and f"'{v}'" in text]
        name = hits[0] if len(hits) == 1 else None
    return Issue(name, f"transformers rejects this config: {detail}")


def validate(values: dict[str, Any], schema: ConfigSchema, *,
             tokenizer_vocab_size: int | None = None) -> ValidationResult:
    """Fast checks (no torch): every field's type and range plus the cross-field rules."""
    shown = effective_values(values, schema)
    cls = config_roles.config_class(schema.model_type or shown.get("model_type"))
    sizes = COUNT_FIELDS | set(config_roles.ROLE_ATTRIBUTES.values()) | set(
        config_roles.role_fields(shown, cls))
    issues: list[Issue] = []
    for spec in schema.fields:
        issues += check_field(spec, shown.get(spec.name), sizes)
    if shown.get("use_sliding_window") is False:
        # a window that is switched off may be anything (Qwen2-MoE writes sliding_window=0)
        issues = [i for i in issues if i.field != "sliding_window"]
    typed_ok = {i.field for i in issues if i.severity == "error"}
    clean = {k: v for k, v in shown.items() if k not in typed_ok}
    issues += cross_field_issues(clean, tokenizer_vocab_size=tokenizer_vocab_size,
                                 model_type=schema.model_type)
    return ValidationResult(tuple(issues))


def library_check(values: dict[str, Any], schema: ConfigSchema):
    """Let transformers build the config and the model on the meta device: (model, issues)."""
    from workbench.core.errors import ModelBuildError
    from workbench.core.model.architecture import build_meta_model, config_from_dict

    if schema.config_class is None:
        return None, [Issue(None, f"transformers does not know model_type "
                                  f"'{values.get('model_type')}': the config can be edited and "
                                  f"saved, but no model can be built or estimated from it.",
                            "warning")]
    try:
        config = config_from_dict(values)
    except InvalidConfigError as e:
        cause = e.__cause__ or e.__context__ or e
        return None, [library_issue(cause if str(cause) else e, schema, values)]
    try:
        return build_meta_model(config), []
    except ModelBuildError as e:
        return None, [library_issue(e, schema, values)]
