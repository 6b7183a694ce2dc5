"""Each hostile input of issue 11 (readers half) as a regression test: a clear WorkbenchError
naming the file and the field, never another exception."""

from __future__ import annotations

import io
import json
import shutil
import zipfile

import pytest

from tests.core.hostile.stfiles import st
from workbench.core import jsonio
from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.checkpoint.pickle_weights import read_pickle_tensors
from workbench.core.checkpoint.safetensors_header import MAX_HEADER_BYTES
from workbench.core.errors import (
    CorruptCheckpointError,
    InvalidConfigError,
    InvalidIndexError,
    InvalidTrainSpecError,
    WorkbenchError,
)

ONE = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}


# -- safetensors headers --------------------------------------------------------------------------
def test_list_as_dtype(tmp_path):
    path = st(tmp_path / "a.safetensors", {"w": {**ONE, "dtype": ["F32"]}}, 4)
    with pytest.raises(CorruptCheckpointError, match=r"tensor 'w'.*unknown dtype \['F32'\]"):
        inspect_checkpoint(path)


@pytest.mark.parametrize("where", ["header", "metadata"])
def test_nesting_a_thousand_deep(tmp_path, where):
    deep = "[" * 1000 + "]" * 1000
    raw = ('{"__metadata__":{"a":' + deep + '}}' if where == "metadata"
           else '{"w":{"dtype":"F32","shape":' + deep + ',"data_offsets":[0,0]}}')
    path = st(tmp_path / "deep.safetensors", raw)
    with pytest.raises(CorruptCheckpointError, match="nests objects/lists more than 100 levels"):
        inspect_checkpoint(path)


def test_integer_of_5000_digits_names_the_field(tmp_path):
    path = st(tmp_path / "big.safetensors",
              '{"w":{"dtype":"F32","shape":[' + "9" * 5000 + '],"data_offsets":[0,4]}}', 4)
    with pytest.raises(CorruptCheckpointError, match="field 'shape' holds an integer of 5,000"):
        inspect_checkpoint(path)


def test_sub_byte_tensor_with_more_than_1e308_elements(tmp_path):
    huge = 10**18  # 20-digit dims multiply past 1e308 elements without a float in sight
    path = st(tmp_path / "f4.safetensors", {"w": {"dtype": "F4", "shape": [huge] * 18,
                                                  "data_offsets": [0, 4]}}, 4)
    with pytest.raises(CorruptCheckpointError, match="2\\*\\*64 or more elements"):
        inspect_checkpoint(path)


@pytest.mark.parametrize(("dtype", "count"), [("F4", 3), ("F6_E2M3", 5), ("F6_E3M2", 1)])
def test_sub_byte_tensor_not_ending_on_a_byte(tmp_path, dtype, count):
    nbytes = (count * 6 + 7) // 8
    path = st(tmp_path / "odd.safetensors",
              {"w": {"dtype": dtype, "shape": [count], "data_offsets": [0, nbytes]}}, nbytes)
    with pytest.raises(CorruptCheckpointError, match="whole number of bytes"):
        inspect_checkpoint(path)


def test_sub_byte_tensor_on_a_byte_boundary_is_read(tmp_path):
    path = st(tmp_path / "f4.safetensors",
              {"w": {"dtype": "F4", "shape": [2, 3], "data_offsets": [0, 3]}}, 3)
    info = inspect_checkpoint(path)
    assert info.total_bytes == 3 and info.num_parameters == 6


def test_tensor_name_with_600_dots(tmp_path):
    name = "a." * 600 + "weight"
    path = st(tmp_path / "dots.safetensors", {name: ONE}, 4)
    info = inspect_checkpoint(path)
    nodes = list(info.module_tree.walk())
    assert sum(p.numel for n in nodes for p in n.params) == 1
    json.dumps(info.module_tree.to_json())  # recursive consumers stay below the limit
    depth, stack = 0, [(info.module_tree, 0)]
    while stack:
        node, level = stack.pop()
        depth = max(depth, level)
        stack += [(c, level + 1) for c in node.children]
    assert depth <= 40


def test_internal_key_cannot_collide_with_a_tensor_name(tmp_path):
    path = st(tmp_path / "p.safetensors", {"\0params": ONE, "layer.\0params":
                                           {**ONE, "data_offsets": [4, 8]}}, 8)
    tree = inspect_checkpoint(path).module_tree
    assert tree.num_parameters == 2
    assert [p.name for p in tree.params] == ["\0params"]
    assert [c.name for c in tree.children] == ["layer"]


def test_lone_surrogate_in_a_name_is_refused_and_printable(tmp_path):
    path = st(tmp_path / "s.safetensors", '{"w\\ud800":' + json.dumps(ONE) + "}", 4)
    with pytest.raises(CorruptCheckpointError, match=r"lone UTF-16 surrogate") as caught:
        inspect_checkpoint(path)
    str(caught.value).encode("utf-8")  # the message itself can be printed anywhere


def test_lone_surrogate_in_a_pickle_key_prints_escaped(tmp_path, capsys):
    import torch

    from workbench.cli import main

    torch.save({"w\ud800": torch.zeros(2)}, tmp_path / "s.bin")
    assert main(["inspect", str(tmp_path / "s.bin"), "--tensors"]) == 0
    assert "w\\ud800" in capsys.readouterr().out


@pytest.mark.parametrize("metadata", [{"a": 1}, {"a": ["b"]}, {"a": None}, ["x"]])
def test_non_string_metadata(tmp_path, metadata):
    path = st(tmp_path / "m.safetensors", {"__metadata__": metadata, "w": ONE}, 4)
    with pytest.raises(CorruptCheckpointError, match="__metadata__"):
        inspect_checkpoint(path)


@pytest.mark.parametrize("dim", ["18446744073709551616", "true", "-0", "1.0", "-1"])
def test_bad_dims(tmp_path, dim):
    path = st(tmp_path / "d.safetensors",
              '{"w":{"dtype":"F32","shape":[' + dim + '],"data_offsets":[0,0]}}')
    with pytest.raises(CorruptCheckpointError, match=r"'w'|'shape'"):
        inspect_checkpoint(path)


def test_duplicate_keys(tmp_path):
    entry = '"w":' + json.dumps(ONE)
    path = st(tmp_path / "dup.safetensors", "{" + entry + "," + entry + "}", 4)
    with pytest.raises(CorruptCheckpointError, match="repeats the key 'w'"):
        inspect_checkpoint(path)


def test_header_over_the_limit_is_refused_without_reading(tmp_path):
    import struct

    path = tmp_path / "huge.safetensors"
    with path.open("wb") as f:  # sparse: the declared 100 MB + 1 header is never written
        f.write(struct.pack("<Q", MAX_HEADER_BYTES + 1))
        f.truncate(8 + MAX_HEADER_BYTES + 1)
    with pytest.raises(CorruptCheckpointError, match="absurd header size"):
        inspect_checkpoint(path)


def test_tensor_count_limit(tmp_path, monkeypatch):
    from workbench.core.checkpoint import safetensors_header

    monkeypatch.setattr(safetensors_header, "MAX_TENSORS", 3)
    header = {f"t{i}": {**ONE, "data_offsets": [4 * i, 4 * i + 4]} for i in range(4)}
    with pytest.raises(CorruptCheckpointError, match="lists 4 tensors; the limit is 3"):
        inspect_checkpoint(st(tmp_path / "many.safetensors", header, 16))


# -- shard indexes --------------------------------------------------------------------------------
def _sharded(tmp_path, index: dict | str):
    folder = tmp_path / "sharded"
    folder.mkdir()
    st(folder / "model-00001-of-00001.safetensors", {"w": ONE}, 4)
    text = index if isinstance(index, str) else json.dumps(index)
    (folder / "model.safetensors.index.json").write_text(text)
    return folder


@pytest.mark.parametrize(("metadata", "match"), [
    ("[]", "'metadata' must be an object"),
    ('{"total_size": NaN}', "total_size must be a whole number"),
    ('{"total_size": Infinity}', "total_size must be a whole number"),
    ('{"total_size": ' + "1" + "0" * 400 + "}", "'total_size' holds an integer of 401 digits"),
    ('{"total_size": -4}', "total_size must be a whole number"),
    ('{"total_size": "4"}', "total_size must be a whole number"),
])
def test_bad_index_metadata(tmp_path, metadata, match):
    text = ('{"metadata": ' + metadata + ', "weight_map": {"w": '
            '"model-00001-of-00001.safetensors"}}')
    with pytest.raises(InvalidIndexError, match=match):
        inspect_checkpoint(_sharded(tmp_path, text))


def test_index_nested_a_thousand_deep(tmp_path):
    text = '{"metadata": {"x": ' + "[" * 1000 + "]" * 1000 + '}, "weight_map": {}}'
    with pytest.raises(InvalidIndexError, match="nests"):
        inspect_checkpoint(_sharded(tmp_path, text))


def test_json_file_named_as_a_shard(tmp_path):
    folder = _sharded(tmp_path, {"weight_map": {"w": "model-00001-of-00001.safetensors"}})
    (folder / "model-00001-of-00001.safetensors").write_text('{"weight_map": {"w": "x"}}')
    with pytest.raises(CorruptCheckpointError, match="it looks like a JSON text file"):
        inspect_checkpoint(folder)


# -- config.json ----------------------------------------------------------------------------------
@pytest.fixture
def demo_copy(tmp_path, minilm_path):
    folder = tmp_path / "demo"
    folder.mkdir()
    shutil.copy(minilm_path / "config.json", folder / "config.json")
    return folder


def _edit_config(folder, **changes):
    data = json.loads((folder / "config.json").read_text())
    data.update(changes)
    (folder / "config.json").write_text(json.dumps(data))


@pytest.mark.parametrize(("changes", "match"), [
    ({"model_type": ["bert"]}, "model_type must be a string"),
    ({"architectures": "BertModel"}, "architectures must be a list of class names"),
    ({"architectures": [1]}, "architectures must be a list of class names"),
])
def test_config_field_types(demo_copy, changes, match):
    _edit_config(demo_copy, **changes)
    with pytest.raises(InvalidConfigError, match=match):
        inspect_checkpoint(demo_copy)


def test_config_nested_a_thousand_deep(demo_copy):
    (demo_copy / "config.json").write_text('{"model_type": "bert", "x": ' + "[" * 1000
                                          + "]" * 1000 + "}")
    with pytest.raises(InvalidConfigError, match="nests"):
        inspect_checkpoint(demo_copy)


def test_config_over_the_size_limit_is_refused_before_reading(demo_copy):
    with (demo_copy / "config.json").open("r+b") as f:
        f.truncate(200_000_000)  # sparse
    with pytest.raises(InvalidConfigError, match="200,000,000 bytes"):
        inspect_checkpoint(demo_copy)


def test_config_float_form_of_transformers_is_decoded(demo_copy):
    _edit_config(demo_copy, layer_norm_eps={"__float__": "Infinity"})
    info = inspect_checkpoint(demo_copy, build_tree=False)
    assert info.config["layer_norm_eps"] == float("inf")


def test_too_many_keys():
    text = json.dumps({f"k{i}": i for i in range(101)})
    with pytest.raises(WorkbenchError, match="more than 100 keys"):
        jsonio.loads(text, source="x.json", limits=jsonio.JsonLimits(max_keys=100))


# -- train specs and --set values -----------------------------------------------------------------
def test_spec_nested_a_thousand_deep(tmp_path):
    from workbench.core.training.spec import TrainSpec

    path = tmp_path / "spec.json"
    path.write_text('{"task": ' + "[" * 1000 + "]" * 1000 + "}")
    with pytest.raises(InvalidTrainSpecError, match=r"spec\.json: the training spec nests"):
        TrainSpec.load(path)


@pytest.mark.parametrize(("text", "match"), [
    ("[" * 1000 + "]" * 1000, "nests"),
    ("9" * 5000, "integer of 5,000 digits"),
    ('{"rope_type": ' + "9" * 5000 + "}", "field 'rope_type' holds an integer of 5,000"),
])
def test_set_values_are_bounded(text, match):
    from workbench.core.config.rules import parse_assignments
    from workbench.core.config.schema import schema_for

    schema = schema_for({"model_type": "bert", "hidden_size": 32})
    with pytest.raises(InvalidConfigError, match=match):
        parse_assignments([f"hidden_size={text}"], schema)


# -- pickled weights ------------------------------------------------------------------------------
@pytest.mark.parametrize(("content", "match"), [
    (b"hello, this is not a pickle\n", "it is a plain text file"),
    (bytes(range(256)) * 8, "neither a zip archive nor a pickle"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 9\n", "git-lfs pointer"),
    (b'{"weight_map": {}}', "it is a JSON text file"),
    (b"", "the file is empty"),
    (b"\x80\x02e.", "could not be read as PyTorch weights"),
])
def test_bin_that_is_not_a_pickle(tmp_path, content, match):
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(content)
    with pytest.raises(CorruptCheckpointError, match=match) as caught:
        read_pickle_tensors(path)
    assert "allow-list" not in str(caught.value)
    assert "weights_only=False" not in str(caught.value)


def test_unsafe_pickle_is_still_called_unsafe(tmp_path):
    from workbench.core.errors import UnsafePickleError

    path = tmp_path / "evil.bin"
    path.write_bytes(b"\x80\x02cposix\nsystem\n(S'echo hi'\ntR.")
    with pytest.raises(UnsafePickleError, match=r"posix\.system") as caught:
        read_pickle_tensors(path)
    assert "weights_only=False" not in str(caught.value)


def test_zip_deflated_pickle_bomb_is_refused_before_loading(tmp_path):
    import torch

    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buffer)
    bomb = tmp_path / "bomb.bin"
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as src, \
            zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("data.pkl"):
                data = data + b"\0" * 20_000_000  # expands 1000x: what a bomb looks like
            dst.writestr(item.filename, data)
    with pytest.raises(CorruptCheckpointError, match="decompression bomb"):
        read_pickle_tensors(bomb)


def test_torch_save_archives_still_read(tmp_path):
    import torch

    torch.save({"w": torch.zeros(2, 3)}, tmp_path / "ok.bin")
    (tensor,) = read_pickle_tensors(tmp_path / "ok.bin")
    assert tensor.shape == (2, 3)
