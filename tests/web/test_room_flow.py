"""A patient and a facilitator in a live room, each in a browser context of their own,
through a real daphne that is killed and started again in the middle."""

from __future__ import annotations

import re
from typing import Any

from tests.web.pages import JOIN, Origin, sign_in

TIMEOUT_MS = 20_000


def _log_texts(page: Any) -> list[str]:
    return page.get_by_role("log").locator("li.msg p").all_inner_texts()


def _send(page: Any, text: str) -> None:
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")


def _wait_for_message(page: Any, text: str) -> None:
    page.get_by_role("log").get_by_text(text, exact=True).wait_for(timeout=TIMEOUT_MS)


def test_patient_and_facilitator_meet_chat_and_survive_a_server_restart(browser, web_server):
    origin = Origin(web_server.http)
    patient = origin.watch(browser.new_context()).new_page()
    facilitator = origin.watch(browser.new_context()).new_page()
    for page in (patient, facilitator):
        page.set_default_timeout(TIMEOUT_MS)

    sign_in(patient, web_server.http, "alex")
    sign_in(facilitator, web_server.http, "fac.maria")

    # Join: the patient waits, the facilitator sees them waiting and admits them.
    patient.get_by_role("link", name=JOIN).first.click()
    patient.get_by_text("You're in the waiting room…").wait_for()
    assert patient.get_by_role("log").count() == 0 or not patient.get_by_role("log").is_visible()
    facilitator.get_by_role("link", name=JOIN).first.click()
    facilitator.get_by_role("button", name="Admit Alex R.").click()
    patient.get_by_role("log").wait_for()
    assert not patient.get_by_text("You're in the waiting room…").is_visible()
    facilitator.get_by_role("heading", name=re.compile(r"^Who is here")).wait_for()

    # Chat both ways, sent with Enter.
    _send(patient, "Hello from Alex")
    _wait_for_message(facilitator, "Hello from Alex")
    _send(facilitator, "Welcome, Alex")
    _wait_for_message(patient, "Welcome, Alex")

    # A raised hand reaches the facilitator's queue; lowering it empties the queue.
    patient.get_by_role("button", name="Raise hand").click()
    queue = facilitator.locator(
        "section", has=facilitator.get_by_role("heading", name="Raised hands")
    )
    queue.get_by_role("listitem").filter(has_text="Alex R.").wait_for()
    patient.get_by_role("button", name="Lower hand").click()
    queue.get_by_text("No hands raised.").wait_for()

    # Muted, the patient's message is refused with a plain sentence; unmuted it goes through.
    facilitator.get_by_role("button", name="Mute Alex R.", exact=True).click()
    facilitator.get_by_role("button", name="Unmute Alex R.", exact=True).wait_for()
    _send(patient, "Can anyone hear me?")
    patient.get_by_text(re.compile("Not sent: A facilitator has muted you")).wait_for()
    facilitator.get_by_role("button", name="Unmute Alex R.", exact=True).click()
    facilitator.get_by_role("button", name="Mute Alex R.", exact=True).wait_for()

    # The server dies: both pages say so and keep what is typed meanwhile.
    assert web_server.proc is not None
    web_server.proc.kill()
    web_server.proc.wait()
    for page in (patient, facilitator):
        page.get_by_role("status").filter(has_text="Reconnecting").first.wait_for()
    _send(patient, "Typed while the server was down")
    patient.get_by_text("Sending…").wait_for()
    web_server.start()

    # Back: both pages reconnect by themselves, the offline message is stored once.
    _wait_for_message(facilitator, "Typed while the server was down")
    _wait_for_message(patient, "Typed while the server was down")
    for page in (patient, facilitator):
        page.get_by_role("status").filter(has_text="Reconnecting").first.wait_for(state="hidden")
    _send(facilitator, "Good to have you back")
    _wait_for_message(patient, "Good to have you back")

    expected = [
        "Hello from Alex",
        "Welcome, Alex",
        "Typed while the server was down",
        "Good to have you back",
    ]
    for page in (patient, facilitator):
        assert _log_texts(page) == expected
        seqs = (
            page.get_by_role("log")
            .locator("li.msg")
            .evaluate_all("items => items.map(item => Number(item.dataset.seq))")
        )
        assert seqs == sorted(set(seqs)) and len(seqs) == len(expected)

    # Step out: back to the waiting room for a check-in, then admitted again with the chat.
    facilitator.get_by_role("button", name="Step out Alex R.").click()
    patient.get_by_text("You're in the waiting room…").wait_for()
    facilitator.get_by_role("button", name="Admit Alex R.").click()
    _wait_for_message(patient, "Good to have you back")
    assert _log_texts(patient) == expected

    # End: both are told in a plain sentence and nobody reconnects.
    facilitator.get_by_role("button", name="End session").click()
    facilitator.get_by_role("button", name="Yes, end session").click()
    for page in (patient, facilitator):
        page.get_by_text("This session has ended.").wait_for()
        assert not page.get_by_role("log").is_visible()

    assert origin.outside == []
    assert any(url.startswith(origin.ws_origin) for url in origin.seen)
