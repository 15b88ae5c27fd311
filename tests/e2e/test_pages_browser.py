"""Every page in a real browser: it loads with the default pair, shows no exception, and its main
interaction works."""

from __future__ import annotations

from tests.e2e.conftest import no_exception, open_page, screenshot, wait_idle


def test_home_links_every_page(page: object, server: str) -> None:
    open_page(page, server)
    assert page.get_by_role("heading", name="Domain Shift Studio").is_visible()
    no_exception(page)
    for label in ("Datasets", "Gap map"):
        assert page.get_by_role("link", name=label).first.is_visible()
    screenshot(page, "home")


def test_datasets_page_shows_both_domains_and_switching_a_dataset_updates_it(page: object, server: str) -> None:
    open_page(page, server, "datasets")
    no_exception(page)
    assert page.get_by_text("builtin:printed-digits").first.is_visible()
    assert page.get_by_text("builtin:handwritten-digits").first.is_visible()
    screenshot(page, "datasets")
    # choose another built-in as the target
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Target").first
    if box.count() == 0:
        box = page.locator('[data-testid="stSelectbox"]').nth(1)
    box.click()
    page.get_by_role("option", name="textured-digits").first.click()
    wait_idle(page)
    no_exception(page)
    assert page.get_by_text("builtin:textured-digits").first.is_visible()


def test_gap_map_draws_and_a_box_selection_shows_the_gallery(page: object, server: str) -> None:
    open_page(page, server, "gap")
    page.get_by_text("UMAP by").first.wait_for(timeout=240_000)
    wait_idle(page)
    no_exception(page)
    assert page.get_by_text("Gap metrics").first.is_visible()
    screenshot(page, "gap")
    page.set_viewport_size({"width": 1400, "height": 1600})  # the whole map on screen for the drag
    plot = page.locator('[data-testid="stPlotlyChart"]').first
    plot.scroll_into_view_if_needed()
    area = plot.locator(".nsewdrag").first
    b = area.bounding_box()
    # the map opens in lasso mode: draw a closed loop around most of the plot
    corners = [(0.05, 0.05), (0.95, 0.05), (0.95, 0.95), (0.05, 0.95), (0.05, 0.06)]
    page.mouse.move(b["x"] + b["width"] * corners[0][0], b["y"] + b["height"] * corners[0][1])
    page.mouse.down()
    for fx, fy in corners[1:]:
        page.mouse.move(b["x"] + b["width"] * fx, b["y"] + b["height"] * fy, steps=8)
    page.mouse.up()
    page.get_by_text("Selection:").first.wait_for(timeout=60_000)
    wait_idle(page)
    no_exception(page)
    assert page.get_by_role("button", name="Download selection (CSV)").is_visible()
    screenshot(page, "gap-selection")
