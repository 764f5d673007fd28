"""The real Microsoft Graph adapter (msal tokens + urllib) against a local HTTPS fake of Entra ID and Graph, and the
simulator: the same UsageReport for the same tenant state."""

from datetime import date

import pytest

from portal.integrations.graph import (
    GraphClient,
    GraphSimulator,
    InactiveUser,
    SimulatedTenant,
    SkuUsage,
    UsageStatus,
    admin_consent_url,
    from_config,
    parse_active_user_report,
)
from tests.fakes.graph import CLIENT_ID, CLIENT_SECRET, FakeTenant, FakeUser, GraphFake, TestPki, sku

TENANT = "0f0e0d0c-0000-4000-8000-000000000001"
STANDARD = "f245ecc8-75af-4f8e-b61f-27d8114de5f3"
BASIC = "3b555118-da6a-4418-894f-7df1e2096870"


@pytest.fixture(scope="module")
def pki():
    found = TestPki()
    yield found
    found.remove()


@pytest.fixture
def fake(pki):
    server = GraphFake(pki).start()
    server.tenants[TENANT] = FakeTenant(
        skus=[sku(STANDARD.upper(), "O365_BUSINESS_PREMIUM", 20, 17), sku(BASIC, "O365_BUSINESS_ESSENTIALS", 5, 5)],
        users=[FakeUser("ana@cliente.example.com", ["MICROSOFT 365 BUSINESS STANDARD"], date(2026, 12, 1)),
               FakeUser("bruno@cliente.example.com", ["MICROSOFT 365 BUSINESS STANDARD"], date(2026, 10, 1)),
               FakeUser("carla@cliente.example.com", ["MICROSOFT 365 BUSINESS STANDARD", "MICROSOFT TEAMS EXPLORATORY"],
                        None),
               FakeUser("davi@cliente.example.com", ["MICROSOFT 365 BUSINESS BASIC"], date(2026, 11, 20))])
    yield server
    server.stop()


def client(fake, pki, secret=CLIENT_SECRET) -> GraphClient:
    return GraphClient(client_id=CLIENT_ID, client_secret=secret, authority_url=fake.url, graph_url=fake.url,
                       ca_file=str(pki.ca_file), timeout=10)


def test_reads_skus_and_inactive_users_with_a_token_checked_on_every_call(fake, pki):
    report = client(fake, pki).read(TENANT)

    assert report.status == UsageStatus.OK
    assert report.skus == (SkuUsage(STANDARD, "O365_BUSINESS_PREMIUM", 20, 17),
                           SkuUsage(BASIC, "O365_BUSINESS_ESSENTIALS", 5, 5))
    assert report.reports_available and not report.concealed
    assert [u.user for u in report.inactive] == ["bruno@cliente.example.com", "carla@cliente.example.com"]
    assert report.inactive[0].last_activity == date(2026, 10, 1) and report.inactive[1].last_activity is None
    assert report.inactive[1].part_numbers == ("O365_BUSINESS_PREMIUM", "MICROSOFT TEAMS EXPLORATORY")
    graph_calls = [(path, bearer) for method, path, bearer in fake.requests if path.startswith("/v1.0/")]
    assert graph_calls and all(bearer for _path, bearer in graph_calls)
    downloads = [bearer for _m, path, bearer in fake.requests if path.startswith("/download/")]
    assert downloads == [False]  # the pre-authenticated report address never gets our token


def test_the_token_is_reused_while_valid(fake, pki):
    adapter = client(fake, pki)
    adapter.read(TENANT)
    adapter.read(TENANT)
    assert fake.token_requests == 1


def test_graph_refuses_calls_without_or_with_a_wrong_token(fake, pki):
    adapter = client(fake, pki)
    assert adapter._get(f"{fake.url}/v1.0/subscribedSkus", None)[0] == 401
    assert adapter._get(f"{fake.url}/v1.0/subscribedSkus", "not-a-token")[0] == 401


def test_a_wrong_secret_is_an_error_not_a_consent_problem(fake, pki):
    report = client(fake, pki, secret="wrong").read(TENANT)
    assert report.status == UsageStatus.ERROR
    assert "AADSTS7000215" in report.message


def test_missing_consent_at_the_token_endpoint(fake, pki):
    fake.tenants[TENANT].consent = False
    report = client(fake, pki).read(TENANT)
    assert report.status == UsageStatus.CONSENT_MISSING
    assert report.skus == ()
    assert not any(path.startswith("/v1.0/") for _m, path, _b in fake.requests)


def test_graph_403_on_skus_is_missing_consent(fake, pki):
    fake.tenants[TENANT].graph_forbidden = True
    assert client(fake, pki).read(TENANT).status == UsageStatus.CONSENT_MISSING


def test_without_the_reports_permission_counts_only(fake, pki):
    fake.tenants[TENANT].reports = False
    report = client(fake, pki).read(TENANT)
    assert report.status == UsageStatus.OK and len(report.skus) == 2
    assert not report.reports_available and report.inactive == ()


def test_concealed_names_are_detected(fake, pki):
    fake.tenants[TENANT].concealed = True
    report = client(fake, pki).read(TENANT)
    assert report.concealed and len(report.inactive) == 2
    assert all("@" not in u.user for u in report.inactive)


def test_an_unknown_tenant_is_an_error(fake, pki):
    report = client(fake, pki).read("99999999-0000-4000-8000-000000000009")
    assert report.status == UsageStatus.ERROR


def test_nothing_listening_is_an_error(pki):
    adapter = GraphClient(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, authority_url="https://127.0.0.1:9",
                          graph_url="https://127.0.0.1:9", ca_file=str(pki.ca_file), timeout=2)
    assert adapter.read(TENANT).status == UsageStatus.ERROR


def test_report_parsing_skips_deleted_and_unlicensed_users():
    body = ("\ufeffReport Refresh Date,User Principal Name,Is Deleted,Exchange Last Activity Date,Assigned Products\r\n"
            "2026-12-06,a@x.example,False,,MICROSOFT 365 E3\r\n"
            "2026-12-06,b@x.example,True,,MICROSOFT 365 E3\r\n"
            "2026-12-06,c@x.example,False,,\r\n"
            "2026-12-06,d@x.example,False,2026-11-07,MICROSOFT 365 E3\r\n"
            "2026-12-06,e@x.example,False,2026-11-06,Microsoft 365 E3\r\n").encode()
    inactive, concealed = parse_active_user_report(body)
    assert [(u.user, u.part_numbers) for u in inactive] == [("a@x.example", ("SPE_E3",)), ("e@x.example", ("SPE_E3",))]
    assert not concealed


def test_simulator_answers_as_set():
    simulator = GraphSimulator()
    assert simulator.read(TENANT).skus == ()
    simulator.set_tenant(TENANT, SimulatedTenant(
        skus=[SkuUsage(STANDARD, "O365_BUSINESS_PREMIUM", 12, 9)],
        inactive=[InactiveUser("x@y.example", None, ("O365_BUSINESS_PREMIUM",))]))
    report = simulator.read(TENANT)
    assert report.status == UsageStatus.OK and report.reports_available and len(report.inactive) == 1
    simulator.set_tenant(TENANT, SimulatedTenant(consent=False))
    assert simulator.read(TENANT).status == UsageStatus.CONSENT_MISSING


def test_simulator_in_a_folder_is_shared(tmp_path):
    GraphSimulator(str(tmp_path)).set_tenant(TENANT, SimulatedTenant(
        skus=[SkuUsage(BASIC, "O365_BUSINESS_ESSENTIALS", 5, 3)], concealed=True,
        inactive=[InactiveUser("ABC", date(2026, 1, 2), ("O365_BUSINESS_ESSENTIALS",))]))
    report = GraphSimulator(str(tmp_path)).read(TENANT)
    assert report.skus[0].enabled == 5 and report.concealed and report.inactive[0].last_activity == date(2026, 1, 2)


def test_from_config_and_the_consent_link():
    assert from_config({}).name == "simulator"
    with pytest.raises(RuntimeError):
        from_config({"GRAPH_BACKEND": "graph"})
    with pytest.raises(RuntimeError):
        from_config({"GRAPH_BACKEND": "graph", "GRAPH_CLIENT_ID": "a", "GRAPH_CLIENT_SECRET": "b",
                     "GRAPH_AUTHORITY_URL": "http://127.0.0.1:1"})
    url = admin_consent_url({"GRAPH_CLIENT_ID": CLIENT_ID}, TENANT)
    assert url == f"https://login.microsoftonline.com/{TENANT}/adminconsent?client_id={CLIENT_ID}"
    assert admin_consent_url({"GRAPH_CLIENT_ID": CLIENT_ID}, None).startswith(
        "https://login.microsoftonline.com/organizations/adminconsent?")
