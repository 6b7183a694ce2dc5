"""Mutations of real safetensors headers: values of the wrong type or size, hostile names,
broken structure, flipped bytes, wrong lengths. Deterministic for a given seed."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

# Raw JSON texts put in place of a field's value.
HOSTILE_VALUES = (
    '["F32"]', "{}", "null", "true", "false", "-1", "-0", "0", "1", "1.0", "1e0", "1.5",
    "18446744073709551615", "18446744073709551616", "340282366920938463463374607431768211456",
    "1e400", "-1e400", "NaN", "Infinity", "-Infinity", '"F4"', '"F6_E2M3"', '"F6_E3M2"',
    '"BOOL"', '"C64"', '"F8_E8M0"', '"f32"', '""', '"\\ud800"', '"\\udfff\\ud800"', "[]",
    "[0]", "[-0]", "[1e308]", "[true]", "[null]", '["1"]', "[[1]]", "[18446744073709551616]",
    "[4294967296,4294967296]", "[4294967296,4294967296,4294967296]", "[3]", "[1,3]",
    "[0,18446744073709551615]", "[18446744073709551615,18446744073709551615]", "[5,3]",
    "[0,0,0]", "[0]", "9" * 5000, "[" + "9" * 4301 + "]", "[" * 90 + "]" * 90,
    "[" * 101 + "]" * 101, "[" * 3000 + "]" * 3000, "{" + '"a":{' * 200 + "}" * 201,
    '"' + "x" * 100_000 + '"',
)
HOSTILE_NAMES = (
    "." * 600 + "w", "a." * 600 + "w", "\0params", "\0params.weight", "x.\0params", "",
    "__metadata__", "__metadata__x", "\ud800", "a\udfffb.weight", "\x00\x01\x1b[31m", "é.ü",
    "n" * 100_000, ".", "..", "a..b", "a.b.", "../../etc/passwd",
)
DTYPES = ("F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3",
          "F6_E3M2", "C64", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL")
PLACEHOLDER = "@@HOSTILE@@"


@dataclass(frozen=True)
class Case:
    """One mutated file: what was done, the header bytes, the data length, a forced length."""

    tag: str
    header: bytes
    data_len: int
    declared_len: int | None = None  # the 8-byte length field, when it lies


def _dump(header: dict) -> str:
    return json.dumps(header, separators=(",", ":"), ensure_ascii=False)


def _with_raw(header: dict, path: tuple[str, ...], raw: str) -> bytes:
    """The header with the value at `path` replaced by the raw JSON text `raw`."""
    node = header
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = PLACEHOLDER
    return _dump(header).replace(f'"{PLACEHOLDER}"', raw, 1).encode("utf-8", "surrogatepass")


def _tensor_names(header: dict) -> list[str]:
    return [k for k in header if k != "__metadata__"]


def mutate(raw: bytes, data_len: int, rng: random.Random) -> Case:
    """One random mutation of a real header (`raw`) whose data section has `data_len` bytes."""
    header = json.loads(raw)
    names = _tensor_names(header)
    name = rng.choice(names)
    kind = rng.randrange(16)
    if kind == 0:
        field = rng.choice(("dtype", "shape", "data_offsets", "x"))
        value = rng.choice(HOSTILE_VALUES)
        return Case(f"value {field}={value[:20]}", _with_raw(header, (name, field), value),
                    data_len)
    if kind == 1:
        shape = header[name]["shape"]
        if shape:
            i = rng.randrange(len(shape))
            shape[i] = rng.choice((0, 1, shape[i] + 1, max(shape[i] - 1, 0), shape[i] * 2,
                                   2**32, 2**63, 2**64 - 1))
        else:
            header[name]["shape"] = [rng.randrange(4)]
        return Case("shape dim", _dump(header).encode(), data_len)
    if kind == 2:
        offsets = header[name]["data_offsets"]
        i = rng.randrange(2)
        offsets[i] = max(0, offsets[i] + rng.choice((-1, 1, -8, 8, 10**6, -(10**6))))
        if rng.random() < 0.2:
            offsets.reverse()
        return Case("offsets", _dump(header).encode(), data_len)
    if kind == 3:
        header[name]["dtype"] = rng.choice(DTYPES)
        return Case("dtype swap", _dump(header).encode(), data_len)
    if kind == 4:  # sub-byte dtypes: odd element counts, and consistent or not sizes
        entry = header[name]
        numel = rng.choice((1, 3, 5, 7, 2**61 + 1, 10**308 // 10**290))
        entry["dtype"] = rng.choice(("F4", "F6_E2M3", "F6_E3M2"))
        entry["shape"] = [numel]
        begin = entry["data_offsets"][0]
        entry["data_offsets"] = [begin, begin + (numel * 6 + 7) // 8]
        return Case("sub-byte", _dump(header).encode(), data_len)
    if kind == 5:
        new = rng.choice(HOSTILE_NAMES)
        header = {(new if k == name else k): v for k, v in header.items()}
        return Case(f"name {new[:12]!r}", _dump(header).encode("utf-8", "surrogatepass"),
                    data_len)
    if kind == 6:
        value = rng.choice(HOSTILE_VALUES)
        if rng.random() < 0.5:
            header["__metadata__"] = {"format": "pt", "k": PLACEHOLDER}
        else:
            header["__metadata__"] = PLACEHOLDER
        return Case(f"metadata {value[:20]}", _dump(header).replace(
            f'"{PLACEHOLDER}"', value, 1).encode("utf-8", "surrogatepass"), data_len)
    if kind == 7:  # a repeated key: the same entry twice, or another tensor's entry
        text = _dump(header)
        other = rng.choice(names)
        entry = f'"{name}":{json.dumps(header[other], separators=(",", ":"))}'
        return Case("duplicate key", (text[:-1] + "," + entry + "}").encode(), data_len)
    if kind == 8:
        if rng.random() < 0.5:
            del header[name]
        else:
            del header[name][rng.choice(("dtype", "shape", "data_offsets"))]
        return Case("deletion", _dump(header).encode(), data_len)
    if kind == 9:  # flipped bytes
        data = bytearray(raw)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return Case("flipped bytes", bytes(data), data_len)
    if kind == 10:
        cut = rng.randrange(len(raw))
        return Case("truncated header", raw[:cut], data_len)
    if kind == 11:
        lie = rng.choice((0, 1, 7, len(raw) - 1, len(raw) + 1, len(raw) + data_len + 1,
                          100_000_001, 2**63, 2**64 - 1))
        return Case(f"length {lie}", raw, data_len, declared_len=lie)
    if kind == 12:
        return Case("data length", raw, max(0, data_len + rng.choice((-1, 1, -data_len, 4096))))
    if kind == 13:
        pad = rng.choice((b" ", b"   ", b"\n", b"\0", b"\t\r\n", b"\xff", b"\xef\xbb\xbf"))
        lead = rng.random() < 0.5
        return Case(f"padding {pad!r}", pad + raw if lead else raw + pad, data_len)
    if kind == 14:
        wrapper = rng.choice(("[{}]", '"{}"', "1", "null", "[]", "{}"))
        text = wrapper.replace("{}", raw.decode()) if "{}" in wrapper[1:] else wrapper
        return Case(f"wrapped {wrapper}", text.encode(), data_len)
    value = rng.choice(HOSTILE_VALUES)
    key = rng.choice(("shape", "data_offsets", "dtype"))
    return Case(f"nested {key}", _with_raw(header, (name, key), "[" + value + "]"), data_len)


def cases(sources: list[tuple[bytes, int]], count: int, seed: int = 11) -> Iterator[Case]:
    """`count` mutations spread over the real headers in `sources` (raw header, data length)."""
    rng = random.Random(seed)
    for i in range(count):
        raw, data_len = sources[i % len(sources)]
        yield mutate(raw, data_len, rng)
