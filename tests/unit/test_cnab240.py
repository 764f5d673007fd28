"""billing/cnab240.py: the remessa byte for byte against the spec's example, per-bank headers, the retorno's
events from the spec's example and vectors (V1–V3), and every refusal with its line number."""

import ast
import dataclasses
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from portal.billing import cnab240
from portal.billing.boleto import bradesco_nosso_numero_dv
from portal.billing.cnab240 import Account, CnabError, Movement, parse_retorno, remessa

EXAMPLE = Path(__file__).resolve().parents[3] / "shared" / "specs" / "examples" / "itau-remessa-1-boleto.rem"
if not EXAMPLE.exists():  # a worktree one level deeper (/work/wt/<name>)
    EXAMPLE = Path("/work/shared/specs/examples/itau-remessa-1-boleto.rem")

ITAU = Account(bank="341", agencia="1248", conta="02124", dac="6", cnpj="11.222.333/0001-81",
               name="Empresa Exemplo Ltda", carteira="109")
BB = Account(bank="001", agencia="3286", agencia_dv="0", conta="75367", conta_dv="9", cnpj="11222333000181",
             name="Empresa Exemplo Ltda", carteira="17", convenio="3294860", variacao="019")
BRADESCO = Account(bank="237", agencia="1234", agencia_dv="5", conta="7654321", conta_dv="0", cnpj="11222333000181",
                   name="Empresa Exemplo Ltda", carteira="09", convenio="4567890")

# The example's boleto; address written the way a person types it (punctuation and accents are dropped).
BOLETO = Movement(
    kind=cnab240.ENTRADA, nosso_numero="00010152", seu_numero="FAT0001234", due=date(2029, 5, 21),
    amount_cents=675787, issued=date(2029, 4, 20), payer_document="12.345.678/0001-95",
    payer_name="Cliente Exemplo Comércio Ltda", address="Av. Paulista, 1000 cj 101", neighborhood="Bela Vista",
    city="São Paulo", uf="SP", cep="01310-100", company_ref="PORTAL-INV-000123", especie="DS",
    juros_per_day_cents=225, multa_percent=200,
)
AT = datetime(2029, 4, 20, 9, 30, tzinfo=ZoneInfo("America/Sao_Paulo"))  # written as wall-clock time


def _lines(data: bytes) -> list[str]:
    assert data.endswith(b"\r\n")
    lines = data.decode("ascii").split("\r\n")[:-1]
    assert all(len(line) == 240 and "\n" not in line and "\r" not in line for line in lines)
    return lines


# --- remessa -----------------------------------------------------------------------------------------------


def test_the_example_itau_remessa_byte_for_byte():
    assert remessa(ITAU, [BOLETO], nsa=1, generated_at=AT) == EXAMPLE.read_bytes()


def test_same_input_same_bytes():
    assert remessa(ITAU, [BOLETO, BOLETO], nsa=7, generated_at=AT) == remessa(
        ITAU, [BOLETO, BOLETO], nsa=7, generated_at=AT
    )


def test_transliteration():
    assert cnab240.transliterate("  Ação  Çarmo—ltda. ") == "ACAO CARMO LTDA"
    assert cnab240.transliterate("São João d'Aliança/GO") == "SAO JOAO D ALIANCA/GO"


@pytest.mark.parametrize("account", [ITAU, BB, BRADESCO], ids=["341", "001", "237"])
def test_trailers_count_records_and_sum_values(account):
    second = dataclasses.replace(BOLETO, nosso_numero="00010153", amount_cents=100, multa_percent=0)
    baixa = dataclasses.replace(BOLETO, kind=cnab240.BAIXA, nosso_numero="00010154", amount_cents=5)
    lines = _lines(remessa(account, [BOLETO, second, baixa], nsa=12, generated_at=AT))
    # header, lote header, P Q R, P Q, P Q, lote trailer, file trailer
    assert [line[7] + (line[13] if line[7] == "3" else "") for line in lines] == [
        "0", "1", "3P", "3Q", "3R", "3P", "3Q", "3P", "3Q", "5", "9"]
    assert [line[8:13] for line in lines[2:9]] == [f"{n:05d}" for n in range(1, 8)]
    assert [line[15:17] for line in lines[2:9]] == ["01"] * 5 + ["02"] * 2
    lote_trailer, file_trailer = lines[-2], lines[-1]
    assert lote_trailer[17:23] == "000009"
    if account is BB:
        assert lote_trailer[23:123] == "0" * 100  # BB: zeros [B]
    else:
        assert lote_trailer[23:29] == "000003" and lote_trailer[29:46] == f"{675787 + 100 + 5:017d}"
    assert file_trailer[3:8] == "99999" and file_trailer[17:23] == "000001" and file_trailer[23:29] == "000011"


def test_per_bank_headers():
    itau, bb, bradesco = (_lines(remessa(a, [BOLETO if a is ITAU else _for(a)], nsa=3, generated_at=AT))
                          for a in (ITAU, BB, BRADESCO))
    # layouts (file 164–166, lote 14–16)
    assert (itau[0][163:166], itau[1][13:16]) == ("040", "030")
    assert (bb[0][163:166], bb[1][13:16]) == ("084", "043")
    assert (bradesco[0][163:166], bradesco[1][13:16]) == ("084", "042")
    # header 33–52
    assert itau[0][32:52] == " " * 20
    assert bb[0][32:52] == "003294860" + "0014" + "17" + "019" + "  "
    assert bradesco[0][32:52] == "4567890".rjust(20, "0")
    # agência / conta: Itaú's own, then generic
    assert itau[0][52:72] == "01248 000000002124 6"
    assert bb[0][52:72] == "03286" + "0" + "000000075367" + "9" + " "
    assert bradesco[0][52:72] == "01234" + "5" + "000007654321" + "0" + " "
    for f in (itau, bb, bradesco):  # remessa, NSA in the file and lote headers
        assert (f[0][142], f[0][157:163], f[1][183:191]) == ("1", "000003", "00000003")
    # nosso número, P 38–57
    assert itau[2][37:57] == "109000101527        "
    assert bb[2][37:57] == "32948600000000196   "
    assert bradesco[2][37:57] == "009" + "00000" + "00000000196" + bradesco_nosso_numero_dv("09", "00000000196")
    assert (bb[2][57], bradesco[2][57]) == ("7", "1")
    # espécie DS: Itaú 08, C015 04; juros: Itaú 0, the others 1 (valor por dia)
    assert (itau[2][106:108], bb[2][106:108], bradesco[2][106:108]) == ("08", "04", "04")
    assert (itau[2][117], bb[2][117], bradesco[2][117]) == ("0", "1", "1")
    # payer name: Itaú X30, BB 37 read, Bradesco X40
    long_name = _lines(remessa(BRADESCO, [_for(BRADESCO, payer_name="N" * 50)], nsa=1, generated_at=AT))
    assert long_name[3][33:73] == "N" * 40


def _for(account: Account, **changes) -> Movement:
    nn = {"001": "0000000196", "237": "00000000196"}[account.bank]
    return dataclasses.replace(BOLETO, nosso_numero=nn, **changes)


def test_alphanumeric_cnpj_payer_right_aligned_zero_padded():
    lines = _lines(remessa(ITAU, [dataclasses.replace(BOLETO, payer_document="12.ABC.345/01DE-35")], nsa=1,
                           generated_at=AT))
    assert lines[3][17:33] == "2012ABC34501DE35"


def test_cpf_payer():
    lines = _lines(remessa(ITAU, [dataclasses.replace(BOLETO, payer_document="123.456.789-09")], nsa=1,
                           generated_at=AT))
    assert lines[3][17:33] == "1000012345678909"


def test_no_multa_no_r_and_no_juros_is_isento():
    lines = _lines(remessa(BRADESCO, [_for(BRADESCO, multa_percent=0, juros_per_day_cents=0)], nsa=1,
                           generated_at=AT))
    assert [line[13] for line in lines[2:4]] == ["P", "Q"] and lines[4][7] == "5"
    assert lines[2][117:141] == "3" + "0" * 8 + "0" * 15


def test_alteracao_de_vencimento_carries_the_new_date():
    lines = _lines(remessa(ITAU, [dataclasses.replace(BOLETO, kind=cnab240.VENCIMENTO, due=date(2029, 6, 5))],
                           nsa=2, generated_at=AT))
    assert lines[2][15:17] == "06" and lines[2][77:85] == "05062029"
    assert [line[13] for line in lines[2:4]] == ["P", "Q"]  # R travels only with an entrada


@pytest.mark.parametrize("change", [
    {"kind": "protesto"},
    {"nosso_numero": "123456789"},
    {"payer_document": "11.111.111/1111-11"},
    {"cep": "0131010"},
    {"especie": "XX"},
])
def test_bad_movements_are_refused(change):
    with pytest.raises(ValueError):
        remessa(ITAU, [dataclasses.replace(BOLETO, **change)], nsa=1, generated_at=AT)


def test_unknown_bank_refused_in_remessa():
    with pytest.raises(ValueError):
        remessa(dataclasses.replace(ITAU, bank="104"), [BOLETO], nsa=1, generated_at=AT)


# --- retorno -----------------------------------------------------------------------------------------------

# The spec's example retorno (Itaú, 1 liquidação), CRLF.
EXAMPLE_RETORNO = "\r\n".join([
    "34100000         211222333000181                    01248 000000002124 6EMPRESA EXEMPLO LTDA          BANCO ITAU S.A.                         22905202906150000000704000000                                                      000            ",  # noqa: E501
    "34100011T0100030 2011222333000181                    01248 000000002124 6EMPRESA EXEMPLO LTDA                                                                                          000000072905202929052029                                 ",  # noqa: E501
    "3410001300001T 0601248000000000212406109000101527        0FAT0001234     21052029000000000675787000027313PORTAL-INV-000123        000000000000000000CLIENTE EXEMPLO COMERCIO LTDA           000000000000000000000000000000000CK                 ",  # noqa: E501
    "3410001300002U 060000000000150910000000000000000000000000000000000000000000000000000006908780000000006908780000000000000000000000000000002805202929052029000000000000000000000000000                              00000000000000000000000       ",  # noqa: E501
    "34100015         00000400000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000MT29/05S                                                                                                                     ",  # noqa: E501
    "34199999         000001000006000000                                                                                                                                                                                                             ",  # noqa: E501
]).encode("ascii") + b"\r\n"  # fmt: skip


def test_the_example_itau_retorno():
    ret = parse_retorno(EXAMPLE_RETORNO)
    assert (ret.bank, ret.nsa, ret.generated_on, ret.company_document) == ("341", 7, date(2029, 5, 29),
                                                                          "11222333000181")
    (event,) = ret.events
    assert event.line_numbers == (3, 4)
    assert (event.code, event.kind) == ("06", cnab240.PAID)
    assert (event.nosso_numero, event.nosso_numero_field.strip()) == ("00010152", "109000101527")
    assert (event.document, event.company_ref, event.due) == ("FAT0001234", "PORTAL-INV-000123", date(2029, 5, 21))
    assert (event.face_value_cents, event.paid_cents, event.net_credit_cents) == (675787, 690878, 690878)
    assert (event.charges_cents, event.discount_cents, event.fee_cents) == (15091, 0, 0)
    assert (event.occurred_on, event.credited_on, event.channel) == (date(2029, 5, 28), date(2029, 5, 29), "CK")


def test_lf_is_accepted_too():
    assert parse_retorno(EXAMPLE_RETORNO.replace(b"\r\n", b"\n")) == parse_retorno(EXAMPLE_RETORNO)


def _wrap(bank: str, details: list[str]) -> bytes:
    """A retorno of one lote around `details`, built from the spec's positions."""
    header = bank + "00000" + " " * 9 + "2" + "11222333000181" + " " * 110 + "2" + "29052029" + "120000" + "000009"
    header = header.ljust(240)
    lote = (bank + "00011T0100030 2011222333000181").ljust(240)
    trailer = (bank + "00015" + " " * 9 + f"{len(details) + 2:06d}").ljust(240, "0")
    final = (bank + "99999" + " " * 9 + "000001" + f"{len(details) + 4:06d}" + "000000").ljust(240)
    return "\r\n".join([header, lote, *details, trailer, final]).encode("ascii") + b"\r\n"


# V1: autogeral/CNAB LineCnabRegistroSegmento{T,U}RetornoTest (linha05), renumbered 1/2.
V1_T = "3410001300001T 0600278000000009365700109000262701        00010209705     13072023000000000111370341027313                         000000000000000000JOSE APARECIDO DE JESUS AUTO P          000000000000000000000000000000000CK                 "  # noqa: E501
V1_U = "3410001300002U 060000000000013380000000000000000000000000000000000000000000000000000001127080000000001127080000000000000000000000000000001807202319072023000000000000000000000000000                              00000000000000000000000       "  # noqa: E501
# V2: Trust-Code/python-cnab tests/arquivos/cobranca.itau.ret lines 3–4.
V2_T = "3410001300001T 0204459000000001760006109000000050        09999999996     01072012000000000020000000001255                         000000000000000000SERGIO OLIVEIRA CAMPOS                  000000000000000000000035000000000                   "  # noqa: E501
V2_U = "3410001300002U 020000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000507201200000000000000000000000000000000000                              00000000000000000000000       "  # noqa: E501
# V3: eduardokum/laravel-boleto tests/Retorno/files/cnab240/banco_brasil.ret lines 3–4 (that file's own lote
# header is 241 characters long, so the pair is wrapped in a header and trailers built here).
V3_T = "0010001300001T 060032860000000075367 32948600000000196   1               23032011000000000004000237009880                         0900000000000000000000000000000000000000000000000000000   000000000000000000000050000        180273294860     "  # noqa: E501
V3_U = "0010001300002U 060000000000000000000000000000000000000000000000000000000000000000000000040000000000000035000000000000000000000000000000002103201123032011            000000000000000                              000                           "  # noqa: E501


def test_vector_v1_itau_liquidacao():
    (event,) = parse_retorno(_wrap("341", [V1_T, V1_U])).events
    assert (event.code, event.kind, event.nosso_numero) == ("06", cnab240.PAID, "00026270")
    assert event.nosso_numero_field.strip() == "109000262701"  # 109/00026270-1
    assert (event.paid_cents, event.face_value_cents, event.charges_cents) == (112708, 111370, 1338)
    assert (event.occurred_on, event.credited_on, event.channel) == (date(2023, 7, 18), date(2023, 7, 19), "CK")


def test_vector_v2_itau_entrada_confirmada():
    (event,) = parse_retorno(_wrap("341", [V2_T, V2_U])).events
    assert (event.code, event.kind, event.nosso_numero) == ("02", cnab240.CONFIRMED, "00000005")
    assert event.nosso_numero_field.strip() == "109000000050"  # 109/00000005-0
    assert (event.paid_cents, event.credited_on, event.face_value_cents, event.fee_cents) == (0, None, 20000, 350)
    assert event.occurred_on == date(2012, 7, 5)


def test_vector_v3_banco_do_brasil_liquidacao():
    (event,) = parse_retorno(_wrap("001", [V3_T, V3_U])).events
    assert event.nosso_numero_field.strip() == "32948600000000196" and event.nosso_numero == "0000000196"
    assert (event.code, event.kind, event.paid_cents, event.net_credit_cents) == ("06", cnab240.PAID, 4000, 3500)
    assert (event.fee_cents, event.receiving_bank, event.credited_on) == (500, "237", date(2011, 3, 23))


def test_round_trip_rejected_entry_with_reasons():
    t = list(V2_T.replace("T 02", "T 03", 1))
    t[213:223] = "0848      "
    u = V2_U.replace("U 02", "U 03", 1)
    (event,) = parse_retorno(_wrap("237", ["237" + "".join(t)[3:], "237" + u[3:]])).events
    assert event.kind == cnab240.REJECTED
    assert event.reasons == (("08", "Nosso número inválido"), ("48", "CEP inválido"))


def test_itau_17_is_a_rejected_change_not_a_payment():
    t, u = V2_T.replace("T 02", "T 17", 1), V2_U.replace("U 02", "U 17", 1)
    (event,) = parse_retorno(_wrap("341", [t, u])).events
    assert event.kind == cnab240.OTHER and "rejeitada" in event.meaning


# --- refusals ----------------------------------------------------------------------------------------------


def _refusal(data: bytes) -> CnabError:
    with pytest.raises(CnabError) as info:
        parse_retorno(data)
    return info.value


def _replace_line(data: bytes, number: int, line: str) -> bytes:
    lines = data.split(b"\r\n")
    lines[number - 1] = line.encode("ascii")
    return b"\r\n".join(lines)


def test_short_line():
    error = _refusal(_replace_line(EXAMPLE_RETORNO, 4, V1_U[:239]))
    assert error.line_number == 4 and "239 caracteres" in error.message


def test_bad_lote_trailer_count():
    lines = EXAMPLE_RETORNO.decode().split("\r\n")
    error = _refusal(_replace_line(EXAMPLE_RETORNO, 5, lines[4][:17] + "000005" + lines[4][23:]))
    assert error.line_number == 5 and "5 registros" in error.message


def test_bad_file_trailer_count():
    lines = EXAMPLE_RETORNO.decode().split("\r\n")
    error = _refusal(_replace_line(EXAMPLE_RETORNO, 6, lines[5][:23] + "000009" + lines[5][29:]))
    assert error.line_number == 6 and "9 registros" in error.message


def test_unknown_segment():
    error = _refusal(_replace_line(EXAMPLE_RETORNO, 4, V1_U[:13] + "Y" + V1_U[14:]))
    assert error.line_number == 4 and "segmento 'Y'" in error.message


def test_wrong_bank_on_a_line():
    error = _refusal(_replace_line(EXAMPLE_RETORNO, 3, "237" + EXAMPLE_RETORNO.decode().split("\r\n")[2][3:]))
    assert error.line_number == 3 and "237" in error.message


def test_unknown_bank():
    error = _refusal(_wrap("104", []))
    assert error.line_number == 1 and "104" in error.message


def test_a_remessa_is_not_a_retorno():
    error = _refusal(EXAMPLE.read_bytes())
    assert error.line_number == 1 and "não é um arquivo de retorno" in error.message


def test_missing_file_trailer():
    error = _refusal(EXAMPLE_RETORNO.rsplit(b"\r\n", 2)[0] + b"\r\n")
    assert error.line_number == 5 and "trailer de arquivo" in error.message


def test_u_without_t_and_bad_sequence():
    error = _refusal(_wrap("341", [V1_U.replace("00002U", "00001U")]))
    assert error.line_number == 3 and "sem segmento T" in error.message
    error = _refusal(_wrap("341", [V1_T, V1_U.replace("00002U", "00003U")]))
    assert error.line_number == 4 and "sequencial" in error.message


def test_bad_date():
    error = _refusal(_wrap("341", [V1_T, V1_U.replace("18072023", "32072023")]))
    assert error.line_number == 4 and "data" in error.message


def test_empty_and_non_ascii():
    assert _refusal(b"").line_number == 0
    assert _refusal(EXAMPLE_RETORNO.replace(b"CLIENTE", "CLIENTÉ".encode())).line_number == 3


# --- purity ------------------------------------------------------------------------------------------------


def test_the_module_is_pure():
    tree = ast.parse(Path(cnab240.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported <= {"string", "unicodedata", "dataclasses", "datetime", "portal.billing.boleto", "portal.shared",
                        "portal.shared.arguments"}


# --- the bank's side: retorno writer, remessa reader, the beneficiary check ------------------------------------

_NN = {"341": "00010152", "001": "0000012345", "237": "00000012345"}


def _events(account: Account) -> list[cnab240.RetornoEvent]:
    nn = _NN[account.bank]
    return [
        cnab240.RetornoEvent(code="02", nosso_numero=nn, seu_numero="FAT0001234", company_ref="42",
                             due=date(2029, 5, 21), face_value_cents=675787, payer_document="12.345.678/0001-95",
                             payer_name="Cliente Exemplo"),
        cnab240.RetornoEvent(code="06", nosso_numero=nn, due=date(2029, 5, 21), face_value_cents=675787,
                             paid_cents=690878, charges_cents=15091, fee_cents=250, occurred_on=date(2029, 5, 28),
                             credited_on=date(2029, 5, 29), channel="CK"),
        cnab240.RetornoEvent(code="03", nosso_numero="1", face_value_cents=1000, reasons=("08", "48")),
    ]


@pytest.mark.parametrize("account", [ITAU, BB, BRADESCO], ids=["itau", "bb", "bradesco"])
def test_retorno_round_trip(account):
    data = cnab240.retorno(account, _events(account), nsa=12, generated_at=AT)
    lines = _lines(data)
    assert len(lines) == 2 + 6 + 2
    assert lines[0][142] == "2" and lines[1][8] == "T" and lines[0][:3] == account.bank
    assert lines[-2][17:23] == "000008" and lines[-2][23:29] == "000003"  # records; titles in cobrança simples
    assert int(lines[-2][29:46]) == 675787 * 2 + 1000  # their face value
    assert lines[-1][17:29] == "000001000010"
    ret = parse_retorno(data, account)
    assert (ret.bank, ret.nsa, ret.generated_on, ret.company_document) == (account.bank, 12, date(2029, 4, 20),
                                                                          "11222333000181")
    confirmed, paid, rejected = ret.events
    assert (confirmed.code, confirmed.kind, confirmed.nosso_numero) == ("02", cnab240.CONFIRMED, _NN[account.bank])
    assert (confirmed.company_ref, confirmed.document, confirmed.due) == ("42", "FAT0001234", date(2029, 5, 21))
    assert (paid.kind, paid.paid_cents, paid.net_credit_cents, paid.fee_cents, paid.charges_cents) == (
        cnab240.PAID, 690878, 690628, 250, 15091)
    assert (paid.occurred_on, paid.credited_on, paid.line_numbers) == (date(2029, 5, 28), date(2029, 5, 29), (5, 6))
    assert rejected.kind == cnab240.REJECTED and [code for code, _ in rejected.reasons] == ["08", "48"]
    assert paid.channel == ("CK" if account.bank == "341" else "")


def test_the_written_itau_retorno_matches_the_spec_example_where_it_can():
    """The example retorno's fields (built from [T] and [A]) come out of the writer at the same positions."""
    event = cnab240.RetornoEvent(code="06", nosso_numero="00010152", seu_numero="FAT0001234",
                                 company_ref="PORTAL-INV-000123", due=date(2029, 5, 21), face_value_cents=675787,
                                 paid_cents=690878, net_credit_cents=690878, charges_cents=15091,
                                 occurred_on=date(2029, 5, 28), credited_on=date(2029, 5, 29), channel="CK",
                                 payer_name="Cliente Exemplo Comércio Ltda", receiving_bank="000",
                                 receiving_agency="027313")
    written = _lines(cnab240.retorno(ITAU, [event], nsa=7, generated_at=AT))
    example = EXAMPLE_RETORNO.decode("ascii").split("\r\n")
    assert written[2] == example[2]
    assert written[3] == example[3]
    assert written[0][:102] == example[0][:102] and written[1][:103] == example[1][:103]


def test_the_retorno_writer_refuses_bad_events():
    with pytest.raises(ValueError, match="two characters"):
        cnab240.retorno(ITAU, [cnab240.RetornoEvent(code="03", nosso_numero="1", reasons=("123",))], nsa=1,
                        generated_at=AT)
    with pytest.raises(ValueError, match="at most 4"):
        cnab240.retorno(ITAU, [cnab240.RetornoEvent(code="03", nosso_numero="1", reasons=("01",) * 5)], nsa=1,
                        generated_at=AT)
    with pytest.raises(ValueError, match="2 digits"):
        cnab240.retorno(ITAU, [cnab240.RetornoEvent(code="6", nosso_numero="1")], nsa=1, generated_at=AT)


@pytest.mark.parametrize("account", [ITAU, BB, BRADESCO], ids=["itau", "bb", "bradesco"])
def test_the_bank_reads_a_remessa_back(account):
    entrada = dataclasses.replace(BOLETO, nosso_numero=_NN[account.bank])
    baixa = dataclasses.replace(BOLETO, kind=cnab240.BAIXA, nosso_numero="7", multa_percent=0,
                                payer_document="123.456.789-09")
    parsed = cnab240.parse_remessa(remessa(account, [entrada, baixa], nsa=5, generated_at=AT))
    assert (parsed.nsa, parsed.generated_on) == (5, date(2029, 4, 20))
    assert (parsed.account.bank, parsed.account.cnpj) == (account.bank, "11222333000181")
    first, second = parsed.entries
    assert (first.code, first.nosso_numero, first.seu_numero, first.due) == (
        "01", _NN[account.bank], "FAT0001234", date(2029, 5, 21))
    assert (first.amount_cents, first.juros_per_day_cents, first.multa_percent) == (675787, 225, 200)
    assert (first.company_ref, first.payer_document, first.line_number) == ("PORTAL-INV-000123", "12345678000195", 3)
    assert (second.code, second.nosso_numero.lstrip("0"), second.payer_document) == ("02", "7", "12345678909")
    # The account read from the header writes the same beneficiary fields back in a retorno.
    ours = _lines(cnab240.retorno(account, [], nsa=5, generated_at=AT))
    theirs = _lines(cnab240.retorno(parsed.account, [], nsa=5, generated_at=AT))
    assert ours[0][:72] == theirs[0][:72] and ours[1][:73] == theirs[1][:73]


def test_a_retorno_is_not_a_remessa():
    with pytest.raises(CnabError, match="não é um arquivo de remessa"):
        cnab240.parse_remessa(EXAMPLE_RETORNO)


@pytest.mark.parametrize(("account", "other", "line", "words"), [
    (ITAU, dataclasses.replace(ITAU, cnpj="11.444.777/0001-61"), 1, "CNPJ da empresa no arquivo (11222333000181)"),
    (ITAU, dataclasses.replace(ITAU, conta="02125"), 1, "agência/conta do arquivo (1248/02124)"),
    (BRADESCO, dataclasses.replace(BRADESCO, agencia="4321"), 1, "agência/conta do arquivo (01234/000007654321)"),
    (BB, dataclasses.replace(BB, convenio="1234567"), 1, "convênio do arquivo (003294860)"),
    (BB, dataclasses.replace(BRADESCO), 1, "banco 001"),
], ids=["cnpj", "itau-conta", "bradesco-agencia", "bb-convenio", "bank"])
def test_a_retorno_for_another_beneficiary_is_refused(account, other, line, words):
    data = cnab240.retorno(account, _events(account), nsa=3, generated_at=AT)
    with pytest.raises(CnabError) as info:
        parse_retorno(data, other)
    assert info.value.line_number == line and words in info.value.message
    assert parse_retorno(data, account).events  # its own account reads it


def test_a_lote_header_for_another_beneficiary_is_refused():
    data = cnab240.retorno(ITAU, _events(ITAU), nsa=3, generated_at=AT)
    lines = data.split(b"\r\n")
    lines[1] = lines[1][:54] + b"9999" + lines[1][58:]  # the lote header's agência (55–58)
    with pytest.raises(CnabError) as info:
        parse_retorno(b"\r\n".join(lines), ITAU)
    assert info.value.line_number == 2 and "(9999/02124)" in info.value.message


@pytest.mark.parametrize(("code", "reason", "meaning"), [
    ("03", "14", "Nosso número já registrado no cadastro do banco ou fora da faixa"),
    ("03", "95", "CEP do pagador não numérico ou inválido"),
    ("15", "05", "Baixa de título já baixado ou liquidado"),
    ("16", "21", "Título não registrado no sistema"),
    ("17", "43", "Alteração bloqueada: vencimento já alterado"),
])
def test_itau_rejection_reasons_from_its_own_tables(code, reason, meaning):
    event = cnab240.RetornoEvent(code=code, nosso_numero="00000005", reasons=(reason, "ZZ"))
    (parsed,) = parse_retorno(cnab240.retorno(ITAU, [event], nsa=1, generated_at=AT)).events
    assert parsed.reasons == ((reason, meaning), ("ZZ", ""))


def test_itau_reasons_depend_on_the_occurrence():
    event = cnab240.RetornoEvent(code="03", nosso_numero="00000005", reasons=("05",))
    (parsed,) = parse_retorno(cnab240.retorno(ITAU, [event], nsa=1, generated_at=AT)).events
    assert parsed.reasons == (("05", "Prazo da operação menor que o mínimo ou maior que o máximo"),)
