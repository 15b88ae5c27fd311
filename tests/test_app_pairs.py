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


def test_every_page_says_when_the_memory_cap_subsampled_a_dataset(tmp_path, monkeypatch) -> None:
    import numpy as np
    from PIL import Image

    for c in ("0", "1"):  # classes the digits share
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(30):
            pixels = np.random.default_rng(i + 100 * int(c)).integers(0, 256, (16, 16, 3), np.uint8)
            Image.fromarray(pixels, "RGB").save(tmp_path / "imgs" / c / f"{i}.png")
    monkeypatch.setenv("DA_MAX_MEMORY", str(40 * 3 * 16 * 16))  # 40 of the 60 RGB images at 16 px
    at = app_on_pair(f"folder:{tmp_path / 'imgs'}?size=16", "builtin:printed-digits?n=100")
    for page in ("pages/datasets.py", "pages/gap.py"):
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, [e.value for e in at.error]
        said = " ".join(c.value for c in at.caption)
        assert "The source was subsampled to 40 of 60 images" in said and "DA_MAX_MEMORY" in said
