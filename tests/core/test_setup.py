"""The README's two commands and CI stay in step."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_starts_with_exactly_two_commands():
    text = (ROOT / "README.md").read_text()
    assert text.index("```bash") < text.index("\n## ")
    run, test = _readme_commands()
    assert run.endswith("workbench --demo") and "[demo]" in run
    assert "pytest" in test and "[test]" in test


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    test = _readme_commands()[1]
    assert test in ci.splitlines()


def test_every_package_is_installed():
    """pyproject lists packages by hand (resources/ is mapped): a forgotten one would be missing
    from the wheel."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    found = {str(p.parent.relative_to(ROOT)).replace("/", ".")
             for p in (ROOT / "workbench").rglob("__init__.py")}
    assert found | {"workbench.resources"} == listed


def test_demo_data_is_read_as_package_data():
    from workbench.core.training.spec import demo_data_dir

    folder = demo_data_dir()
    assert {"train.csv", "eval.csv", "demo_spec.json"} <= {p.name for p in folder.iterdir()}
