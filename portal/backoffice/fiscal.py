"""Backoffice "Nota fiscal" of an invoice: what is on file, and the upload of the real NFS-e (XML + PDF).

Who: the page and the upload need billing:manage (financeiro, admin). Downloading the XML and the PDF
needs only organizations:read, so every staff role can read the notas fiscais (compliance audits them,
support answers customers about them); the same files are what the customer's Cobrança downloads.
"""

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from werkzeug.exceptions import RequestEntityTooLarge

from portal.accounts.context import current_actor
from portal.accounts.roles import StaffPermission
from portal.backoffice import bp
from portal.billing import fiscal
from portal.billing import service as billing
from portal.billing.models import INVOICE_STATUS_LABELS, Invoice
from portal.billing.settings import BillingSettings
from portal.shared import clock, documents
from portal.shared.errors import NotFound, ServiceError
from portal.shared.forms import show_error
from portal.shared.permissions import staff_requires

# The whole request may carry both files at their limit plus the form's own fields; anything bigger is
# refused before it is read (413), the rest gets its message on the field.
MAX_REQUEST_BYTES = 2 * fiscal.MAX_UPLOAD_BYTES + 64 * 1024


@bp.url_value_preprocessor
def _limit_fiscal_upload(endpoint, _values):
    # Before every before_request hook, the CSRF check included, which is the first to read the body.
    if endpoint == "backoffice.fiscal_document" and request.method == "POST":
        request.max_content_length = MAX_REQUEST_BYTES


class FiscalUploadForm(FlaskForm):
    xml_file = FileField(_l("XML da NFS-e"), validators=[
        FileRequired(message=_l("Escolha o arquivo XML da nota fiscal.")),
        FileAllowed(["xml"], message=_l("Envie o arquivo .xml da nota fiscal.")),
    ], description=_l("O XML como a prefeitura o fornece (até 2 MB)."))
    pdf_file = FileField(_l("PDF da nota (DANFSe)"), validators=[
        FileRequired(message=_l("Escolha o PDF da nota fiscal.")),
        FileAllowed(["pdf"], message=_l("Envie o arquivo .pdf da nota fiscal.")),
    ], description=_l("O PDF da nota emitida na prefeitura (até 2 MB)."))

    def read(self, field) -> bytes | None:
        """The file's bytes, or None with a message on the field when it is bigger than allowed."""
        content = field.data.stream.read(fiscal.MAX_UPLOAD_BYTES + 1)
        if len(content) > fiscal.MAX_UPLOAD_BYTES:
            field.errors = [*field.errors, _("O arquivo passa de %(mb)d MB.",
                                             mb=fiscal.MAX_UPLOAD_BYTES // (1024 * 1024))]
            return None
        return content


def _invoice_or_404(invoice_id: int) -> Invoice:
    invoice = billing.invoice_with_organization(invoice_id)
    if invoice is None:
        abort(404)
    return invoice


def _page(invoice: Invoice, form: FiscalUploadForm, status: int = 200):
    return render_template(
        "backoffice/fiscal.html", invoice=invoice, document=fiscal.fiscal_document_of(invoice), form=form,
        status_label=INVOICE_STATUS_LABELS[invoice.display_status(clock.today())],
        max_mb=fiscal.MAX_UPLOAD_BYTES // (1024 * 1024),
    ), status


@bp.route("/faturas/<int:invoice_id>/nota-fiscal", methods=["GET", "POST"])
@staff_requires(StaffPermission.BILLING_MANAGE)
def fiscal_document(invoice_id: int):
    invoice = _invoice_or_404(invoice_id)
    if request.method == "GET":
        return _page(invoice, FiscalUploadForm(formdata=None))
    request.max_content_length = MAX_REQUEST_BYTES
    try:
        form = FiscalUploadForm()
    except RequestEntityTooLarge:
        flash(_("Os arquivos enviados passam do limite de %(mb)d MB cada.",
                mb=fiscal.MAX_UPLOAD_BYTES // (1024 * 1024)), "danger")
        return _page(invoice, FiscalUploadForm(formdata=None), 413)
    if form.validate_on_submit():
        xml_content, pdf_content = form.read(form.xml_file), form.read(form.pdf_file)
        if xml_content is not None and pdf_content is not None:
            settings = BillingSettings.from_config(current_app.config)
            try:
                fiscal.upload_fiscal_document(
                    invoice, xml_bytes=xml_content, pdf_bytes=pdf_content, actor=current_actor(),
                    provider_cnpj=settings.reseller_cnpj)
            except ServiceError as error:
                show_error(form, error)
            else:
                flash(_("Nota fiscal registrada. A fatura segue para o cliente com ela."), "success")
                return redirect(url_for("backoffice.fiscal_document", invoice_id=invoice.id))
    return _page(invoice, form, 422)


def _download(invoice_id: int, kind: str):
    invoice = _invoice_or_404(invoice_id)
    try:
        if kind == "pdf":
            document = fiscal.fiscal_pdf(invoice)
            return documents.send(document.pdf_sha256, fiscal.download_name(document, kind))
        document, content = fiscal.fiscal_xml(invoice)
    except NotFound:
        abort(404)
    response = Response(content, mimetype="application/pdf" if kind == "pdf" else "application/xml")
    response.headers["Content-Disposition"] = f'attachment; filename="{fiscal.download_name(document, kind)}"'
    return response


@bp.get("/faturas/<int:invoice_id>/nota-fiscal.xml")
@staff_requires(StaffPermission.ORGANIZATIONS_READ)
def fiscal_document_xml(invoice_id: int):
    return _download(invoice_id, "xml")


@bp.get("/faturas/<int:invoice_id>/nota-fiscal.pdf")
@staff_requires(StaffPermission.ORGANIZATIONS_READ)
def fiscal_document_pdf(invoice_id: int):
    return _download(invoice_id, "pdf")
