"""Differential test: a safetensors file the library (safe_open) refuses, we refuse too.

Where we are stricter than the library, the case is in STRICTER with the reason; nowhere do we
accept what it refuses.
"""

from __future__ import annotations

import re

import pytest

from tests.core.hostile.mutations import cases
from tests.core.hostile.stfiles import library_verdict, overwrite, read_header, st
from workbench.core.checkpoint.safetensors_header import read_safetensors_header
from workbench.core.errors import CorruptCheckpointError

E = '"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'


def entry(dtype: str = "F32", shape: str = "[1]", offsets: str = "[0,4]", extra: str = "") -> str:
    return f'{{"a":{{"dtype":"{dtype}","shape":{shape},"data_offsets":{offsets}{extra}}}}}'


# name -> (raw header, data bytes)
HAND_CASES = {
    "valid": ("{" + E + "}", 4),
    "leading space": (" {" + E + "}", 4),
    "trailing spaces": ("{" + E + "}   ", 4),
    "trailing NUL": ("{" + E + "}\0", 4),
    "metadata null": ('{"__metadata__":null,' + E + "}", 4),
    "metadata int value": ('{"__metadata__":{"a":1},' + E + "}", 4),
    "metadata list value": ('{"__metadata__":{"a":["b"]},' + E + "}", 4),
    "metadata list": ('{"__metadata__":[],' + E + "}", 4),
    "metadata twice": ('{"__metadata__":{"a":"b"},"__metadata__":{"a":"c"},' + E + "}", 4),
    "dtype list": (entry(dtype='["F32"]').replace('"["F32"]"', '["F32"]'), 4),
    "dtype lowercase": (entry(dtype="f32"), 4),
    "shape -0": (entry(shape="[-0]", offsets="[0,0]"), 0),
    "shape true": (entry(shape="[true]"), 4),
    "shape 1.0": (entry(shape="[1.0]"), 4),
    "shape 2**64": (entry(shape="[18446744073709551616,0]", offsets="[0,0]"), 0),
    "offsets 2**64": (entry(offsets="[0,18446744073709551616]"), 4),
    "offsets three": (entry(offsets="[0,4,4]"), 4),
    "F4 odd count": (entry(dtype="F4", shape="[3]", offsets="[0,2]"), 2),
    "F6 odd count": (entry(dtype="F6_E2M3", shape="[3]", offsets="[0,3]"), 3),
    "F4 2**62 elements": (entry(dtype="F4", shape="[4611686018427387904]",
                                offsets="[0,2305843009213693952]"), 0),
    "F4 1e308 elements": (entry(dtype="F4", shape="[" + "1" + "0" * 308 + "]",
                                offsets="[0,4]"), 4),
    "U8 overflow": (entry(dtype="U8", shape="[4294967296,4294967296,2]", offsets="[0,0]"), 0),
    "surrogate name": ('{"\\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4),
    "surrogate metadata": ('{"__metadata__":{"k":"\\udc00"},' + E + "}", 4),
    "NaN in extra field": (entry(extra=',"x":NaN'), 4),
    "1e400 in extra field": (entry(extra=',"x":1e400'), 4),
    "depth 200": (entry(extra=',"x":' + "[" * 200 + "]" * 200), 4),
    "a list": ("[]", 0),
    "gap": (entry(offsets="[4,8]"), 8),
    "trailing data": ("{" + E + "}", 8),
    "missing data": ("{" + E + "}", 2),
    # the stricter cases (see STRICTER)
    "duplicate tensor": ("{" + E + "," + E + "}", 4),
    "duplicate metadata key": ('{"__metadata__":{"a":"b","a":"c"},' + E + "}", 4),
    "-0 in extra field": (entry(extra=',"x":-0'), 4),
    "30-digit int in extra field": (entry(extra=',"x":' + "9" * 30), 4),
    "depth 110": (entry(extra=',"x":' + "[" * 110 + "]" * 110), 4),
}

# Cases the library accepts and we refuse, and why that is the better answer.
STRICTER = {
    "duplicate tensor": "the library keeps the last copy silently; two entries for one name "
                        "mean a forged or broken writer, and which one is real is unknowable",
    "duplicate metadata key": "same: a repeated key hides one value",
    "-0 in extra field": "an ignored field, but every number in a header is a u64 and serde "
                         "refuses -0 as one; no writer produces it",
    "30-digit int in extra field": "an ignored field; integers over 20 digits exceed any u64",
    "depth 110": "an ignored field; we stop nesting at 100 levels (the library at 128)",
}
# Message fragments that identify a "stricter" refusal among the fuzzed cases.
STRICTER_MESSAGES = re.compile(r"repeats the key|-0|nests objects|integer of \d+ digits|"
                               r"written with")


@pytest.mark.parametrize("name", sorted(HAND_CASES))
def test_hand_cases_agree_with_the_library(tmp_path, name):
    raw, data = HAND_CASES[name]
    path = st(tmp_path / "case.safetensors", raw, b"\0" * data)
    theirs = library_verdict(path)
    try:
        read_safetensors_header(path)
        ours = None
    except CorruptCheckpointError as e:
        ours = str(e)
    if theirs is not None:
        assert ours is not None, f"the library refuses {name!r} ({theirs}) but we accept it"
    elif ours is not None:
        assert name in STRICTER, f"we refuse {name!r} ({ours}), which the library accepts"
    else:
        assert name not in STRICTER, f"{name!r} is listed as stricter but we accept it"


def test_mutated_real_headers_agree_with_the_library(tmp_path, tiny_models, minilm_path):
    sources = [read_header(folder / "model.safetensors") for folder in tiny_models.values()]
    sources.append(read_header(minilm_path / "model.safetensors"))
    path = tmp_path / "case.safetensors"
    refused_by_both = stricter = 0
    for case in cases(sources, 1500, seed=3):
        overwrite(path, case.header, case.data_len, case.declared_len)
        theirs = library_verdict(path)
        try:
            read_safetensors_header(path)
            ours = None
        except CorruptCheckpointError as e:
            ours = str(e)
        if theirs is not None:
            assert ours is not None, f"{case.tag}: the library refuses ({theirs}), we accept"
            refused_by_both += 1
        elif ours is not None:
            assert STRICTER_MESSAGES.search(ours), f"{case.tag}: only we refuse: {ours}"
            stricter += 1
    assert refused_by_both > 500  # the mutations really produce hostile files

