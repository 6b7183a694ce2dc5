"""Split GGUF models written by gguf's own writer (`split_max_tensors`, as convert_hf_to_gguf
does): inspected as one model from any part or the folder, missing and foreign parts reported,
and loading refused with the merge command instead of a model with random weights."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.fixtures.gguf_files import tiny_llama, write_llama_gguf
from workbench.cli import main
from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.errors import CorruptCheckpointError, ModelBuildError
from workbench.core.model.loading import load_model


@pytest.fixture(scope="module")
def model():
    return tiny_llama(seed=0)


@pytest.fixture(scope="module")
def whole(tmp_path_factory, model):
    return inspect_checkpoint(write_llama_gguf(model, tmp_path_factory.mktemp("w") / "t.gguf"))


@pytest.fixture
def parts(tmp_path, model):
    first = write_llama_gguf(model, tmp_path / "split" / "tiny.gguf", split_max_tensors=8)
    return sorted(first.parent.iterdir())


def _names(info) -> set[str]:
    return {t.name for t in info.tensors}


def test_parts_make_the_model_whichever_is_opened(parts, whole, model):
    assert [p.name for p in parts] == [f"tiny-0000{k}-of-00003.gguf" for k in (1, 2, 3)]
    for opened in (parts[0], parts[2], parts[0].parent):
        info = inspect_checkpoint(opened)
        assert info.num_parameters == whole.num_parameters == model.num_parameters()
        assert info.total_bytes == whole.total_bytes
        assert _names(info) == _names(whole)
        assert info.architecture == "LlamaForCausalLM"
        assert any("split GGUF model in 3 parts; the counts cover all" in w
                   for w in info.warnings)


def test_graph_of_a_split_model(parts, capsys):
    assert main(["graph", str(parts[1]), "--json"]) == 0
    tree = json.loads(capsys.readouterr().out)["tree"]
    assert (tree["class"], tree["num_parameters"]) == ("LlamaForCausalLM", 86_336)


def test_missing_part_is_named_and_counts_cover_what_is_there(parts, whole):
    parts[1].unlink()
    info = inspect_checkpoint(parts[0])
    assert any("the 2 parts present (missing: tiny-00002-of-00003.gguf)" in w
               for w in info.warnings)
    assert 0 < info.num_parameters < whole.num_parameters


def test_part_of_another_split_is_refused(parts, tmp_path, model):
    other = write_llama_gguf(model, tmp_path / "other" / "tiny.gguf", split_max_tensors=12)
    shutil.copy(other.with_name("tiny-00002-of-00002.gguf"), parts[1])  # 2-part header, 3-part name
    with pytest.raises(CorruptCheckpointError, match="come from different models"):
        inspect_checkpoint(parts[0])


def test_renamed_part_cannot_find_its_siblings(parts, tmp_path):
    renamed = tmp_path / "renamed.gguf"
    shutil.copy(parts[0], renamed)
    with pytest.raises(CorruptCheckpointError, match="llama-gguf-split --merge"):
        inspect_checkpoint(renamed)


def test_loading_a_part_is_refused_with_the_merge_command(parts):
    with pytest.raises(ModelBuildError, match=r"one of 3 parts .*llama-gguf-split --merge"):
        load_model(parts[0])


def test_gguf_beside_a_config_json_opens_as_gguf(tmp_path, model):
    """GGUF repos on the Hub often carry the source model's config.json next to the file."""
    path = write_llama_gguf(model, tmp_path / "repo" / "tiny-Q8_0.gguf", "Q8_0")
    (path.parent / "config.json").write_text(json.dumps(model.config.to_dict()))
    info = inspect_checkpoint(path.parent)
    assert info.format == "gguf" and info.num_parameters == model.num_parameters()
    assert any("config.json was not used" in w for w in info.warnings)
