"""Bounded JSON: every file or value the app reads goes through `loads`/`load_file` here.

Python's `json` has no limits of its own: 1,000 nested brackets raise RecursionError, an integer
of 4,301 digits raises ValueError, a 200 MB file with 13 million keys takes gigabytes. Here each
read states its limits (`JsonLimits`), and every violation, like every syntax error, becomes the
caller's WorkbenchError subclass with a message naming the file, the field and what is allowed.

Output goes through `dumps`: strict JSON (RFC 8259), with non-finite floats written the way
transformers writes them in config.json, `{"__float__": "Infinity"}` (also "-Infinity", "NaN");
`loads` decodes that form back into floats.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError

FLOAT_KEY = "__float__"  # transformers' encoding of a non-finite float in config.json
_NONFINITE = {"Infinity": math.inf, "-Infinity": -math.inf, "NaN": math.nan}


@dataclass(frozen=True)
class JsonLimits:
    """What one kind of JSON document may hold; the defaults fit real configs with a wide margin."""

    max_bytes: int = 20_000_000  # a 70B model's config.json is ~1 KB; tokenizer.json ~10 MB
    max_depth: int = 64  # real configs nest ~5 deep (text_config.rope_scaling...)
    max_int_digits: int = 40  # more than any u64 / i128 value needs
    max_string: int = 1_000_000  # characters in one key or string value
    max_keys: int = 2_000_000  # object keys in the whole document
    allow_nonfinite: bool = True  # accept bare NaN/Infinity (Python's json.dump writes them)
    reject_duplicates: bool = False  # a repeated key (otherwise the last one wins)
    negative_zero: bool = True  # accept "-0" (a u64 reader such as serde refuses it)
    surrogates: bool = True  # accept lone UTF-16 surrogates ("\\ud800"), which are not Unicode

    def with_(self, **changes: Any) -> JsonLimits:
        """A copy with some limits changed."""
        return replace(self, **changes)


DEFAULT_LIMITS = JsonLimits()
# Small records the app itself writes into run folders (spec, events, checkpoint markers, the
# control file); a run folder may come from anywhere, so they are read within limits too.
RECORD_LIMITS = JsonLimits(max_bytes=1_000_000, max_depth=8, max_keys=10_000)

# A JSON string token; possessive quantifiers so an unterminated string costs one linear scan.
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_INNERMOST = re.compile(r"\[\]|\{\}")


class _Violation(Exception):
    """Raised inside the parser's hooks; turned into the caller's error by `loads`."""


@dataclass(frozen=True)
class _BadNumber:
    """Placeholder the number hooks return, so the object hook can name the field holding it."""

    text: str
    reason: str


def nesting_exceeds(text: str, limit: int) -> bool:
    """True when brackets outside strings nest deeper than `limit` (no recursion, C-speed scans).

    Strings are removed, then innermost `[]`/`{}` pairs are deleted once per level: at most
    `limit` + 1 passes over the brackets alone.
    """
    return _nesting_exceeds_bare(_STRING.sub("", text), limit)


def _nesting_exceeds_bare(bare: str, limit: int) -> bool:
    brackets = _NOT_BRACKET.sub("", bare)
    for _ in range(limit):
        if not brackets:
            return False
        brackets, removed = _INNERMOST.subn("", brackets)
        if not removed:  # unbalanced: invalid JSON, but the parser would still recurse into it
            return len(brackets) > limit
    return bool(brackets)


def loads(text: str | bytes, *, source: str, error: type[WorkbenchError] = WorkbenchError,
          limits: JsonLimits = DEFAULT_LIMITS, what: str = "JSON",
          syntax_error: type[WorkbenchError] | None = None) -> Any:
    """Parse `text` within `limits`; any problem raises `error` naming `source` and the field.

    `what` says what the text is ("header", "config") in messages; `syntax_error`, when given,
    is raised instead of `error` for text that is not JSON at all (within the limits).
    """
    where = f"{source}: the {what}"
    if isinstance(text, bytes | bytearray):
        if len(text) > limits.max_bytes:
            raise error(f"{where} is {len(text):,} bytes; the limit is {limits.max_bytes:,}. "
                        f"The file is corrupt or not what its name says.")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise error(f"{where} is not UTF-8 text (byte {e.start:,}). The file is corrupt "
                        f"or binary; restore it from its source.") from None
    if len(text) > limits.max_bytes:
        raise error(f"{where} is {len(text):,} characters; the limit is {limits.max_bytes:,}. "
                    f"The file is corrupt or not what its name says.")
    bare = _STRING.sub('""', text)  # the text outside strings: brackets, colons, numbers
    if _nesting_exceeds_bare(bare, limits.max_depth):
        raise error(f"{where} nests objects/lists more than {limits.max_depth} levels deep "
                    f"(or leaves them unclosed), which no valid file does. The file is corrupt "
                    f"or hostile; restore it.")
    if bare.count(":") > limits.max_keys:  # outside strings, each colon follows a key
        raise error(f"{where} has more than {limits.max_keys:,} keys. The file is corrupt or "
                    f"hostile; restore it from its source.")
    try:
        if _suspicious(text, bare, limits):
            return _decode(text, limits)  # hooks on every value, to name the offending field
        return _decode_fast(text, limits)
    except _Violation as e:
        raise error(f"{where} {e}. The file is corrupt or hostile; restore it from its "
                    f"source.") from None
    except json.JSONDecodeError as e:
        raise (syntax_error or error)(
            f"{where} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}). Fix it in "
            f"a text editor or restore it from its source.") from None
    except (RecursionError, MemoryError, ValueError, OverflowError) as e:  # defence in depth
        raise error(f"{where} cannot be parsed within the limits ({type(e).__name__}). "
                    f"Restore it from its source.") from None


def load_object(path: str | Path, *, what: str = "JSON",
                limits: JsonLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """A JSON file that must hold an object (a config, an adapter config), read within limits."""
    data = load_file(path, limits=limits, what=what)
    if not isinstance(data, dict):
        raise WorkbenchError(f"{path} must hold a JSON object (a {what}), not "
                             f"{type(data).__name__}.")
    return data


def load_file(path: str | Path, *, error: type[WorkbenchError] = WorkbenchError,
              limits: JsonLimits = DEFAULT_LIMITS, what: str = "JSON",
              source: str | None = None) -> Any:
    """Read and parse a JSON file; its size is checked before a byte of it is read."""
    p = Path(path)
    name = source or str(p)
    try:
        size = p.stat().st_size
        if size > limits.max_bytes:
            raise error(f"{name} is {size:,} bytes; a {what} file may be at most "
                        f"{limits.max_bytes:,}. The file is corrupt or not what its name says.")
        raw = p.read_bytes()
    except FileNotFoundError:
        raise error(f"{name} does not exist.") from None
    except IsADirectoryError:
        raise error(f"{name} is a folder, not a {what} file.") from None
    except OSError as e:
        raise error(f"{name} cannot be read: {e.strerror or e}.") from None
    return loads(raw, source=name, error=error, limits=limits, what=what)


def _suspicious(text: str, bare: str, limits: JsonLimits) -> bool:
    """Whether the text may break a limit; the C parser alone handles everything else.

    These are cheap over-approximations (C regex scans): a hit only selects the slow path,
    whose hooks decide exactly and name the field.
    """
    return bool(
        re.search(rf"\d{{{limits.max_int_digits + 1}}}", bare)
        or (not limits.negative_zero and re.search(r"-0(?![.\deE])", bare))
        or (not limits.allow_nonfinite and re.search(r"NaN|Infinity|[eE][+-]?\d{3}", bare))
        or (not limits.surrogates and re.search(r"\\u[dD][89a-fA-F]", text))
        or (len(text) > limits.max_string  # a run between quotes as long as the limit
            and max(map(len, text.split('"'))) >= limits.max_string))


def _decode_fast(text: str, limits: JsonLimits) -> Any:
    """json.loads with C-level parsing; only duplicate keys and __float__ need a hook."""
    floats = f'"{FLOAT_KEY}"' in text
    if not limits.reject_duplicates and not floats:
        return json.loads(text)

    def pairs_hook(pairs: list[tuple[str, Any]]) -> Any:
        result = dict(pairs)
        if len(result) != len(pairs) and limits.reject_duplicates:
            seen: set[str] = set()
            dup = next(k for k, _ in pairs if k in seen or seen.add(k))
            raise _Violation(f"repeats the key {_show(dup)} (each key may appear once)")
        if floats and len(pairs) == 1 and pairs[0][0] == FLOAT_KEY \
                and pairs[0][1] in _NONFINITE:
            return _NONFINITE[pairs[0][1]]
        return result

    return json.loads(text, object_pairs_hook=pairs_hook)


def _decode(text: str, limits: JsonLimits) -> Any:
    keys = 0
    bad: list[_BadNumber] = []

    def parse_int(s: str) -> Any:
        digits = len(s) - (s[0] == "-")
        if digits > limits.max_int_digits:
            bad.append(_BadNumber(s, f"an integer of {digits:,} digits (at most "
                                     f"{limits.max_int_digits} allowed)"))
            return bad[-1]
        if s == "-0" and not limits.negative_zero:
            bad.append(_BadNumber(s, "the signed number -0 (only unsigned integers are allowed)"))
            return bad[-1]
        return int(s)

    def parse_float(s: str) -> Any:
        if len(s) > limits.max_int_digits + 40:
            bad.append(_BadNumber(s, f"a number written with {len(s):,} characters"))
            return bad[-1]
        value = float(s)
        if not limits.allow_nonfinite and math.isinf(value):
            bad.append(_BadNumber(s, f"the number {s[:30]}, out of the range of a float"))
            return bad[-1]
        return value

    def parse_constant(s: str) -> Any:
        if not limits.allow_nonfinite:
            bad.append(_BadNumber(s, f"the non-standard constant {s} (strict JSON has no "
                                     f"NaN or Infinity)"))
            return bad[-1]
        return _NONFINITE[s]

    def pairs_hook(pairs: list[tuple[str, Any]]) -> Any:
        nonlocal keys
        keys += len(pairs)
        if keys > limits.max_keys:
            raise _Violation(f"has more than {limits.max_keys:,} keys")
        for key, value in pairs:
            if len(key) > limits.max_string:
                raise _Violation(f"has a key of {len(key):,} characters (at most "
                                 f"{limits.max_string:,} allowed)")
            if isinstance(value, str) and len(value) > limits.max_string:
                raise _Violation(f"field {_show(key)} is a string of {len(value):,} characters "
                                 f"(at most {limits.max_string:,} allowed)")
            if not limits.surrogates:
                _check_unicode(key, key)
                if isinstance(value, str):
                    _check_unicode(key, value)
            if bad:
                found = value if isinstance(value, _BadNumber) else next(
                    (v for v in value if isinstance(v, _BadNumber)), None) \
                    if isinstance(value, list) else None
                if found is not None:
                    raise _Violation(f"field {_show(key)} holds {found.reason}")
        result = dict(pairs)
        if limits.reject_duplicates and len(result) != len(pairs):
            seen: set[str] = set()
            dup = next(k for k, _ in pairs if k in seen or seen.add(k))
            raise _Violation(f"repeats the key {_show(dup)} (each key may appear once)")
        if len(pairs) == 1 and pairs[0][0] == FLOAT_KEY and pairs[0][1] in _NONFINITE:
            return _NONFINITE[pairs[0][1]]
        return result

    value = json.loads(text, parse_int=parse_int, parse_float=parse_float,
                       parse_constant=parse_constant, object_pairs_hook=pairs_hook)
    if bad:
        raise _Violation(f"holds {bad[0].reason}")
    return value


def _check_unicode(key: str, text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise _Violation(f"field {_show(key)} holds a lone UTF-16 surrogate (\\ud800-\\udfff), "
                             f"which is not a Unicode character") from None


def _show(key: str, limit: int = 60) -> str:
    """A key for a message: quoted, shortened, lone surrogates and controls escaped."""
    return ascii(key[:limit] + ("..." if len(key) > limit else ""))


# -- output ---------------------------------------------------------------------------------------
def strict(value: Any) -> Any:
    """`value` with every non-finite float replaced by transformers' {"__float__": ...} form."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {FLOAT_KEY: "NaN" if math.isnan(value) else
                ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict(v) for v in value]
    return value


def dumps(value: Any, *, indent: int | None = None) -> str:
    """Strict JSON text of `value` (see `strict`); unknown objects are written as strings."""
    return json.dumps(strict(value), indent=indent, default=str, allow_nan=False)
