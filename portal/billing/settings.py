"""The reseller's billing settings as one immutable value, built from the app config and passed to services."""

from dataclasses import dataclass


@dataclass(frozen=True)
class BillingSettings:
    reseller_legal_name: str
    reseller_cnpj: str
    reseller_address: str
    due_days: int  # the due date is the billing day plus this, moved to the next business day
    delinquent_after_days: int  # an invoice this many days overdue makes the organization "inadimplente"
    fine_bp: int  # multa, basis points of the amount (≤ 200: at most 2% by law)
    interest_monthly_bp: int  # juros de mora per month, basis points, charged pro rata die (30-day month)
    second_copy_days: int  # a 2ª via is due this many days after it is asked for (next business day)
    bank: str  # "001" Banco do Brasil, "237" Bradesco, "341" Itaú
    agency: str
    account: str
    carteira: str
    convenio: str  # Banco do Brasil's 7-digit convênio
    pix_key: str
    pix_merchant_name: str
    pix_merchant_city: str
    # CNAB 240 (billing/bank.py): check digits and BB's variação where the bank's layout has them.
    agency_dv: str = ""
    account_dv: str = ""
    variacao: str = ""
    # Review before issuing (issue 16): the run makes drafts; one still waiting `review_lead_days` before its due
    # date is flagged to finance.
    review: bool = False
    review_lead_days: int = 3
    # NFS-e (issue 16): the reseller's inscrição municipal and city (IBGE), and the DPS / RPS series.
    reseller_municipal_registration: str = ""
    reseller_city_code: str = "3550308"
    fiscal_series: str = "1"

    @classmethod
    def from_config(cls, config) -> "BillingSettings":
        fine = int(config["BILLING_FINE_BP"])
        if not 0 <= fine <= 200:
            raise RuntimeError("BILLING_FINE_BP must be between 0 and 200 (the multa is at most 2%)")
        if config["BOLETO_BANK"] not in {"001", "237", "341"}:
            raise RuntimeError("BOLETO_BANK must be 001 (Banco do Brasil), 237 (Bradesco) or 341 (Itaú)")
        return cls(
            reseller_legal_name=config["RESELLER_LEGAL_NAME"], reseller_cnpj=config["RESELLER_CNPJ"],
            reseller_address=config["RESELLER_ADDRESS"], due_days=int(config["BILLING_DUE_DAYS"]),
            delinquent_after_days=int(config["BILLING_DELINQUENT_AFTER_DAYS"]), fine_bp=fine,
            interest_monthly_bp=int(config["BILLING_INTEREST_MONTHLY_BP"]),
            second_copy_days=int(config["BILLING_SECOND_COPY_DAYS"]), bank=config["BOLETO_BANK"],
            agency=config["BOLETO_AGENCY"], account=config["BOLETO_ACCOUNT"], carteira=config["BOLETO_CARTEIRA"],
            convenio=config["BOLETO_CONVENIO"], pix_key=config["PIX_KEY"],
            pix_merchant_name=config["PIX_MERCHANT_NAME"], pix_merchant_city=config["PIX_MERCHANT_CITY"],
            agency_dv=config.get("BOLETO_AGENCY_DV", ""), account_dv=config.get("BOLETO_ACCOUNT_DV", ""),
            variacao=config.get("BOLETO_VARIACAO", ""),
            review=bool(config.get("BILLING_REVIEW", False)),
            review_lead_days=int(config.get("BILLING_REVIEW_LEAD_DAYS", 3)),
            reseller_municipal_registration=config.get("RESELLER_MUNICIPAL_REGISTRATION", ""),
            reseller_city_code=config.get("RESELLER_CITY_CODE") or "3550308",
            fiscal_series=(config.get("PAULISTANA_RPS_SERIES") if config.get("FISCAL_BACKEND") == "nfse_sao_paulo"
                           else config.get("NFSE_SERIES")) or "1",
        )
