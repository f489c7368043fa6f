"""Shared by the notebook build scripts: cells as (kind, text) pairs become a
notebook without outputs, with fixed cell ids so rebuilding is byte-stable."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def build(cells: list[tuple[str, str]], id_prefix: str) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    for i, (kind, text) in enumerate(cells):
        source = dedent(text).strip("\n")
        cell = new_markdown_cell(source) if kind == "md" else new_code_cell(source)
        cell["id"] = f"{id_prefix}-{i:02d}"
        nb.cells.append(cell)
    return nb


def write(cells: list[tuple[str, str]], id_prefix: str, out: Path) -> None:
    nbformat.write(build(cells, id_prefix), out)
    print(f"wrote {out}")
