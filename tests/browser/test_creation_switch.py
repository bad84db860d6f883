"""The rollback plan's "disable new UI components" in the browser: with model creation switched off the page
shows existing models read-only with the operator's notice (no create form, no photo slots, no re-run
buttons); switched back on, without any restart or rebuild, the page offers creation again."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from photo3d_devstack.deploy import switch
from photo3d_status.creation_switch import CreationSwitch

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

NOTICE = "Maintenance until 18:00: new models are paused, yours stay here."


def sign_in(page: Page, base_url: str, user: str) -> None:
    page.goto(base_url + "/")
    page.get_by_label("User name").fill(user)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="My models")).to_be_visible()


def test_switched_off_the_page_is_read_only_with_the_notice_and_back_on_it_creates(
    page: Page, running_system, built_page
) -> None:
    token = running_system.token("browser-erin")
    created = httpx.post(
        f"{running_system.status_url}/api/models",
        json={"name": "Made before the switch"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    model_id = created.json()["id"]

    switch.write(running_system.database_url, CreationSwitch(enabled=False, notice=NOTICE), changed_by="test")
    try:
        sign_in(page, running_system.status_url, "browser-erin")
        notice = page.get_by_test_id("creation-disabled-notice")
        expect(notice).to_be_visible()
        expect(notice).to_contain_text(NOTICE)
        expect(page.get_by_role("heading", name="Made before the switch")).to_be_visible()  # still listed
        expect(page.get_by_role("link", name="New model")).to_have_count(0)

        page.goto(f"{running_system.status_url}/#/models/{model_id}")
        expect(page.get_by_role("heading", name="Made before the switch")).to_be_visible()
        expect(page.get_by_test_id("creation-disabled-notice")).to_be_visible()
        expect(page.get_by_label("Front photo file", exact=True)).to_have_count(0)  # no upload slots
        expect(page.get_by_role("button", name="Re-run background removal")).to_have_count(0)
    finally:
        switch.write(running_system.database_url, CreationSwitch(enabled=True), changed_by="test")

    page.goto(running_system.status_url + "/")
    page.reload()
    expect(page.get_by_role("heading", name="My models")).to_be_visible()
    expect(page.get_by_test_id("creation-disabled-notice")).to_have_count(0)
    page.get_by_role("link", name="New model").first.click()
    expect(page.get_by_label("Front photo file", exact=True)).to_have_count(1)
    assert page.errors == []  # type: ignore[attr-defined]
