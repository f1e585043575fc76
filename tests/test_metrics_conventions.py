"""/metrics by Prometheus' conventions, read from the real endpoint: the request histogram's
conventional name, the build's version, no `_created` series, every family there on an empty
database (its known labels at 0), a moment not yet known absent rather than 0, and the
database's totals read at most once a minute."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.runtime import metrics
from bot.runtime.build import version
from storage import queries
from storage.db import Database
from tests.android_gateway import FakeGateway, android_settings, event_body, post_event
from tests.conftest import StartBot
from tests.serve_process import get, serving

GATEWAY = "civicbot_sms_gateway_last_contact_timestamp_seconds"
# Moments that have no sample until they happen (a job never run, no gateway yet, no backup).
MOMENTS = {
    GATEWAY,
    "civicbot_scheduler_last_success_timestamp_seconds",
    "civicbot_backup_newest_timestamp_seconds",
}


def samples(text: str) -> dict[str, list[str]]:
    """Each civicbot family's samples, as `name{labels} value` lines."""
    return {
        family.name: [
            f"{s.name}{{{','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))}}} {s.value}"
            for s in family.samples
        ]
        for family in text_string_to_metric_families(text)
        if family.name.startswith("civicbot_")
    }


def test_a_new_server_on_an_empty_database_shows_every_family_by_the_conventions(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "bot"
    folder.mkdir()
    # The weekly digest at a time no test meets: that job has never run.
    with serving(folder, {"DIGEST_CRON": "0 3 29 2 *"}) as served:
        text = get(f"{served.base_url}/metrics")

    families = samples(text)
    assert "_created" not in text
    assert "civicbot_request_seconds" not in text
    assert f'civicbot_build_info{{version="{version()}"}} 1.0' in text
    assert any(
        line.startswith("civicbot_http_request_duration_seconds_bucket{endpoint=/healthz,")
        for line in families["civicbot_http_request_duration_seconds"]
    )
    empty = sorted(name for name, lines in families.items() if not lines and name not in MOMENTS)
    assert empty == []
    # Known labels at 0 before anything happened, and read from an empty database.
    for line in (
        "civicbot_wishes{kind=change} 0.0",
        "civicbot_people{channel=sms} 0.0",
        "civicbot_digest_deliveries{status=failed} 0.0",
        "civicbot_inbound_total{channel=telegram,kind=text} 0.0",
        "civicbot_inbound_not_kept_total{channel=sms,reason=database} 0.0",
        "civicbot_outbox_given_up_total{channel=telegram,reason=rate_limited} 0.0",
        "civicbot_signatures_refused_total{channel=sms,reason=already} 0.0",
        "civicbot_webhook_rejected_total{endpoint=twilio,reason=signature} 0.0",
        "civicbot_outbox_depth{channel=telegram} 0.0",
    ):
        assert line in [each for lines in families.values() for each in lines], line
    # Unknown moments: the family is described, with no sample for what never happened.
    assert families[GATEWAY] == []
    jobs = families["civicbot_scheduler_last_success_timestamp_seconds"]
    assert jobs and not [line for line in jobs if "job=weekly" in line]


async def test_the_gateways_last_contact_is_a_sample_once_it_has_called(
    start_bot: StartBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics.GATEWAY_CONTACT, "value", None)  # as in a new process
    gateway = FakeGateway()
    await gateway.start()
    try:
        runtime = await start_bot(
            "webhook", telegram_bot_token=None, **android_settings(gateway.base_url)
        )
        before = await _metrics(runtime.base_url)
        status, _ = await post_event(runtime.base_url, event_body("system:ping", {}))
        after = await _metrics(runtime.base_url)
    finally:
        await gateway.stop()
    assert status == 204
    assert samples(before)[GATEWAY] == []
    [line] = samples(after)[GATEWAY]
    assert float(line.rpartition(" ")[2]) > 1.7e9  # a Unix time, not 0


async def _metrics(base_url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/metrics") as response:
        return await response.text()


async def test_the_database_totals_are_read_again_once_a_minute_not_at_every_scrape(
    db: Database,
) -> None:
    now = [1000.0]
    totals = metrics.Totals(clock=lambda: now[0])

    async def wishes() -> list[str]:
        return samples((await metrics.render(db, totals)).decode())["civicbot_wishes"]

    before = await wishes()
    async with db.session() as session, session.begin():
        await queries.add_wish(
            session,
            kind="change",
            category="roads",
            text="Potholes",
            municipality_id=None,
            channel="telegram",
            person_id=None,
        )
    now[0] += metrics.TOTALS_EVERY_S - 1  # a scrape within the minute: the totals as read
    assert await wishes() == before
    now[0] += 1
    assert "civicbot_wishes{kind=change} 1.0" in await wishes()
    assert "civicbot_wishes{kind=change} 0.0" in before
