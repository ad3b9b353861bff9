"""``GET /api/system/overview`` (operators) and ``GET /metrics`` (Prometheus text) read real totals."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from domain.roles import Role


class TestOverview:
    async def test_wrong_role(self, api_client, make_user) -> None:
        user = await make_user()
        assert (await api_client.get("/api/system/overview", headers=user.headers)).status_code == 403

    async def test_valid(self, api_client, make_user, chain_user) -> None:
        await chain_user(minted=0, db_balance=1)
        operator = await make_user(Role.OPERATOR)
        body = (await api_client.get("/api/system/overview", headers=operator.headers)).json()
        assert set(body) >= {"reserves_sats", "supply_units", "ratio_bps", "operations_by_status", "active_users_24h",
                             "last_reconciliation", "last_proof", "pause", "event_monitor"}
        assert body["pause"]["minting"] is False


async def test_metrics_exposes_the_engine_gauges(api_client, sessions) -> None:
    resp = await api_client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    names = {f.name for f in text_string_to_metric_families(resp.text)}
    assert {"custody_oldest_pending_operation_age_seconds", "custody_paused"} <= names
    paused = {s.labels["scope"]: s.value for f in text_string_to_metric_families(resp.text)
              if f.name == "custody_paused" for s in f.samples}
    assert paused == {"minting": 0.0, "withdrawals": 0.0}
