"""`workbench graph PATH --json / --svg OUT` through the real CLI entry point."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from workbench.cli import main


def _run(capsys, *argv) -> tuple[int, dict]:
    code = main(["graph", *map(str, argv)])
    return code, json.loads(capsys.readouterr().out)


def test_graph_json_prints_folded_tree_and_dataflow(tiny_models, capsys):
    code, data = _run(capsys, tiny_models["llama"], "--json", "--seq-len", "9")
    assert code == 0
    model = next(c for c in data["tree"]["children"] if c["name"] == "model")
    layers = next(c for c in model["children"] if c["name"] == "layers")
    assert (layers["class"], layers["repeat"]) == ("LlamaDecoderLayer", 2)
    assert layers["output_shape"] == [1, 9, 32]
    kinds = [n["kind"] for n in data["dataflow"]["nodes"]]
    assert kinds.index("attention") < kinds.index("mlp")
    assert sum(e["kind"] == "residual" for e in data["dataflow"]["edges"]) == 2


def test_graph_svg_is_valid_xml_with_labels(tiny_models, tmp_path, capsys):
    out = tmp_path / "sub" / "graph.svg"
    code, data = _run(capsys, tiny_models["bart"], "--json", "--svg", out)
    assert code == 0 and data["svg"] == str(out)
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "BartDecoderLayer × 2" in texts
    assert "encoder_attn: BartAttention" in texts and "residual" in texts
    assert "encoder output" in texts
    assert not list(tmp_path.glob("sub/.graph.svg-*"))  # the temp file was renamed away


def test_expand_all_svg_shows_every_layer(tiny_models, tmp_path, capsys):
    out = tmp_path / "all.svg"
    code, _ = _run(capsys, tiny_models["gpt2"], "--json", "--svg", out, "--expand-all")
    assert code == 0
    ids = {g.get("id") for g in ET.parse(out).getroot().iter("{http://www.w3.org/2000/svg}g")}
    assert {"transformer.h.0.attn", "transformer.h.1.mlp.c_fc"} <= ids


def test_graph_of_a_missing_path_is_an_error(tmp_path, capsys):
    code, data = _run(capsys, tmp_path / "nope", "--json")
    assert code == 1 and "does not exist" in data["error"]


def test_graph_human_output(tiny_models, capsys):
    assert main(["graph", str(tiny_models["bert"])]) == 0
    text = capsys.readouterr().out
    assert "BertLayer × 2" in text and "residual:" in text


def test_a_graph_failure_states_its_real_cause(tmp_path, capsys):
    (tmp_path / "config.json").write_text(
        '{"model_type": "llama", "hidden_size": 30, "num_attention_heads": 4}')
    assert main(["graph", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "not a multiple of the number of attention heads" in err
    assert "neither a config.json" not in err


def test_moe_graph_has_a_clean_note_and_quiet_stderr(tmp_path, capfd):
    from tests.fixtures.zoo import ZOO, build_entry

    folder = build_entry(next(e for e in ZOO if e.name == "mixtral"), tmp_path / "mixtral")
    capfd.readouterr()
    assert main(["graph", str(folder), "--json"]) == 0
    out, err = capfd.readouterr()
    data = json.loads(out)
    assert data["blocks"] and data["dataflow_note"]
    assert "Traceback" not in err and "fake_tensor" not in err, err


def test_albert_ffn_skip_connection_is_a_residual(tmp_path, capsys):
    from tests.fixtures.zoo import ZOO, build_entry

    folder = build_entry(next(e for e in ZOO if e.name == "albert"), tmp_path / "albert")
    code, data = _run(capsys, folder, "--json")
    assert code == 0
    block = data["blocks"][0]
    names = {n["id"]: n["name"] for n in block["nodes"]}
    residuals = [(names[e["source"]], names[e["target"]]) for e in block["edges"]
                 if e["kind"] == "residual"]
    # AlbertAttention adds its own residual inside; the FFN's skip leaves the attention output
    assert residuals == [("albert_layers.0.attention", "add")]
