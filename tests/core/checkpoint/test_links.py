"""Symlinks in a checkpoint are followed only inside it (or inside its Hub cache repository)."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.conftest import make_fake_hub_cache
from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.errors import InvalidIndexError


def test_hub_cache_snapshots_are_followed_into_their_blobs(tiny_models, tmp_path):
    snapshot = make_fake_hub_cache(tmp_path / "hub", tiny_models["bert"], "acme/tiny")
    assert (snapshot / "model.safetensors").is_symlink()
    assert inspect_checkpoint(snapshot).num_tensors > 0


def test_a_weights_file_linked_out_of_the_folder_is_refused(tiny_models, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(tiny_models["bert"], elsewhere)
    folder = tmp_path / "sent"
    folder.mkdir()
    shutil.copy(elsewhere / "config.json", folder / "config.json")
    os.symlink(elsewhere / "model.safetensors", folder / "model.safetensors")
    with pytest.raises(InvalidIndexError, match="outside the checkpoint folder"):
        inspect_checkpoint(folder)


def test_an_index_shard_linked_out_of_the_folder_is_refused(tiny_models, tmp_path):
    folder = tmp_path / "sharded"
    folder.mkdir()
    shutil.copy(tiny_models["bert"] / "config.json", folder / "config.json")
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(tiny_models["bert"] / "model.safetensors", outside / "secret.safetensors")
    os.symlink(outside, folder / "shards")  # a folder link: the name itself has no '..'
    from safetensors import safe_open

    with safe_open(str(outside / "secret.safetensors"), "np") as f:
        names = list(f.keys())
    index = {"metadata": {"total_size": 0},
             "weight_map": dict.fromkeys(names, "shards/secret.safetensors")}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(InvalidIndexError, match="outside the checkpoint folder"):
        inspect_checkpoint(folder)


def test_a_link_inside_the_folder_is_followed(tiny_models, tmp_path):
    folder = tmp_path / "inside"
    shutil.copytree(tiny_models["bert"], folder)
    os.replace(folder / "model.safetensors", folder / "weights-v1.safetensors")
    os.symlink("weights-v1.safetensors", folder / "model.safetensors")
    assert inspect_checkpoint(folder).num_tensors > 0
