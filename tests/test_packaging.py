"""The environment files agree, and committed notebooks follow the house rules."""
import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_environment_yml_agrees_with_pyproject():
    deps = re.findall(r'^  "([^"]+)",$', (ROOT / "pyproject.toml").read_text(), re.M)
    env = (ROOT / "environment.yml").read_text()
    for dep in deps:
        assert f"- {dep}\n" in env, f"environment.yml lacks {dep} (pyproject.toml pins it)"


def test_seven_notebooks_in_order():
    assert [p.stem for p in NOTEBOOKS] == ["01_prompting", "02_filtering", "03_teacher_sft", "04_kd_divergences",
                                           "05_multistage_paths", "06_classifier_structures",
                                           "07_serving_benchmark"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} carries outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_literal_parameters_cell_then_strict_loader(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: exactly one cell tagged 'parameters'"
    cell = nb.cells[tagged[0]]
    for node in ast.parse(cell.source).body:
        assert isinstance(node, ast.Assign), f"{path.name}: parameters cell holds assignments only"
        ast.literal_eval(node.value)
    assert "nb.start(PROFILE, OVERRIDES)" in nb.cells[tagged[0] + 1].source
    assert "nb.setup()" in nb.cells[tagged[0] - 1].source
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    for c in nb.cells:
        assert "sys.path" not in c.source and "%run" not in c.source
