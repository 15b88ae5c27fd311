"""The pages' layout rules, read from the source: page files stay thin, pages use only public names of the
other ``pages`` modules, and only ``pages/_routing.py`` reaches into Streamlit's internals."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PAGES = Path(__file__).resolve().parents[1] / "pages"
MAX_LINES = 250


def _files() -> list[Path]:
    return sorted(PAGES.glob("*.py"))


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_a_page_file_stays_thin(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_pages_use_no_private_names_of_other_page_modules(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules = {p.stem for p in _files() if p.stem.startswith("_")} - {path.stem}
    used = [f"{node.value.id}.{node.attr}" for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
            and node.attr.startswith("_")]
    used += [f"{node.module}.{a.name}" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
             and node.module and node.module.startswith("pages.") for a in node.names if a.name.startswith("_")]
    assert used == []


@pytest.mark.parametrize("path", [p for p in _files() if p.name != "_routing.py"], ids=lambda p: p.name)
def test_only_the_routing_module_touches_streamlit_internals(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not [n for n in names if n.startswith("streamlit.") and not n.startswith("streamlit.testing")]
