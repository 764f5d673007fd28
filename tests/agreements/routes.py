"""The agreements room's customer routes, for tests/test_permissions.py, and helpers making versions and acceptances."""

from datetime import date

from portal.agreements.models import AcceptanceMethod, AgreementAcceptance, AgreementKind, AgreementVersion
from portal.extensions import db
from portal.integrations.partner_center import MCA_TEMPLATE_ID
from portal.shared import clock, documents

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def make_version(kind: str = AgreementKind.MICROSOFT, *, effective_from: date = date(2020, 1, 1),
                 title: str | None = None, body: str = "Texto do contrato.", pdf: bytes | None = None,
                 template_id: str | None = MCA_TEMPLATE_ID) -> AgreementVersion:
    """A published version (as staff would publish it, without the today-or-later rule)."""
    version = AgreementVersion(
        kind=kind, title=title or ("Contrato de Cliente Microsoft" if kind == AgreementKind.MICROSOFT
                                   else "Termos de serviço"),
        body=body, pdf_sha256=documents.store(pdf, "application/pdf") if pdf else None,
        effective_from=effective_from, published_at=clock.now(),
        provider_template_id=template_id if kind == AgreementKind.MICROSOFT else None,
    )
    db.session.add(version)
    db.session.commit()
    return version


def make_acceptance(organization, version, *, method=AcceptanceMethod.ACCEPTED, email="pessoa@cliente.example.com",
                    provider_status="not_needed", **fields) -> AgreementAcceptance:
    acceptance = AgreementAcceptance(
        organization_id=organization.id, version_id=version.id, method=method, first_name=fields.pop("first_name",
                                                                                                       "Pessoa"),
        last_name=fields.pop("last_name", "Cliente"), email=email, phone=fields.pop("phone", ""),
        accepted_on=fields.pop("accepted_on", clock.today()), accepted_at=fields.pop("accepted_at", clock.now()),
        provider_status=provider_status, **fields,
    )
    db.session.add(acceptance)
    db.session.commit()
    return acceptance


def version_with_pdf(world) -> dict:
    return {"version_id": make_version(pdf=PDF_BYTES).id}


CUSTOMER_ROUTES = {
    "agreements.show": ("GET", lambda w: {}, None),
    "agreements.accept": ("POST", lambda w: {}, None),  # nothing ticked: allowed, refused with 422
    "agreements.pdf": ("GET", version_with_pdf, None),  # versions are not tenant data: nobody else's object
}
