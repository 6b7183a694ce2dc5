"""config.json is read the way transformers writes it: non-finite floats are tagged objects."""

from __future__ import annotations

import json
import math

from workbench.cli import main
from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.model.architecture import read_config_dict
from workbench.core.model.builder import config_text


def _tiny_mamba2(folder):
    import transformers

    config = transformers.Mamba2Config(hidden_size=16, num_hidden_layers=1, vocab_size=64,
                                       num_heads=2, head_dim=16, state_size=4, n_groups=1,
                                       expand=2, time_step_rank=4)
    transformers.Mamba2ForCausalLM(config).save_pretrained(folder)
    return folder


def test_tagged_infinity_is_decoded_and_the_model_builds(tmp_path, capsys):
    folder = _tiny_mamba2(tmp_path / "mamba2")
    assert '"__float__": "Infinity"' in (folder / "config.json").read_text()
    values = read_config_dict(folder)
    assert values["time_step_limit"][1] == math.inf
    info = inspect_checkpoint(folder)
    assert info.module_tree.class_name == "Mamba2ForCausalLM"
    assert not [w for w in info.warnings if "tensor names" in w], info.warnings
    # written back (and printed as --json) in the same tagged form: strict JSON, no bare Infinity
    assert json.loads(config_text(values), parse_constant=None)["time_step_limit"][1] == \
        {"__float__": "Infinity"}
    assert main(["inspect", str(folder), "--json"]) == 0
    out = capsys.readouterr().out
    assert "Infinity" in out and json.loads(out, parse_constant=_refuse)


def _refuse(name):
    raise AssertionError(f"bare {name} in JSON output")
