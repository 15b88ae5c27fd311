"""Pages on a pair whose domains differ in shape (grey printed digits -> RGB textured digits at another size):
each page renders, says what it converted, and nothing raises (Streamlit AppTest)."""

from __future__ import annotations

import pytest
from _helpers import app_on_pair
from streamlit.testing.v1 import AppTest

SOURCE = "builtin:printed-digits?n=300"
TARGET = "builtin:textured-digits?n=300&size=40"


@pytest.fixture()
def app() -> AppTest:
    return app_on_pair(SOURCE, TARGET)


@pytest.mark.parametrize("page", ["pages/datasets.py", "pages/gap.py", "pages/augment.py"])
def test_a_mixed_shape_pair_renders_and_says_what_was_converted(app: AppTest, page: str) -> None:
    app.switch_page(page).run()
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]
    said = " ".join(i.value for i in app.info)
    assert "Source: grey replicated to RGB" in said
    if page != "pages/datasets.py":  # the Datasets page brings both specs to its one size widget first
        assert "Target: resized from 40×40 to 28×28 px" in said
