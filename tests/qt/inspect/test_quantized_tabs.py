"""A GGUF file and a GPTQ checkpoint open in tabs whose overview and tensor table show them."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.fixtures.gguf_files import tiny_llama, write_llama_gguf
from tests.fixtures.quantized import write_quantized


def _open(qtbot, window, path):
    with qtbot.waitSignal(window.checkpointOpened, timeout=60_000) as blocker:
        window.open_checkpoint(str(path))
    return blocker.args[0]


def _row(model, name: str) -> list[str]:
    for r in range(model.rowCount()):
        cells = [model.data(model.index(r, c), Qt.ItemDataRole.DisplayRole)
                 for c in range(model.columnCount())]
        if cells[0] == name:
            return cells
    raise AssertionError(f"{name} not in the table")


def test_gguf_tab(qtbot, main_window, tmp_path):
    path = write_llama_gguf(tiny_llama(), tmp_path / "tiny.gguf", "Q8_0")
    tab = _open(qtbot, main_window, path)
    text = tab.overview.text()
    assert "LlamaForCausalLM" in text and "MOSTLY_Q8_0" in text and "96 tokens" in text
    assert "available: transformers dequantizes the file" in text
    assert "Weights as stored" in text
    rows = {r.label: r.bytes for r in tab.overview.memory_chart.rows}
    assert rows["as stored"] == tab.info.total_bytes  # llama.cpp keeps the blocks packed
    assert [s.label for s in tab.overview.dtypes_chart.segments] == ["Q8_0", "F32"]
    assert tab.tensors.model.rowCount() == 21
    cells = _row(tab.tensors.model, "blk.0.attn_q.weight")
    assert cells[1] == "Q8_0" and cells[4] == "4.2 KiB"  # 4096 values / 32 * 34 bytes


def test_gptq_tab(qtbot, main_window, tmp_path):
    folder, _ = write_quantized(tiny_llama(), tmp_path / "gptq", "gptq")
    tab = _open(qtbot, main_window, folder)
    text = tab.overview.text()
    assert "gptq 4-bit, group 32" in text and "14 modules quantized" in text
    assert "86.3 K" in text  # the logical count, not the 25 K stored elements
    assert "mismatch" not in text
    assert "as stored" in {r.label for r in tab.overview.memory_chart.rows}
