"""Many portals, one configuration: the [sources.bitrix24.portals] table, --portal and --all-portals."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import tick
from test_cli import run_cli

from bitrix24 import ConfigurationError, portals
from bitrix24.portals import Portal, get_portal, load_portals, portal_message, portal_source, source_kwargs
from simportal import SimPortal

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import bitrix24_pipeline  # noqa: E402

URL = "https://acme.bitrix24.com/rest/1/abcdef123456/"


def table(monkeypatch, value) -> None:
    """The whole table from the environment, as JSON (one of the forms dlt reads)."""
    monkeypatch.setenv("SOURCES__BITRIX24__PORTALS", json.dumps(value))


def test_the_table_is_read_typed_and_sorted(monkeypatch):
    table(monkeypatch, {"zeta": {"webhook_url": URL}, "acme": {"deal_category_ids": [0, 3], "dataset": "crm_acme"}})
    monkeypatch.setenv("SOURCES__BITRIX24__PORTALS__ACME__WEBHOOK_URL", URL)  # one secret, key by key
    monkeypatch.setenv("SOURCES__BITRIX24__PORTALS__ZETA__START_DATE", "2024-01-01")
    monkeypatch.setenv("SOURCES__BITRIX24__PORTALS__ZETA__ENABLE_DEAL_PRODUCTS", "true")  # a string, typed
    found = load_portals()
    assert list(found) == ["acme", "zeta"]
    acme, zeta = found["acme"], found["zeta"]
    assert (acme.pipeline_name, acme.dataset, zeta.dataset) == ("bitrix24_acme", "crm_acme", "bitrix24_zeta")
    assert source_kwargs(acme) == {"deal_category_ids": [0, 3], "webhook_url": URL}
    assert source_kwargs(zeta) == {"webhook_url": URL, "start_date": "2024-01-01", "enable_deal_products": True}
    assert "abcdef123456" not in repr(acme) + repr(found)  # the webhook code is never shown


@pytest.mark.parametrize("value, phrases", [
    ({"Acme Corp": {"webhook_url": URL}}, ["'Acme Corp'", "lowercase letters, digits and underscores"]),
    ({"acme": {"webhook_url": URL, "deal_categories": [1]}}, ["unknown key(s) 'deal_categories'", "deal_category_ids"]),
    ({"acme": URL}, ["sources.bitrix24.portals.acme must be a table"]),
    ({"a": {"webhook_url": URL, "dataset": "crm"}, "b": {"webhook_url": URL, "dataset": "crm"}}, ["both load into dataset 'crm'"]),
    ({"acme": {"webhook_url": URL, "dataset": "My-Data"}}, ["sources.bitrix24.portals.acme.dataset"]),
])
def test_a_bad_table_is_one_clear_error(monkeypatch, value, phrases):
    table(monkeypatch, value)
    with pytest.raises(ConfigurationError) as caught:
        load_portals()
    for phrase in phrases:
        assert phrase in str(caught.value)
    assert "abcdef123456" not in str(caught.value)


def test_an_unknown_portal_lists_the_known_ones(monkeypatch):
    table(monkeypatch, {"acme": {"webhook_url": URL}, "beta": {"webhook_url": URL}})
    with pytest.raises(ConfigurationError, match="configured portals: acme, beta"):
        get_portal("gamma")


def test_authentication_is_the_portals_own(monkeypatch):
    table(monkeypatch, {"acme": {"deal_category_ids": [1]}})
    monkeypatch.setenv("SOURCES__BITRIX24__WEBHOOK_URL", URL)  # the single portal's webhook is never inherited
    with pytest.raises(ConfigurationError, match=r"sources\.bitrix24\.portals\.acme\.webhook_url is not set.*"
                                                 "SOURCES__BITRIX24__PORTALS__ACME__WEBHOOK_URL"):
        source_kwargs(get_portal("acme"))
    both = Portal("acme", "bitrix24_acme", {"webhook_url": URL, "credentials": {"client_id": "x"}})
    with pytest.raises(ConfigurationError, match="both webhook_url and credentials"):
        source_kwargs(both)


def test_oauth_credentials_are_handed_to_the_source_as_they_are():
    """An entry's `credentials` section goes to bitrix24_source(credentials=...) as it is."""
    oauth = Portal("acme", "bitrix24_acme", {"credentials": {"client_id": "app", "refresh_token": "r"}})
    assert "credentials" in portals.source_keys()
    assert source_kwargs(oauth) == {"credentials": {"client_id": "app", "refresh_token": "r"}}


def test_messages_name_the_portals_keys():
    portal = Portal("acme", "bitrix24_acme", {"webhook_url": URL, "deal_category_ids": [7]})
    text = portal_message(portal, "put its URL in sources.bitrix24.webhook_url; sources.bitrix24.deal_category_ids"
                                  " names 7; lower sources.bitrix24.operating_time_threshold")
    assert "sources.bitrix24.portals.acme.webhook_url" in text
    assert "sources.bitrix24.portals.acme.deal_category_ids" in text
    assert "sources.bitrix24.operating_time_threshold" in text  # not set on the portal: the shared key
    with pytest.raises(ConfigurationError, match="sources.bitrix24.portals.acme.webhook_url uses plain http"):
        portal_source(Portal("acme", "bitrix24_acme", {"webhook_url": "http://acme.bitrix24.com/rest/1/abc/"}))


@pytest.mark.parametrize("argv, phrase", [
    (["--portal", "gamma"], "--portal 'gamma' is not in sources.bitrix24.portals; configured portals: acme"),
    (["--portal", "acme", "--dataset", "crm"], "--portal cannot be combined with --dataset"),
    (["--all-portals", "--demo"], "--all-portals cannot be combined with --demo"),
    (["--all-portals", "--portal", "acme"], "not allowed with argument"),
])
def test_cli_bad_portal_options(monkeypatch, capsys, argv, phrase):
    table(monkeypatch, {"acme": {"webhook_url": URL}})
    assert bitrix24_pipeline.main(["--progress", "none", *argv]) == 2
    err = capsys.readouterr().err
    assert phrase in err and err.count("\n") == 1, err


def test_cli_all_portals_without_a_table(monkeypatch, capsys):
    monkeypatch.delenv("SOURCES__BITRIX24__PORTALS", raising=False)
    assert bitrix24_pipeline.main(["--progress", "none", "--all-portals"]) == 2
    assert "no portals are configured" in capsys.readouterr().err


# ---- end to end: three portals, one with a bad webhook ------------------------------------------


def secrets_toml(good_a: SimPortal, good_c: SimPortal) -> str:
    bad = good_a.webhook_url.rsplit("/", 2)[0] + "/wrongcode123/"
    return (f'[sources.bitrix24.portals.alpha]\nwebhook_url = "{good_a.webhook_url}"\n\n'
            f'[sources.bitrix24.portals.beta]\nwebhook_url = "{bad}"\n\n'
            f'[sources.bitrix24.portals.gamma]\nwebhook_url = "{good_c.webhook_url}"\ndeal_category_ids = [0]\n')


def ids(tmp_path: Path, name: str, table_name: str, where: str = "") -> set:
    with duckdb.connect(str(tmp_path / f"bitrix24-{name}.duckdb"), read_only=True) as con:
        return {r[0] for r in con.execute(f"select id from bitrix24_{name}.{table_name} {where}").fetchall()}


def test_all_portals_one_after_another_each_in_its_own_dataset(tmp_path):
    with SimPortal(size=60, seed=2, rate_limit=None) as alpha, SimPortal(size=60, seed=9, rate_limit=None) as gamma:
        (tmp_path / ".dlt").mkdir()
        (tmp_path / ".dlt" / "secrets.toml").write_text(secrets_toml(alpha, gamma))
        first = run_cli(tmp_path, "--all-portals", "--streams", "deals,contacts")
        assert first.returncode == 1, first.stderr  # some portal failed
        assert "Portals: 2 of 3 loaded" in first.stdout
        assert "error: portal beta: Bitrix24 portal 127.0.0.1 rejected the webhook" in first.stderr
        assert "sources.bitrix24.portals.beta.webhook_url" in first.stderr and "wrongcode123" not in first.stderr
        assert first.stderr.strip().splitlines()[-1] == "error: 1 of 3 portal(s) failed: beta — see above"
        assert not (tmp_path / "bitrix24-beta.duckdb").exists()
        assert ids(tmp_path, "alpha", "deals") == {int(r["ID"]) for r in alpha.ground_truth("deal")}
        assert ids(tmp_path, "alpha", "contacts") == {int(r["ID"]) for r in alpha.ground_truth("contact")}
        in_default = {int(r["ID"]) for r in gamma.ground_truth("deal") if int(r["CATEGORY_ID"]) == 0}
        assert ids(tmp_path, "gamma", "deals") == in_default  # its own deal_category_ids

        edited = min(ids(tmp_path, "alpha", "deals"))
        tick(alpha)
        alpha.update("deal", edited, TITLE="Edited for the second run")
        tick(alpha)
        second = run_cli(tmp_path, "--portal", "alpha", "--streams", "deals,contacts")
        assert second.returncode == 0, second.stderr
        assert "Portals: 1 of 1 loaded" in second.stdout and "gamma" not in second.stdout
        latest = "where _dlt_load_id = (select max(load_id) from bitrix24_alpha._dlt_loads)"
        assert ids(tmp_path, "alpha", "deals", latest) == {edited}  # only the change: alpha's own cursor


def test_streams_that_failed_alike_are_one_message():
    text = portals.failed_text({"deals": "rejected the webhook.", "contacts": "rejected the webhook.", "calls": "no scope"})
    assert text == "3 stream(s) failed: calls: no scope; contacts, deals: rejected the webhook"


def test_the_readme_example_is_a_valid_table(monkeypatch):
    import tomlkit  # dlt's own TOML library (tomllib is Python 3.11+)

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Many portals, one configuration"):readme.index("### Deploying on Airflow")]
    example = tomlkit.parse(section.split("```toml\n", 1)[1].split("```", 1)[0]).unwrap()
    table(monkeypatch, example["sources"]["bitrix24"]["portals"])
    found = load_portals()
    assert [(p.name, p.dataset) for p in found.values()] == [("acme", "bitrix24_acme"), ("globex", "crm_globex")]
    assert source_kwargs(found["globex"])["deal_category_ids"] == [0, 3]


def test_a_portal_with_oauth_credentials_beside_a_webhook_portal(tmp_path):
    """One table, two kinds of authentication: an OAuth app (its tokens rotating during the run) and a
    webhook; each portal into its own dataset, the OAuth one's rotated pair kept for the next run."""
    with SimPortal(size=60, seed=4, rate_limit=None) as oauth, SimPortal(size=60, seed=5, rate_limit=None) as hook:
        app = oauth.add_oauth_app()
        oauth.options.oauth_token_lifetime = 1  # the access token expires during the run: refreshed, stored
        creds = {"domain": f"http://{app['domain']}", "client_id": app["client_id"],
                 "client_secret": app["client_secret"], "refresh_token": app["refresh_token"],
                 "oauth_server": app["oauth_server"]}
        lines = "".join(f'{key} = "{value}"\n' for key, value in creds.items())
        (tmp_path / ".dlt").mkdir()
        (tmp_path / ".dlt" / "secrets.toml").write_text(
            f"[sources.bitrix24.portals.apps.credentials]\n{lines}\n"
            f'[sources.bitrix24.portals.hooked]\nwebhook_url = "{hook.webhook_url}"\n')
        for _run in (1, 2):  # the second run starts from the stored pair: the configured token is spent
            tick(oauth)
            result = run_cli(tmp_path, "--all-portals", "--streams", "deals,contacts")
            assert result.returncode == 0, result.stderr
            assert "Portals: 2 of 2 loaded" in result.stdout
            for secret in (app["client_secret"], app["refresh_token"]):
                assert secret not in result.stdout + result.stderr
        assert ids(tmp_path, "apps", "deals") == {int(r["ID"]) for r in oauth.ground_truth("deal")}
        assert ids(tmp_path, "hooked", "deals") == {int(r["ID"]) for r in hook.ground_truth("deal")}
        stores = list((tmp_path / "dlt_data").rglob(".bitrix24_tokens/*.json"))
        assert len(stores) == 1 and app["refresh_token"] not in stores[0].read_text()
