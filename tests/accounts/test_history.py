"""The customer's "Histórico" (issue 13 point 10): every event a sentence in the reader's language, a filter by
kind and by period, paging and a CSV export; no JSON, hash, centavos or provider English on the page.

The clock is 2026-03-11 15:00 in São Paulo.
"""

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from portal.accounts import history
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.subscriptions.models import Order, OrderKind, OrderStatus
from tests import factories
from tests.conftest import sign_in
from tests.e2e.pagecheck import forbidden_words
from tests.html import visible, words
from tests.test_query_budget import counting

MARCH_11 = datetime(2026, 3, 11, 18, 0, tzinfo=UTC)
SYSTEM = Actor.system("tests")
SHA = "ab" * 32


@pytest.fixture(autouse=True)
def march(app_ctx):
    with clock.frozen(MARCH_11):
        yield


def sentences(response) -> list[str]:
    body = response.get_data(as_text=True)
    return [words(s) for s in re.findall(r'data-testid="history-sentence">(.*?)</td>', body, re.S)]


@pytest.fixture
def master(app_ctx, world):
    return sign_in(app_ctx.test_client(), world.master)


@pytest.fixture
def basic(world):
    """Microsoft 365 Business Basic, 5 licenses in Demo Tecnologia."""
    product = factories.ProductFactory(name="Microsoft 365 Business Basic")
    return factories.subscription(world.demo, product=product, quantity=5)


def as_user(user):
    return Actor.for_user(user, ip="203.0.113.9")


def record_a_month(world, basic) -> dict:
    """One event of each kind a customer reads, with the payloads the services write (see their record calls)."""
    invoice = factories.invoice(world.demo, total_cents=123456, lines=(), boleto=False)
    order = Order(organization_id=world.demo.id, kind=OrderKind.QUANTITY_CHANGE, subscription_id=basic.id,
                  quantity=5, status=OrderStatus.FAILED, correlation_id=str(uuid.uuid4()))
    db.session.add(order)
    db.session.flush()
    demo = world.demo.id
    master, adm = as_user(world.master), as_user(world.adm)
    record(AuditTag.QUANTITY_INCREASED, actor=master, organization_id=demo, subject=f"subscription:{basic.id}",
           before={"quantity": 3, "renewal_quantity": None}, after={"quantity": 5, "charge_cents": 4877, "quote": 7})
    record(AuditTag.INVITATION_SENT, actor=master, organization_id=demo,
           subject=f"membership:{world.adm_membership.id}",
           after={"email": "novo@demo.example.com", "roles": ["adm", "cobranca"]})
    record(AuditTag.ROLES_CHANGED, actor=master, organization_id=demo,
           subject=f"membership:{world.suporte_membership.id}", before={"roles": ["suporte"]},
           after={"roles": ["suporte", "cobranca"]})
    record(AuditTag.INVOICE_ISSUED, actor=SYSTEM, organization_id=demo, subject=f"invoice:{invoice.id}",
           after={"number": invoice.display_number, "billing_date": "2026-03-01", "subtotal_cents": 130000,
                  "credit_cents": 6544, "total_cents": 123456, "due_date": "2026-03-11", "replaces": None})
    record(AuditTag.FISCAL_DOCUMENT_ISSUED, actor=SYSTEM, organization_id=demo, subject=f"invoice:{invoice.id}",
           after={"number": "000123", "verification_code": "ABCD1234", "issued_on": "2026-03-02",
                  "amount_cents": 123456, "simulated": True, "source": "simulator", "pdf_sha256": SHA})
    record(AuditTag.PAYMENT_RECORDED, actor=as_user(world.staff_financeiro), organization_id=demo,
           subject=f"invoice:{invoice.id}",
           after={"number": invoice.display_number, "payment_id": 1, "amount_cents": 100000, "method": "pix",
                  "paid_on": "2026-03-10", "source": "manual", "external_id": None, "note": "",
                  "paid_cents": 100000, "amount_due_cents": 123456, "balance_cents": 23456})
    record(AuditTag.SECOND_COPY_ISSUED, actor=adm, organization_id=demo, subject=f"invoice:{invoice.id}",
           before={"boleto_sequence": 1, "due_date": "2026-03-11", "amount_cents": 123456},
           after={"number": invoice.display_number, "boleto_sequence": 2, "nosso_numero": "12345678",
                  "due_date": "2026-03-16", "base_cents": 23456, "fine_cents": 469, "interest_cents": 39,
                  "amount_cents": 23964, "days_late": 5})
    record(AuditTag.TICKET_OPENED, actor=as_user(world.suporte), organization_id=demo, subject="ticket:42",
           after={"subject": "E-mail não chega", "category": "technical", "priority": "normal",
                  "subscription_id": None, "attachments": []})
    record(AuditTag.TICKET_STATUS_CHANGED, actor=as_user(world.staff_suporte), organization_id=demo,
           subject="ticket:42", before={"status": "open"}, after={"status": "in_progress"})
    record(AuditTag.ORDER_SENT, actor=SYSTEM, organization_id=demo, subject=f"order:{order.id}",
           before={"status": "pending"}, after={"status": "sent", "message": "accepted by the provider (202); polling"})
    record(AuditTag.ORDER_FAILED, actor=SYSTEM, organization_id=demo, subject=f"order:{order.id}",
           before={"status": "sent"}, after={"status": "failed", "message": "failed (no_tenant): The organization "
                                                                       "has no Microsoft tenant id"})
    record(AuditTag.AGREEMENT_SENT_TO_PROVIDER, actor=SYSTEM, organization_id=demo, subject="agreement_acceptance:1",
           after={"provider_status": "done", "provider_error": None, "http_status": 201})
    record(AuditTag.ORGANIZATION_DELINQUENT, actor=SYSTEM, organization_id=demo, subject=f"organization:{demo}",
           before={"delinquent_since": None},
           after={"delinquent_since": "2026-03-11", "invoices": [invoice.display_number], "after_days": 15})
    # Staff-side work and another organization's events: never on this page.
    record(AuditTag.OPPORTUNITY_STAGE_CHANGED, actor=as_user(world.staff_comercial), organization_id=demo,
           subject="opportunity:1", before={"stage": "proposal"},
           after={"stage": "contract", "note": "Cliente pediu desconto, segurar margem"})
    record(AuditTag.DEAL_UPDATED, actor=as_user(world.staff_comercial), organization_id=demo, subject="deal:1",
           before={"value_cents": 1}, after={"value_cents": 2})
    record(AuditTag.LOGIN_SUCCEEDED, actor=as_user(world.other_master), organization_id=world.other.id,
           subject=f"user:{world.other_master.id}")
    db.session.commit()
    return {"invoice": invoice}


def test_every_audit_tag_has_a_describer_or_a_reason_not_to_be_told():
    """A new tag fails here until it gets a sentence (or is declared staff-only or organization-less)."""
    described, staff_only, unowned = set(history.DESCRIBERS), set(history.STAFF_ONLY), set(history.NO_ORGANIZATION)
    for tag in AuditTag:
        homes = [name for name, tags in (("DESCRIBERS", described), ("STAFF_ONLY", staff_only),
                                         ("NO_ORGANIZATION", unowned)) if tag in tags]
        assert len(homes) == 1, f"{tag}: {homes or 'no describer'}"
    assert {tag.split(":")[0] for tag in described} <= set(history.AREAS)


@pytest.mark.parametrize("tag", sorted(history.DESCRIBERS))
def test_each_describer_tells_an_event_without_its_payload(app_ctx, world, tag):
    """An event of an older shape (no before/after) still reads as a sentence, never as its tag."""
    event = record(AuditTag(tag), actor=as_user(world.master), organization_id=world.demo.id, subject=None)
    [line] = history.describe([event], world.demo.id)
    assert line.sentence and tag not in line.sentence and "{" not in line.sentence
    assert line.area == str(history.AREAS[tag.split(":")[0]])


def test_the_history_reads_as_sentences(master, world, basic):
    made = record_a_month(world, basic)
    response = master.get("/historico")
    assert response.status_code == 200
    said = sentences(response)
    number = made["invoice"].display_number
    for sentence in (
        "Master Demo aumentou Microsoft 365 Business Basic de 3 para 5 licenças (pró-rata R$ 48,77).",
        "Master Demo convidou novo@demo.example.com com o papel Adm, Cobrança.",
        "Master Demo mudou os papéis de Suporte Demo de Suporte para Suporte, Cobrança.",
        f"Fatura {number} emitida: R$ 1.234,56, com vencimento em 11/03/2026. Crédito aplicado: R$ 65,44.",
        f"Nota fiscal nº 000123 emitida para a fatura {number} (R$ 1.234,56). Simulação, sem valor fiscal.",
        f"Pagamento de R$ 1.000,00 recebido para a fatura {number} (Pix, em 10/03/2026). Falta pagar R$ 234,56.",
        f"Adm Demo emitiu a 2ª via do boleto da fatura {number}: R$ 239,64, com vencimento em 16/03/2026. "
        "Inclui multa de R$ 4,69 e juros de R$ 0,39.",
        "Suporte Demo abriu o chamado nº 42: “E-mail não chega”.",
        f"{world.staff_suporte.name} (nossa equipe) mudou a situação do chamado nº 42 de “aberto” para "
        "“em atendimento”.",
        "A Microsoft confirmou o aceite do contrato da organização.",
        f"A organização ficou inadimplente: a fatura {number} está vencida há mais de 15 dias. Compras e aumentos de "
        "licenças ficam bloqueados até o pagamento.",
    ):
        assert sentence in said, (sentence, said)
    page = visible(response)
    for raw in ("_cents", "{", SHA, "sha256", "accepted by the provider", "polling", "no_tenant", "123456",
                "subscriptions:", "Cliente pediu desconto", "value_cents"):
        assert raw not in page, raw
    assert forbidden_words(page) == []
    assert len(said) == 13  # the staff-side pipeline note, the co-sell deal and Outra Empresa's login left out


def test_who_did_it_is_a_name_and_the_system_is_the_portal(master, world, basic):
    record_a_month(world, basic)
    body = master.get("/historico").get_data(as_text=True)
    cells = [words(c) for c in re.findall(r'data-testid="history-actor">(.*?)</div>', body, re.S)]
    assert set(cells) >= {"Master Demo", "Portal", "Adm Demo", f"{world.staff_financeiro.name} (nossa equipe)"}
    assert not any("@" in cell for cell in cells)


def test_in_english_for_an_english_reader(master, world, basic):
    world.master.language = "en"
    db.session.commit()
    record_a_month(world, basic)
    said = sentences(master.get("/historico"))
    assert "Master Demo increased Microsoft 365 Business Basic from 3 to 5 licenses (pro rata R$48.77)." in said, said
    assert any(s.startswith("Payment of R$1,000.00 received for invoice") for s in said), said


def test_filter_by_kind_and_by_period(master, world, basic):
    record_a_month(world, basic)
    with clock.frozen(MARCH_11 - timedelta(days=20)):
        record(AuditTag.LOGIN_SUCCEEDED, actor=as_user(world.adm), organization_id=world.demo.id,
               subject=f"user:{world.adm.id}")
        db.session.commit()
    billing = sentences(master.get("/historico?tipo=billing"))
    assert len(billing) == 5 and all("fatura" in s.lower() for s in billing), billing
    support = sentences(master.get("/historico?tipo=support"))
    assert len(support) == 2 and all("chamado nº 42" in s for s in support), support
    assert len(sentences(master.get("/historico?de=2026-03-11"))) == 13
    older = sentences(master.get("/historico?ate=2026-02-28"))
    assert older == ["Adm Demo entrou no portal."]
    assert sentences(master.get("/historico?de=19/02/2026&ate=19/02/2026")) == ["Adm Demo entrou no portal."]
    assert sentences(master.get("/historico?tipo=accounts&de=2026-03-11&ate=2026-03-11")) == [
        "Master Demo mudou os papéis de Suporte Demo de Suporte para Suporte, Cobrança.",
        "Master Demo convidou novo@demo.example.com com o papel Adm, Cobrança."]
    # The page keeps the filters in the form, the pager and the CSV link.
    body = master.get("/historico?tipo=billing&de=2026-03-01").get_data(as_text=True)
    assert '<option value="billing" selected>' in body and 'value="2026-03-01"' in body
    assert 'href="/historico.csv?tipo=billing&amp;de=2026-03-01"' in body


def test_bad_filters_are_explained_and_the_rest_still_applies(master, world, basic):
    record_a_month(world, basic)
    response = master.get("/historico?tipo=billing&de=31/02/2026")
    assert response.status_code == 422
    page = visible(response)
    assert "“31/02/2026” não é uma data: use o formato dd/mm/aaaa, como 25/03/2026." in page
    assert len(sentences(response)) == 5  # still the billing events, of every date
    response = master.get("/historico?de=2026-03-11&ate=2026-03-01")
    assert response.status_code == 422
    assert ("A data final (01/03/2026) é anterior à inicial (11/03/2026): mostrando a partir de 11/03/2026."
            in visible(response))
    assert len(sentences(response)) == 13
    response = master.get("/historico?tipo=x%27%3B--&de=" + "9" * 200)
    assert response.status_code == 422
    assert "Tipo de evento desconhecido: mostrando todos os tipos." in visible(response)
    assert master.get("/historico?pagina=99999999999999").status_code == 200


def test_paging_keeps_the_filters(master, world):
    for _n in range(history.PER_PAGE + 3):
        record(AuditTag.LOGIN_SUCCEEDED, actor=as_user(world.adm), organization_id=world.demo.id,
               subject=f"user:{world.adm.id}")
    db.session.commit()
    first = master.get("/historico?tipo=accounts")
    assert len(sentences(first)) == history.PER_PAGE
    assert 'href="/historico?pagina=2&amp;tipo=accounts"' in first.get_data(as_text=True)
    assert len(sentences(master.get("/historico?tipo=accounts&pagina=2"))) == 3


def test_the_csv_holds_the_filtered_events_as_the_page_tells_them(master, world, basic):
    made = record_a_month(world, basic)
    response = master.get("/historico.csv?tipo=billing")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="historico-2026-03-11.csv"'
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Data e hora", "Quem", "Tipo", "O que aconteceu"]
    assert len(rows) == 1 + 5
    assert all(row[2] == "Faturas e pagamentos" for row in rows[1:])
    assert rows[1][0] == "11/03/2026 15:00"
    number = made["invoice"].display_number
    assert [f"{world.staff_financeiro.name} (nossa equipe)", "Faturas e pagamentos",
            f"Pagamento de R$ 1.000,00 recebido para a fatura {number} (Pix, em 10/03/2026). Falta pagar R$ 234,56."
            ] in [row[1:] for row in rows]
    assert SHA not in raw.decode() and "_cents" not in raw.decode()
    # A filter that cannot be read is not exported as something else: back to the page that explains it.
    bad = master.get("/historico.csv?de=ontem")
    assert bad.status_code == 302 and bad.headers["Location"] == "/historico?de=ontem"


def test_the_csv_reads_a_long_history_in_batches(master, world, monkeypatch):
    monkeypatch.setattr(history, "EXPORT_BATCH", 4)
    for _n in range(10):
        record(AuditTag.LOGOUT, actor=as_user(world.adm), organization_id=world.demo.id, subject=f"user:{world.adm.id}")
    db.session.commit()
    rows = list(csv.reader(io.StringIO(master.get("/historico.csv").get_data().decode("utf-8-sig")), delimiter=";"))
    assert len(rows) == 11 and {row[3] for row in rows[1:]} == {"Adm Demo saiu do portal."}


def test_a_spreadsheet_formula_in_a_name_is_not_run(master, world):
    world.adm.name = "=HYPERLINK(\"http://evil.example\")"
    db.session.commit()
    record(AuditTag.LOGOUT, actor=as_user(world.adm), organization_id=world.demo.id, subject=f"user:{world.adm.id}")
    db.session.commit()
    rows = list(csv.reader(io.StringIO(master.get("/historico.csv").get_data().decode("utf-8-sig")), delimiter=";"))
    assert rows[1][1].startswith("'=") and rows[1][3].startswith("'=")


def test_only_the_master_reads_it(app_ctx, world):
    for who in ("adm", "cobranca", "suporte"):
        client = sign_in(app_ctx.test_client(), getattr(world, who))
        assert client.get("/historico").status_code == 403
        assert client.get("/historico.csv").status_code == 403


def test_the_page_runs_as_many_statements_for_few_and_many_events(master, world, basic):
    """Sentences name people, products, orders and invoices: read once per page, not once per event."""
    record_a_month(world, basic)

    def statements() -> int:
        with counting(db.engine) as seen:
            assert master.get("/historico").status_code == 200
        return len(seen)

    few = statements()
    for n in range(3):
        other = factories.subscription(world.demo, product=factories.ProductFactory(), quantity=2 + n)
        record(AuditTag.QUANTITY_INCREASED, actor=as_user(world.adm), organization_id=world.demo.id,
               subject=f"subscription:{other.id}", before={"quantity": 1}, after={"quantity": 2 + n})
        membership = factories.MembershipFactory(organization=world.demo, roles=["suporte"])
        record(AuditTag.MEMBERSHIP_DEACTIVATED, actor=as_user(membership.user), organization_id=world.demo.id,
               subject=f"membership:{membership.id}", before={"active": True}, after={"active": False})
        with clock.frozen(MARCH_11 - timedelta(days=40 + n)):  # one invoice per billing day
            invoice = factories.invoice(world.demo, lines=(), boleto=False, total_cents=78_900)
        record(AuditTag.INVOICE_CANCELLED, actor=as_user(world.staff_financeiro), organization_id=world.demo.id,
               subject=f"invoice:{invoice.id}", before={"status": "open"}, after={"status": "cancelled"})
    db.session.commit()
    assert statements() == few


def test_another_organizations_names_are_not_looked_up(master, world):
    """A subject naming another organization's row (it cannot happen, but) shows nothing of it."""
    secret = factories.subscription(world.other, product=factories.ProductFactory(name="Produto Secreto"))
    invoice = factories.invoice(world.other, lines=(), boleto=False, total_cents=78_900)
    record(AuditTag.QUANTITY_INCREASED, actor=as_user(world.master), organization_id=world.demo.id,
           subject=f"subscription:{secret.id}", before={"quantity": 1}, after={"quantity": 2})
    record(AuditTag.INVOICE_CANCELLED, actor=as_user(world.master), organization_id=world.demo.id,
           subject=f"invoice:{invoice.id}", after={"status": "cancelled"})
    db.session.commit()
    page = visible(master.get("/historico"))
    assert "Produto Secreto" not in page and invoice.display_number not in page


def test_dates_in_the_payload_are_business_dates(app_ctx, world):
    event = record(AuditTag.ORGANIZATION_CLOSED, actor=SYSTEM, organization_id=world.demo.id,
                   after={"organization_status": "closed", "on": date(2026, 3, 1).isoformat()})
    [line] = history.describe([event], world.demo.id)
    assert line.sentence == "O contrato da organização foi encerrado em 01/03/2026."
    assert line.actor == "Portal"


def test_an_agreement_acceptance_names_the_agreement_when_the_record_has_it(app_ctx, world):
    master = as_user(world.master)
    titled = record(AuditTag.AGREEMENT_ACCEPTED, actor=master, organization_id=world.demo.id,
                    after={"title": "Contrato de Prestação de Serviços", "kind": "customer"})
    untitled = record(AuditTag.AGREEMENT_ACCEPTED, actor=master, organization_id=world.demo.id,
                      after={"version_id": 1, "kind": "customer", "demo": True})
    assert [line.sentence for line in history.describe([titled, untitled], world.demo.id)] == [
        "Master Demo aceitou “Contrato de Prestação de Serviços” em nome da organização.",
        "Master Demo aceitou o contrato em nome da organização."]
