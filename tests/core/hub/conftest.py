"""A local Hub serving the tiny sharded BERT as tiny/bert (plus a README and an onnx/ file)."""

from __future__ import annotations

import pytest

from tests.fixtures.hub_server import Repo, hub_server, tiny_sharded_bert

__all__ = ["hub_server"]  # a fixture, used through `served`

EXTRA = {"README.md": b"# tiny bert\n", "onnx/model.onnx": b"not really onnx" * 100}


@pytest.fixture
def served(hub_server):
    """The running hub with tiny/bert in it."""
    repo = Repo.from_folder(tiny_sharded_bert())
    repo.files.update(EXTRA)
    hub_server.repos["tiny/bert"] = repo
    return hub_server
