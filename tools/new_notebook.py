"""Create a notebook skeleton: title, setup cell, `parameters` cell (literals only), strict profile cell.

Usage: python tools/new_notebook.py notebooks/NN_name.ipynb "Title" "What it regenerates"
"""
import sys

import nbformat as nbf


def skeleton(title: str, what: str) -> nbf.NotebookNode:
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "lantern-nb", "display_name": "Python (lantern-nb)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [
        nbf.v4.new_markdown_cell(f"# {title}\n\n{what}"),
        nbf.v4.new_code_cell("import lantern_nb.nb as nb\n\nnb.setup();"),
        nbf.v4.new_code_cell('PROFILE = "cpu"\nOVERRIDES = {}', metadata={"tags": ["parameters"]}),
        nbf.v4.new_code_cell("cfg = nb.start(PROFILE, OVERRIDES)"),
    ]
    return nb


if __name__ == "__main__":
    path, title, what = sys.argv[1:4]
    nbf.write(skeleton(title, what), path)
