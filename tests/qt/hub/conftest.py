"""A local Hub serving the tiny sharded BERT as tiny/bert, for the dialog tests."""

from __future__ import annotations

import pytest

from tests.fixtures.hub_server import Repo, hub_server, tiny_sharded_bert

__all__ = ["hub_server"]  # a fixture, used through `served`


@pytest.fixture
def served(hub_server):
    """The running hub with tiny/bert in it."""
    hub_server.repos["tiny/bert"] = Repo.from_folder(tiny_sharded_bert())
    return hub_server
