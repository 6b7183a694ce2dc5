"""The Overview dashboard: charts that show the core's numbers, memory bars against device
lines, cards that reflow without widening the window, warnings banner and badge, actions."""

from __future__ import annotations

import html
import json

import pytest
from PySide6.QtWidgets import QApplication

from tests.bench import fake_70b
from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.devices import DeviceInfo, system_memory
from workbench.qt.checkpoint_tab import OverviewView, warning_badge
from workbench.qt.inspect.charts import FITS_ALL, FITS_NONE, FITS_SOME

GIB = 2**30
TIMEOUT = 60_000


def _open(qtbot, window, path):
    with qtbot.waitSignal(window.checkpointOpened, timeout=TIMEOUT) as blocker:
        window.open_checkpoint(str(path))
    return blocker.args[0]


@pytest.fixture(scope="module")
def info_70b(tmp_path_factory):
    return inspect_checkpoint(fake_70b.make_fake_llama70b(tmp_path_factory.mktemp("b") / "70b"))


def test_minilm_dashboard_charts_devices_and_the_old_facts(qtbot, main_window, minilm_path):
    import torch

    tab = _open(qtbot, main_window, minilm_path)
    view = tab.overview
    parts = view.parameters_chart.segments
    assert [s.label for s in parts] == ["embeddings", "blocks", "head"]
    assert sum(s.value for s in parts) == 22_713_216 == tab.info.module_tree.num_parameters
    assert [s.label for s in view.dtypes_chart.segments] == ["F32", "I64"]
    assert view.dtypes_chart.segments[1].value == 512 * 8  # position_ids, int64
    assert "embeddings: 11.9 M parameters (11,918,592) (52.5%)" in (
        view.parameters_chart.accessibleDescription())
    # RAM at once; each CUDA GPU once the worker has asked torch
    assert view.memory_chart.devices[0].name == "RAM"
    qtbot.waitUntil(lambda: not view.devices_pending, timeout=TIMEOUT)
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    assert [d.name for d in view.memory_chart.devices] == (
        ["RAM"] + [f"cuda:{i}" for i in range(gpus)])
    assert view.memory_chart.devices[0].total == system_memory()
    assert [r.label for r in view.memory_chart.rows] == ["fp32", "bf16", "fp16", "int8", "int4"]
    text = view.text()
    for fact in ("BertModel", "bert", "hf-safetensors", "model.safetensors", "BertTokenizer",
                 "vocabulary 30522", "special tokens", "22.7 M", "22,713,216",
                 "22,713,728 stored elements (+512", "embeddings.position_ids", "6 blocks",
                 "named_buffers()", "104 tensors", "Full fine-tune (AdamW)", "No warnings"):
        assert fact in text, fact
    assert "BertModel" in view.label.text() and "22.7 M" in view.label.text()
    assert tab.badge_text == warning_badge(len(tab.info.warnings))
    view.buttons["Graph"].click()
    assert tab.tabText(tab.currentIndex()) == "Graph"


def test_memory_bars_against_ram_and_a_gpu_passed_in(qtbot, info_70b):
    devices = [DeviceInfo("cpu", "RAM", 48 * GIB),
               DeviceInfo("cuda:0", "NVIDIA H200 (139 GiB)", 139 * GIB)]
    view = OverviewView(info_70b, devices=devices)
    qtbot.addWidget(view)
    view.resize(1100, 800)
    view.show()
    chart = view.memory_chart
    assert not view.devices_pending
    assert [(d.name, d.total) for d in chart.devices] == [("RAM", 48 * GIB),
                                                          ("cuda:0", 139 * GIB)]
    rows = {r.label: r for r in chart.rows}
    assert chart.bar_color(rows["fp32"]) == FITS_NONE  # 263 GiB
    assert chart.bar_color(rows["bf16"]) == FITS_SOME  # 131 GiB: the GPU only
    assert chart.bar_color(rows["int4"]) == FITS_ALL  # 33 GiB
    assert chart.row_text(rows["fp32"]).endswith("fits no device")
    assert chart.row_text(rows["bf16"]).endswith("exceeds RAM")
    # the lines sit where the sizes are, on the bars' scale
    _, width = chart._bar_area()
    ram, gpu = (chart.device_x(d) for d in chart.devices)
    assert 0 < ram < gpu < width
    assert gpu / width == pytest.approx(139 * GIB / chart.scale_max)
    assert "cuda:0 139.0 GiB" in chart.accessibleDescription()
    # what is drawn: the fp32 bar is red, left of the end of its row
    QApplication.processEvents()
    image = chart.grab().toImage()
    left, _ = chart._bar_area()
    y = chart.PAD + chart._header_height() + chart.ROW_HEIGHT // 2
    assert image.pixelColor(int(left + 5), y).name() == FITS_NONE.name()
    assert "exceeds RAM, cuda:0" in view.memory_text.text()  # full fine-tuning
    # devices found later replace the lines
    view.set_devices([DeviceInfo("cpu", "RAM", 512 * GIB)])
    assert [d.name for d in chart.devices] == ["RAM"]
    assert chart.bar_color(chart.rows[0]) == FITS_ALL


def test_a_device_far_beyond_the_bars_is_marked_off_scale(qtbot, minilm_path):
    view = OverviewView(inspect_checkpoint(minilm_path),
                        devices=[DeviceInfo("cpu", "RAM", 64 * GIB)])
    qtbot.addWidget(view)
    chart = view.memory_chart
    assert chart.device_x(chart.devices[0]) is None  # 64 GiB vs 87 MB of weights
    assert chart.scale_max == pytest.approx(chart.rows[0].bytes * 1.05)


def test_cards_reflow_and_never_widen_the_window(qtbot, main_window, info_70b):
    main_window.resize(1024, 700)
    main_window.browser.show()
    tab = _open(qtbot, main_window, info_70b.path)
    view = tab.overview
    qtbot.waitUntil(lambda: not view.devices_pending, timeout=TIMEOUT)
    QApplication.processEvents()
    assert main_window.width() == 1024
    assert view.viewport().width() < 2 * 430 + 12  # dock + 1024: room for one column
    assert view.grid.columns == 1
    assert {view.grid.column_of(c) for c in view.cards} == {0}
    assert view.horizontalScrollBar().maximum() == 0
    main_window.resize(1440, 900)
    QApplication.processEvents()
    assert view.grid.columns == 2
    assert {view.grid.column_of(c) for c in view.cards} == {0, 1}
    main_window.resize(2560, 1440)  # no empty right half: a third column
    QApplication.processEvents()
    assert view.grid.columns == 3
    assert {view.grid.column_of(c) for c in view.cards} == {0, 1, 2}
    assert view.grid.width() <= 2400  # text capped on wider screens still
    assert view.viewport().width() - view.grid.width() < 3 * 12 + 2  # the grid fills the view
    main_window.resize(1024, 700)
    QApplication.processEvents()
    assert view.grid.columns == 1 and main_window.width() == 1024
    assert view.horizontalScrollBar().maximum() == 0


def test_config_only_and_badge_counts_warnings(qtbot, main_window, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(
        {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 1,
         "num_attention_heads": 2, "intermediate_size": 37, "vocab_size": 99}))
    tab = _open(qtbot, main_window, tmp_path)
    view = tab.overview
    assert not view.buttons["Inspect attention"].isEnabled()  # config only
    assert view.dtypes_chart is None and "No weights are stored" in view.dtypes_card.text()
    assert view.parameters_chart is not None  # the structure comes from the config
    assert "from the config; no weights stored" in view.text()
    n = len(tab.info.warnings)
    assert n >= 1  # "config.json but no weights"
    assert tab.badge_text == f"\u26a0 {n}"
    assert f"{warning_badge(n)} warning(s)" in view.banner.text()
    assert all(html.escape(w) in view.banner.text() for w in tab.info.warnings)
    assert "background: #fff1d6" in view.banner.styleSheet()  # stands out
    assert not tab.tabIcon(0).isNull() and f"{n} warning(s)" in tab.tabToolTip(0)
    index = main_window.tabs.indexOf(tab)
    assert f"{n} warning(s)" in main_window.tabs.tabToolTip(index)
    assert warning_badge(3) == "\u26a0 3" and warning_badge(0) == ""
