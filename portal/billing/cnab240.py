"""CNAB 240 cobrança (specs/cnab240.md): the remessa that registers boletos and the retorno that reports them. Pure.

Banks: Itaú 341, Banco do Brasil 001, Bradesco 237. `remessa()` writes one file (one lote) of movements;
`parse_retorno()` checks a bank's return file line by line (and, given the configured `Account`, that its headers
name that beneficiary) and reads its T+U events. The bank's side, for the simulator and tests: `retorno()` writes
a return file `parse_retorno()` reads back, `parse_remessa()` reads a remessa. Money is int centavos.

Choices where the spec says UNCONFIRMED or leaves a field open (sources as named in specs/cnab240.md):
- Line end: CRLF, as in Trust-Code/python-cnab's Itaú files [T] and the example remessa; a retorno with LF
  (laravel-boleto's banco_brasil.ret [L2]) or CRLF is read alike.
- Alphanumeric CNPJ (payer or beneficiary): the 14 uppercase characters as they are, right-aligned and
  zero-padded in the N15 field, tipo 2 (BoletoNet/BoletoNetCore#401, starkbank/febraban-python#41). To be
  confirmed with each bank at homologação.
- Bradesco header 33–52 / lote 34–53: the convênio (código do beneficiário) zero-padded to 20, as [L] Bradesco.
- Banco do Brasil: layout 084/043 and header 33–52 = convênio 9 + `0014` + carteira 2 + variação 3, as [L] Bb;
  P 58 = `7` (carteira 17 simples, spec table); P 240 = `1` (no partial payment, spec's generic table); its
  trailer de lote writes zeros in 24–123 ([B], per the spec). The NSA is written in the file header (158–163)
  and lote header (184–191) for every bank (FEBRABAN), where [L] Bb writes zeros.
- Generic P 58–62 (BB and Bradesco): `1` simples, `1` registrada, `1` tradicional, `2` cliente emite,
  `2` cliente distribui ([L] Bradesco); P 224–227: Bradesco `2` (não baixar) + `000`, BB `0` + `000` ([L]).
- Juros start and multa date: the day after the due date, as in the example remessa (derived from [I]).
  Juros is a value per day: Itaú code `0` ([I]), BB and Bradesco code `1` (C015 generic), `3` isento when zero.
- Segment R only for an entrada with multa (Itaú takes it only with P 01/31/49; one rule for all banks).
- Beneficiary names and payer names, addresses: uppercase ASCII without accents (`transliterate`), truncated.
- Retorno nosso número: the bank's own part, as `Movement.nosso_numero` takes it (Itaú 8 digits from T 41–48,
  BB the 10 digits after the 7-digit convênio, Bradesco 11 digits from T 46–56); the raw field is kept too.
- Retorno amounts: paid = U 78–92 for every bank ([L]; Itaú's manual calls both 78–92 and 93–107 "valor
  creditado"; BB's 93–107 is pago − tarifa).
- Retorno: any segment but T and U is refused (the three banks' cobrança retornos send only T+U here).
"""

# Pure by rule 1: no Flask, no database, no clock (the caller passes `generated_at`). Positions below are
# 1-based and inclusive, as in the manuals, so each field can be checked against the spec's tables.

import string
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from portal.billing.boleto import bradesco_nosso_numero_dv, itau_nosso_numero_dac
from portal.shared import cnpj
from portal.shared.arguments import require_date, require_int

__all__ = [
    "Account",
    "CnabError",
    "Event",
    "Movement",
    "RemessaEntry",
    "RemessaFile",
    "Retorno",
    "RetornoEvent",
    "parse_remessa",
    "parse_retorno",
    "remessa",
    "retorno",
    "transliterate",
]

LINE = 240
CRLF = b"\r\n"
ITAU, BB, BRADESCO = "341", "001", "237"
BANKS = {ITAU: "BANCO ITAU SA", BB: "BANCO DO BRASIL S.A.", BRADESCO: "BRADESCO"}
LAYOUT = {ITAU: ("040", "030"), BB: ("084", "043"), BRADESCO: ("084", "042")}

# Movement kinds → C004 code (the same in the three banks' remessa lists).
ENTRADA, BAIXA, VENCIMENTO = "entrada", "baixa", "alteracao_vencimento"
MOVEMENT_CODES = {ENTRADA: "01", BAIXA: "02", VENCIMENTO: "06"}

# Espécie: Itaú's own table, C015 for the others.
ESPECIES = {
    ITAU: {"DM": "01", "RC": "05", "DS": "08", "OUTROS": "99"},
    BB: {"DM": "02", "DS": "04", "RC": "17", "OUTROS": "99"},
    BRADESCO: {"DM": "02", "DS": "04", "RC": "17", "OUTROS": "99"},
}

# Event kinds the importer acts on.
CONFIRMED, REJECTED, PAID = "entrada_confirmada", "entrada_rejeitada", "liquidacao"
WRITTEN_OFF, OTHER = "baixa", "outra"

# C044 (FEBRABAN) and Itaú's own retorno codes: code → (kind, meaning).
_C044 = {
    "02": (CONFIRMED, "Entrada confirmada"),
    "03": (REJECTED, "Entrada rejeitada"),
    "06": (PAID, "Liquidação"),
    "09": (WRITTEN_OFF, "Baixa"),
    "12": (OTHER, "Confirmação de recebimento de instrução de abatimento"),
    "13": (OTHER, "Confirmação de recebimento de instrução de cancelamento de abatimento"),
    "14": (OTHER, "Vencimento alterado"),
    "17": (PAID, "Liquidação após baixa ou título não registrado"),
    "19": (OTHER, "Confirmação de recebimento de instrução de protesto"),
    "23": (OTHER, "Remessa a cartório"),
    "25": (WRITTEN_OFF, "Protestado e baixado"),
    "26": (OTHER, "Instrução rejeitada"),
    "27": (OTHER, "Confirmação do pedido de alteração de outros dados"),
    "28": (OTHER, "Débito de tarifas/custas"),
    "30": (OTHER, "Alteração de dados rejeitada"),
}
_ITAU = {
    "02": (CONFIRMED, "Entrada confirmada"),
    "03": (REJECTED, "Entrada rejeitada"),
    "04": (OTHER, "Alteração de dados – nova entrada ou alteração/exclusão de dados acatada"),
    "05": (OTHER, "Alteração de dados – baixa"),
    "06": (PAID, "Liquidação normal"),
    "08": (PAID, "Liquidação em cartório"),
    "09": (WRITTEN_OFF, "Baixa simples"),
    "10": (WRITTEN_OFF, "Baixa por ter sido liquidado"),
    "12": (OTHER, "Abatimento concedido"),
    "13": (OTHER, "Abatimento cancelado"),
    "14": (OTHER, "Vencimento alterado"),
    "15": (OTHER, "Baixa rejeitada"),
    "16": (OTHER, "Instrução rejeitada"),
    "17": (OTHER, "Alteração/exclusão de dados rejeitada"),
    "19": (OTHER, "Confirmação de recebimento de instrução de protesto"),
    "23": (OTHER, "Protesto enviado a cartório"),
    "32": (WRITTEN_OFF, "Baixa por ter sido protestado"),
}
OCCURRENCES = {ITAU: _ITAU, BB: _C044, BRADESCO: _C044}

# C047 motivos of rejections (02/03/26/30), FEBRABAN; BB adds 52.
REASONS = {
    "08": "Nosso número inválido",
    "09": "Nosso número duplicado",
    "16": "Data de vencimento inválida",
    "20": "Valor do título inválido",
    "21": "Espécie do título inválida",
    "26": "Código de juros de mora inválido",
    "27": "Valor/taxa de juros de mora inválido",
    "28": "Código do desconto inválido",
    "29": "Valor do desconto maior ou igual ao valor do título",
    "45": "Nome do pagador não informado",
    "46": "Tipo/número de inscrição do pagador inválidos",
    "47": "Endereço do pagador não informado",
    "48": "CEP inválido",
    "57": "Código da multa inválido",
    "58": "Data da multa inválida",
    "59": "Valor/percentual da multa inválido",
    "60": "Movimento para título não cadastrado",
    "63": "Entrada para título já cadastrado",
    "A4": "Pagador DDA",
}
_BB_REASONS = {**REASONS, "52": "Título já liquidado"}

# Itaú's own error tables (manual "Cobrança Itaú – CNAB 240", Jan/2017, nota 23), by the occurrence they come
# with: table 1 (03 entrada rejeitada), 2 (17 alteração rejeitada), 3 (16 instrução rejeitada), 4 (15 baixa
# rejeitada). Transcribed from the tables as listed in eduardokum/laravel-boleto@20961b5
# `src/Cnab/Retorno/Cnab240/Banco/Itau.php` ($rejeicoes), wording shortened (the manual's "campo" column dropped).
_ITAU_REASONS = {
    "03": {
        "03": "CEP inválido ou sem agência cobradora para ele",
        "04": "Sigla do estado inválida",
        "05": "Prazo da operação menor que o mínimo ou maior que o máximo",
        "08": "Nome do pagador não informado ou deslocado",
        "09": "Agência encerrada",
        "10": "Logradouro não informado ou deslocado",
        "11": "CEP não numérico",
        "12": "Nome do sacador avalista não informado ou deslocado",
        "13": "CEP incompatível com a sigla do estado",
        "14": "Nosso número já registrado no cadastro do banco ou fora da faixa",
        "15": "Nosso número em duplicidade no mesmo movimento",
        "18": "Data de entrada inválida para operar com esta carteira",
        "19": "Ocorrência inválida",
        "21": "Agência cobradora não aceita (carteira, estado ou cadastro da depositária)",
        "22": "Carteira não permitida (é preciso cadastrar faixa livre)",
        "27": "CNPJ do beneficiário inapto",
        "29": "Categoria da conta inválida",
        "31": "Conta sem permissão para protestar",
        "35": "IOF maior que 5%",
        "36": "Quantidade de moeda incompatível com o valor do título",
        "37": "CNPJ/CPF do pagador não numérico ou igual a zeros",
        "42": "Nosso número fora da faixa",
        "52": "Empresa não aceita banco correspondente",
        "53": "Empresa não aceita banco correspondente (cobrança mensagem)",
        "54": "Banco correspondente: vencimento inferior a 15 dias",
        "55": "CEP não pertence à depositária informada",
        "56": "Banco correspondente: vencimento superior a 180 dias da entrada",
        "57": "CEP só da depositária Banco do Brasil com vencimento inferior a 8 dias",
        "60": "Valor do abatimento inválido",
        "61": "Juros de mora maior que o permitido",
        "62": "Valor do desconto maior que o valor do título",
        "63": "Valor da importância por dia de desconto não permitido",
        "64": "Data de emissão do título inválida",
        "65": "Taxa inválida",
        "66": "Data de vencimento inválida ou fora do prazo da operação",
        "67": "Valor do título ou quantidade de moeda inválidos",
        "68": "Carteira inválida ou não cadastrada no intercâmbio da cobrança",
        "91": "DAC da agência/conta corrente inválido",
        "92": "DAC de agência/conta/carteira/nosso número inválido",
        "93": "Sigla do estado inválida",
        "94": "Sigla do estado incompatível com o CEP do pagador",
        "95": "CEP do pagador não numérico ou inválido",
        "96": "Endereço, nome ou cidade do pagador inválidos",
        "98": "Registro de mensagem sem flash cadastrado ou flash diferente do cadastrado",
    },
    "15": {
        "04": "Nosso número em duplicidade num mesmo movimento",
        "05": "Baixa de título já baixado ou liquidado",
        "06": "Baixa de título não registrado no sistema",
        "07": "Cobrança prazo curto: baixa de título não registrado no sistema",
        "08": "Baixa de título em floating",
    },
    "16": {
        "01": "Instrução/ocorrência não existente",
        "03": "Conta sem permissão para protestar",
        "06": "Nosso número igual a zeros",
        "09": "CNPJ/CPF do sacador avalista inválido",
        "14": "Registro em duplicidade",
        "15": "CNPJ/CPF informado sem nome do sacador avalista",
        "19": "Valor do abatimento maior que 90% do valor do título",
        "20": "Há sustação de protesto pendente para o título",
        "21": "Título não registrado no sistema",
        "22": "Título baixado ou liquidado",
        "23": "Instrução não aceita",
        "24": "Instrução incompatível: há instrução de protesto para o título",
        "25": "Instrução incompatível: não há instrução de protesto para o título",
        "26": "Instrução não aceita: a ordem de protesto já foi emitida ao cartório",
        "27": "Instrução não aceita: a ordem de protesto não foi emitida ao cartório",
        "28": "A mesma instrução já está cadastrada para o título",
        "29": "Valor líquido + abatimento diferente do valor do título registrado",
        "30": "Há instrução de não protestar ativa para o título",
        "31": "Uma ocorrência do pagador bloqueia a instrução",
        "32": "Depositária 9999 ou carteira que não aceita protesto",
        "33": "Vencimento igual ao registrado ou que torna o título vencido",
        "34": "Aviso de cobrança de título vencido antes do vencimento",
        "35": "Cancelamento de instrução inexistente",
        "36": "Título em alteração de controle (agência/conta/carteira/nosso número)",
        "37": "Instrução não permitida para a carteira",
        "40": "Não há instrução de negativação expressa para o título",
        "41": "Título já enviado para negativação expressa",
        "42": "Título com negativação expressa concluída",
        "43": "Prazo inválido para negativação (mínimo: 2 dias corridos após o vencimento)",
        "45": "Instrução incompatível para o mesmo título nesta data",
        "47": "Instrução não permitida: espécie inválida",
        "48": "Dados do pagador inválidos (CPF/CNPJ/nome)",
        "49": "Dados do endereço do pagador inválidos",
        "50": "Data de emissão do título inválida",
        "51": "Título com negativação expressa agendada",
    },
    "17": {
        "02": "Agência cobradora inválida ou com o mesmo conteúdo",
        "04": "Sigla do estado inválida",
        "05": "Data de vencimento inválida ou com o mesmo conteúdo",
        "06": "Valor do título com outra alteração simultânea",
        "08": "Nome do pagador com o mesmo conteúdo",
        "11": "CEP inválido",
        "12": "Número de inscrição do sacador avalista inválido",
        "13": "Seu número com o mesmo conteúdo",
        "21": "Agência cobradora não consta no cadastro de depositária ou em encerramento",
        "42": "Alteração inválida para título vencido",
        "43": "Alteração bloqueada: vencimento já alterado",
        "53": "Instrução com o mesmo conteúdo",
        "54": "Vencimento para bancos correspondentes inferior ao aceito pelo banco",
        "55": "Alterações iguais para o mesmo controle (agência/conta/carteira/nosso número)",
        "60": "Valor de IOF: alteração não permitida para carteiras de moeda variável",
        "61": "Título já baixado ou liquidado, ou inexistente no sistema",
        "66": "Alteração não permitida para carteiras de notas de seguros",
        "67": "Nome do sacador avalista inválido",
        "72": "Endereço do sacador avalista inválido",
        "73": "Bairro do sacador avalista inválido",
        "74": "Cidade do sacador avalista inválida",
        "75": "Sigla do estado do sacador avalista inválida",
        "76": "CEP do sacador avalista inválido",
        "81": "Alteração bloqueada: título com negativação expressa ou protesto",
    },
}


class CnabError(ValueError):
    """A file the portal refuses: the line (1-based; 0 = the whole file) and why, in Portuguese for finance."""

    def __init__(self, line_number: int, message: str):
        super().__init__(f"linha {line_number}: {message}" if line_number else message)
        self.line_number = line_number
        self.message = message


# --- inputs ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """The beneficiary's account at the bank.

    Itaú: agência 4, conta 5, `dac` (the DAC of agência+conta), carteira 3 (`109`).
    BB: agência 4 + DV, conta up to 12 + DV, convênio 7 (header: 9), carteira 2 (`17`), variação 3.
    Bradesco: agência + DV, conta + DV, carteira 2 (`09`), convênio = código do beneficiário.
    """

    bank: str
    agencia: str
    conta: str
    cnpj: str
    name: str
    carteira: str
    agencia_dv: str = ""
    conta_dv: str = ""
    dac: str = ""  # DV of agência/conta together (Itaú header 72, P 37)
    convenio: str = ""
    variacao: str = ""


@dataclass(frozen=True)
class Movement:
    """One boleto's movement. `nosso_numero` is the bank's own part: Itaú 8 digits, BB 10 (after the
    convênio), Bradesco 11. `multa_percent` is in hundredths of a percent (200 = 2,00 %)."""

    kind: str  # ENTRADA, BAIXA, VENCIMENTO
    nosso_numero: str
    seu_numero: str
    due: date
    amount_cents: int
    issued: date
    payer_document: str  # CNPJ (alphanumeric allowed) or CPF, with or without mask
    payer_name: str
    address: str
    neighborhood: str
    city: str
    uf: str
    cep: str
    company_ref: str = ""  # uso da empresa (P 196–220), echoed in T 106–130: our invoice id
    especie: str = "DS"
    juros_per_day_cents: int = 0
    multa_percent: int = 0


# --- outputs -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One T+U pair of a retorno."""

    line_numbers: tuple[int, int]
    code: str
    kind: str
    meaning: str
    nosso_numero: str
    nosso_numero_field: str  # T 38–57 as the bank wrote it
    document: str
    company_ref: str
    due: date | None
    face_value_cents: int
    paid_cents: int
    net_credit_cents: int
    charges_cents: int  # juros + multa + encargos
    discount_cents: int
    rebate_cents: int
    fee_cents: int
    occurred_on: date | None
    credited_on: date | None
    reasons: tuple[tuple[str, str], ...]  # (code, meaning or "")
    channel: str = ""  # Itaú T 222–223 (e.g. CK)
    receiving_bank: str = ""


@dataclass(frozen=True)
class Retorno:
    bank: str
    nsa: int
    generated_on: date
    company_document: str
    events: tuple[Event, ...] = field(default_factory=tuple)


# --- text helpers ------------------------------------------------------------------------------------------

# Letters, digits, blank, hyphen and slash: other punctuation becomes a blank (banks differ on which they take).
_ALLOWED = frozenset(string.ascii_uppercase + string.digits + " -/")


def transliterate(text: str) -> str:
    """Uppercase ASCII without accents (`Ç` → `C`, `ã` → `A`); other punctuation → blank; blanks collapsed."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    return " ".join("".join(c if c in _ALLOWED else " " for c in plain).split())


def _x(value: str, width: int) -> str:
    return transliterate(value)[:width].ljust(width)


def _n(value: int | str, width: int) -> str:
    text = str(value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"negative number in a CNAB field: {value}")
    elif not text.isascii() or not text.isalnum():
        raise ValueError(f"N field must be digits, got {value!r}")
    if len(text) > width:
        raise ValueError(f"{text!r} does not fit a {width}-digit field")
    return text.rjust(width, "0")


def _d(day: date | None) -> str:
    return "00000000" if day is None else day.strftime("%d%m%Y")


def _only_digits(name: str, value: str, max_len: int) -> str:
    if not isinstance(value, str) or not value or not all(c in string.digits for c in value) or len(value) > max_len:
        raise ValueError(f"{name} must be 1–{max_len} digits, got {value!r}")
    return value


def _document(value: str) -> tuple[str, str]:
    """(tipo, number): CPF 11 digits → 1, CNPJ 14 (alphanumeric allowed) → 2."""
    number = cnpj.compact(value)
    if len(number) == 11 and number.isdigit():
        return "1", number
    if len(number) == 14 and cnpj.is_valid(number):
        return "2", number
    raise ValueError(f"not a CPF nor a valid CNPJ: {value!r}")


class _Line:
    def __init__(self) -> None:
        self.chars = [" "] * LINE

    def put(self, start: int, end: int, text: str) -> "_Line":
        if len(text) != end - start + 1:
            raise AssertionError(f"field {start}–{end} got {len(text)} characters: {text!r}")
        self.chars[start - 1 : end] = text
        return self

    def text(self) -> str:
        return "".join(self.chars)


# --- remessa -----------------------------------------------------------------------------------------------


def _check_account(account: Account) -> None:
    if account.bank not in BANKS:
        raise ValueError(f"bank {account.bank!r} is not supported (341, 001, 237)")
    if account.bank == ITAU:
        _only_digits("agencia", account.agencia, 4)
        _only_digits("conta", account.conta, 5)
        _only_digits("dac", account.dac, 1)
        if len(account.agencia) != 4 or len(account.conta) != 5 or len(account.carteira) != 3:
            raise ValueError("Itaú: agência 4, conta 5 and carteira 3 digits")
    else:
        _only_digits("agencia", account.agencia, 5)
        _only_digits("conta", account.conta, 12)
        _only_digits("carteira", account.carteira, 3)
    if account.bank == BB and (len(account.convenio) != 7 or not account.convenio.isdigit()):
        raise ValueError("Banco do Brasil: convênio of 7 digits")
    if account.bank == BRADESCO:
        _only_digits("convenio", account.convenio, 20)


def _account_fields(account: Account, line: _Line, start: int) -> None:
    """agência/conta block starting at `start` (header 53, lote 54, P 18): 20 characters."""
    if account.bank == ITAU:
        line.put(start, start, "0").put(start + 1, start + 4, account.agencia).put(start + 5, start + 5, " ")
        line.put(start + 6, start + 12, "0000000").put(start + 13, start + 17, account.conta)
        line.put(start + 18, start + 18, " ").put(start + 19, start + 19, account.dac)
    else:
        line.put(start, start + 4, _n(account.agencia, 5)).put(start + 5, start + 5, _x(account.agencia_dv, 1))
        line.put(start + 6, start + 17, _n(account.conta, 12)).put(start + 18, start + 18, _x(account.conta_dv, 1))
        line.put(start + 19, start + 19, _x(account.dac, 1))


def _convenio_field(account: Account) -> str:
    if account.bank == BB:
        return _n(account.convenio, 9) + "0014" + _n(account.carteira, 2) + _n(account.variacao or "0", 3) + "  "
    if account.bank == BRADESCO:
        return _n(account.convenio, 20)
    return " " * 20


def _file_header(account: Account, nsa: int, at: datetime, direction: str = "1") -> str:
    """direction: `1` remessa, `2` retorno (header 143)."""
    tipo, number = _document(account.cnpj)
    line = _Line().put(1, 3, account.bank).put(4, 7, "0000").put(8, 8, "0")
    line.put(18, 18, tipo).put(19, 32, _n(number, 14)).put(33, 52, _convenio_field(account))
    _account_fields(account, line, 53)
    line.put(73, 102, _x(account.name, 30)).put(103, 132, _x(BANKS[account.bank], 30))
    line.put(143, 143, direction).put(144, 151, _d(at.date())).put(152, 157, at.strftime("%H%M%S"))
    line.put(158, 163, _n(nsa, 6)).put(164, 166, LAYOUT[account.bank][0])
    if account.bank == ITAU:
        line.put(167, 171, "00000").put(226, 228, "000")
    else:
        line.put(167, 171, "01600")
    return line.text()


def _lot_header(account: Account, nsa: int, at: datetime, operation: str = "R", credited: date | None = None) -> str:
    """operation: `R` remessa, `T` retorno (lote 9); `credited`: the retorno's data do crédito (200–207)."""
    tipo, number = _document(account.cnpj)
    line = _Line().put(1, 3, account.bank).put(4, 7, "0001").put(8, 8, "1").put(9, 9, operation).put(10, 11, "01")
    if account.bank == ITAU:
        line.put(12, 13, "00")
    line.put(14, 16, LAYOUT[account.bank][1]).put(18, 18, tipo).put(19, 33, _n(number, 15))
    line.put(34, 53, _convenio_field(account))
    _account_fields(account, line, 54)
    line.put(74, 103, _x(account.name, 30))
    line.put(184, 191, _n(nsa, 8)).put(192, 199, _d(at.date())).put(200, 207, _d(credited))
    return line.text()


def _nosso_numero_field(account: Account, nn: str) -> str:
    if account.bank == ITAU:
        _only_digits("nosso_numero", nn, 8)
        nn = nn.rjust(8, "0")
        dac = itau_nosso_numero_dac(account.agencia, account.conta, account.carteira, nn)
        return account.carteira + nn + dac + " " * 8
    if account.bank == BB:
        _only_digits("nosso_numero", nn, 10)
        return (account.convenio + nn.rjust(10, "0")).ljust(20)
    _only_digits("nosso_numero", nn, 11)
    nn = nn.rjust(11, "0")
    carteira = account.carteira.rjust(2, "0")[-2:]
    return _n(account.carteira, 3) + "00000" + nn + bradesco_nosso_numero_dv(carteira, nn)


def _detail(account: Account, seq: int, segment: str, code: str) -> _Line:
    line = _Line().put(1, 3, account.bank).put(4, 7, "0001").put(8, 8, "3")
    return line.put(9, 13, _n(seq, 5)).put(14, 14, segment).put(16, 17, code)


def _segment_p(account: Account, m: Movement, seq: int, code: str) -> str:
    bank = account.bank
    line = _detail(account, seq, "P", code)
    _account_fields(account, line, 18)
    line.put(38, 57, _nosso_numero_field(account, m.nosso_numero))
    if bank == ITAU:
        line.put(58, 62, "00000").put(63, 72, _x(m.seu_numero, 10))
    else:
        line.put(58, 62, ("7" if bank == BB else "1") + "1122").put(63, 77, _x(m.seu_numero, 15))
    line.put(78, 85, _d(m.due)).put(86, 100, _n(m.amount_cents, 15)).put(101, 106, "000000")
    if m.especie not in ESPECIES[bank]:
        raise ValueError(f"espécie {m.especie!r} is not one of {sorted(ESPECIES[bank])}")
    line.put(107, 108, ESPECIES[bank][m.especie]).put(109, 109, "N").put(110, 117, _d(m.issued))
    day_after = m.due + timedelta(days=1)
    if m.juros_per_day_cents:
        line.put(118, 118, "0" if bank == ITAU else "1").put(119, 126, _d(day_after))
    else:
        line.put(118, 118, "0" if bank == ITAU else "3").put(119, 126, _d(None))
    line.put(127, 141, _n(m.juros_per_day_cents, 15))
    line.put(142, 142, "0").put(143, 150, _d(None)).put(151, 195, "0" * 45)
    line.put(196, 220, _x(m.company_ref, 25)).put(221, 221, "3").put(222, 223, "00")
    if bank == ITAU:
        line.put(224, 227, "0000").put(228, 229, "00").put(230, 239, "0" * 10)
    else:
        line.put(224, 227, ("2" if bank == BRADESCO else "0") + "000").put(228, 229, "09").put(230, 239, "0" * 10)
        if bank == BB:
            line.put(240, 240, "1")
    return line.text()


def _segment_q(account: Account, m: Movement, seq: int, code: str) -> str:
    line = _detail(account, seq, "Q", code)
    tipo, number = _document(m.payer_document)
    line.put(18, 18, tipo).put(19, 33, _n(number, 15))
    name_width = {ITAU: 30, BB: 37}.get(account.bank, 40)
    line.put(34, 73, _x(m.payer_name, name_width).ljust(40))
    cep = "".join(c for c in m.cep if c in string.digits)
    if len(cep) != 8:
        raise ValueError(f"CEP must have 8 digits, got {m.cep!r}")
    line.put(74, 113, _x(m.address, 40)).put(114, 128, _x(m.neighborhood, 15))
    line.put(129, 136, cep).put(137, 151, _x(m.city, 15)).put(152, 153, _x(m.uf, 2))
    line.put(154, 169, "0" * 16).put(210, 212, "000")
    return line.text()


def _segment_r(account: Account, m: Movement, seq: int, code: str) -> str:
    line = _detail(account, seq, "R", code)
    line.put(18, 65, "0" + "0" * 8 + "0" * 15 + "0" + "0" * 8 + "0" * 15)
    line.put(66, 66, "2").put(67, 74, _d(m.due + timedelta(days=1))).put(75, 89, _n(m.multa_percent, 15))
    line.put(200, 215, "0" * 16).put(217, 228, "0" * 12).put(231, 231, "2" if account.bank == BRADESCO else "0")
    return line.text()


def remessa(account: Account, movements: list[Movement], *, nsa: int, generated_at: datetime) -> bytes:
    """The remessa file: header de arquivo, one lote (header, P+Q(+R) per movement, trailer), trailer de arquivo.

    Deterministic: the same arguments give the same bytes. Lines of 240 characters ending in CRLF.
    """
    if not isinstance(account, Account):
        raise TypeError(f"account must be an Account, got {type(account).__name__}")
    require_int("nsa", nsa)
    if not 1 <= nsa <= 999_999:
        raise ValueError(f"nsa must be 1..999999, got {nsa}")
    if not isinstance(generated_at, datetime):
        raise TypeError(f"generated_at must be a datetime, got {type(generated_at).__name__}")
    _check_account(account)
    details: list[str] = []
    total = 0
    for m in movements:
        if m.kind not in MOVEMENT_CODES:
            raise ValueError(f"movement kind {m.kind!r} is not one of {sorted(MOVEMENT_CODES)}")
        require_date("due", m.due)
        require_date("issued", m.issued)
        for name in ("amount_cents", "juros_per_day_cents", "multa_percent"):
            require_int(name, getattr(m, name))
        code = MOVEMENT_CODES[m.kind]
        details.append(_segment_p(account, m, len(details) + 1, code))
        details.append(_segment_q(account, m, len(details) + 1, code))
        if m.kind == ENTRADA and m.multa_percent:
            details.append(_segment_r(account, m, len(details) + 1, code))
        total += m.amount_cents
    trailer = _Line().put(1, 3, account.bank).put(4, 7, "0001").put(8, 8, "5").put(18, 23, _n(len(details) + 2, 6))
    if account.bank == BB:
        trailer.put(24, 123, "0" * 100)
    else:
        trailer.put(24, 29, _n(len(movements), 6)).put(30, 46, _n(total, 17)).put(47, 123, "0" * 77)
    lines = [_file_header(account, nsa, generated_at), _lot_header(account, nsa, generated_at), *details,
             trailer.text()]
    file_trailer = _Line().put(1, 3, account.bank).put(4, 7, "9999").put(8, 8, "9").put(18, 23, "000001")
    file_trailer.put(24, 29, _n(len(lines) + 1, 6)).put(30, 35, "000000")
    lines.append(file_trailer.text())
    for text in lines:
        assert len(text) == LINE and text.isascii()
    return b"".join(text.encode("ascii") + CRLF for text in lines)


# --- retorno writer (the bank's side: the simulator and tests) -------------------------------------------------


@dataclass(frozen=True)
class RetornoEvent:
    """One occurrence the bank reports (a T+U pair). `nosso_numero` is the bank's own part, as in `Movement`;
    `net_credit_cents` defaults to paid − fee; `reasons` are two-character codes (Itaú: up to 4, others 5)."""

    code: str
    nosso_numero: str
    seu_numero: str = ""
    company_ref: str = ""
    due: date | None = None
    face_value_cents: int = 0
    paid_cents: int = 0
    net_credit_cents: int | None = None
    charges_cents: int = 0
    discount_cents: int = 0
    rebate_cents: int = 0
    fee_cents: int = 0
    occurred_on: date | None = None
    credited_on: date | None = None
    reasons: tuple[str, ...] = ()
    payer_document: str = ""
    payer_name: str = ""
    channel: str = ""  # Itaú T 222–223
    receiving_bank: str = ""
    receiving_agency: str = ""


def _segment_t(account: Account, e: RetornoEvent, seq: int) -> str:
    bank = account.bank
    line = _detail(account, seq, "T", e.code)
    if bank == ITAU:  # as P, with zeros where P has blanks ([T], the spec's example retorno)
        line.put(18, 18, "0").put(19, 22, account.agencia).put(23, 30, "0" * 8).put(31, 35, account.conta)
        line.put(36, 36, "0").put(37, 37, account.dac)
    else:
        _account_fields(account, line, 18)
    line.put(38, 57, _nosso_numero_field(account, e.nosso_numero))
    if bank == ITAU:
        line.put(58, 58, "0").put(59, 73, _x(e.seu_numero, 10).ljust(15))
    else:
        line.put(58, 58, "7" if bank == BB else "1").put(59, 73, _x(e.seu_numero, 15))
    line.put(74, 81, _d(e.due)).put(82, 96, _n(e.face_value_cents, 15))
    line.put(97, 99, _n(e.receiving_bank or "0", 3)).put(100, 105, _n(e.receiving_agency or "0", 6))
    line.put(106, 130, _x(e.company_ref, 25)).put(131, 132, "09" if bank != ITAU else "00")
    if e.payer_document:
        tipo, number = _document(e.payer_document)
        line.put(133, 133, tipo).put(134, 148, _n(number, 15))
    else:
        line.put(133, 148, "0" * 16)
    line.put(149, 188, _x(e.payer_name, 40)).put(189, 198, "0" * 10).put(199, 213, _n(e.fee_cents, 15))
    width = 8 if bank == ITAU else 10
    for code in e.reasons:
        if len(code) != 2 or not code.isascii() or not code.isalnum():
            raise ValueError(f"a motivo is two characters, got {code!r}")
    if len(e.reasons) * 2 > width:
        raise ValueError(f"at most {width // 2} motivos for bank {bank}")
    line.put(214, 213 + width, "".join(e.reasons).ljust(width, "0"))
    if bank == ITAU:
        line.put(222, 223, _x(e.channel, 2))
    return line.text()


def _segment_u(account: Account, e: RetornoEvent, seq: int) -> str:
    line = _detail(account, seq, "U", e.code)
    net = e.paid_cents - e.fee_cents if e.net_credit_cents is None else e.net_credit_cents
    for start, value in ((18, e.charges_cents), (33, e.discount_cents), (48, e.rebate_cents), (63, 0),
                         (78, e.paid_cents), (93, max(net, 0)), (108, 0), (123, 0)):
        line.put(start, start + 14, _n(value, 15))
    line.put(138, 145, _d(e.occurred_on)).put(146, 153, _d(e.credited_on))
    line.put(154, 180, "0" * 27).put(211, 233, "0" * 23)
    return line.text()


def retorno(account: Account, events: list[RetornoEvent], *, nsa: int, generated_at: datetime) -> bytes:
    """The retorno the bank would send for `account`: header de arquivo (143 = 2), one lote `T` with a T+U pair
    per event, the trailer de lote counting records and (cobrança simples) titles and their face value, the
    trailer de arquivo. CRLF, 240 characters a line; `parse_retorno` reads it back."""
    if not isinstance(account, Account):
        raise TypeError(f"account must be an Account, got {type(account).__name__}")
    require_int("nsa", nsa)
    if not 1 <= nsa <= 999_999:
        raise ValueError(f"nsa must be 1..999999, got {nsa}")
    if not isinstance(generated_at, datetime):
        raise TypeError(f"generated_at must be a datetime, got {type(generated_at).__name__}")
    _check_account(account)
    details: list[str] = []
    for e in events:
        if not isinstance(e, RetornoEvent):
            raise TypeError(f"events must be RetornoEvent, got {type(e).__name__}")
        if len(e.code) != 2 or not e.code.isdigit():
            raise ValueError(f"occurrence code must be 2 digits, got {e.code!r}")
        details.append(_segment_t(account, e, len(details) + 1))
        details.append(_segment_u(account, e, len(details) + 1))
    credited = max((e.credited_on for e in events if e.credited_on), default=None)
    trailer = _Line().put(1, 3, account.bank).put(4, 7, "0001").put(8, 8, "5").put(18, 23, _n(len(details) + 2, 6))
    trailer.put(24, 29, _n(len(events), 6)).put(30, 46, _n(sum(e.face_value_cents for e in events), 17))
    trailer.put(47, 115, "0" * 69)
    lines = [_file_header(account, nsa, generated_at, "2"), _lot_header(account, nsa, generated_at, "T", credited),
             *details, trailer.text()]
    file_trailer = _Line().put(1, 3, account.bank).put(4, 7, "9999").put(8, 8, "9").put(18, 23, "000001")
    file_trailer.put(24, 29, _n(len(lines) + 1, 6)).put(30, 35, "000000")
    lines.append(file_trailer.text())
    for text in lines:
        assert len(text) == LINE and text.isascii()
    return b"".join(text.encode("ascii") + CRLF for text in lines)


# --- remessa reader (the bank's side: the simulator) -----------------------------------------------------------


@dataclass(frozen=True)
class RemessaEntry:
    """One movement of a remessa as the bank reads it (its P, Q and R segments)."""

    line_number: int
    code: str  # C004: 01 entrada, 02 baixa, 06 alteração de vencimento
    nosso_numero: str  # the bank's own part, as `Movement.nosso_numero`
    seu_numero: str
    due: date | None
    amount_cents: int
    company_ref: str
    juros_per_day_cents: int
    payer_document: str = ""
    payer_name: str = ""
    multa_percent: int = 0  # hundredths of a percent, from segment R


@dataclass(frozen=True)
class RemessaFile:
    account: Account
    nsa: int
    generated_on: date
    entries: tuple[RemessaEntry, ...]


def _account_from_header(header: str, carteira: str) -> Account:
    bank = header[0:3]
    common = dict(bank=bank, cnpj=header[18:32], name=header[72:102].strip())
    if bank == ITAU:
        return Account(agencia=header[53:57], conta=header[65:70], dac=header[71], carteira=carteira or "109",
                       **common)
    generic = dict(agencia=header[52:57], agencia_dv=header[57].strip(), conta=header[58:70],
                   conta_dv=header[70].strip(), dac=header[71].strip(), **common)
    if bank == BB:
        return Account(carteira=header[45:47], convenio=header[34:41], variacao=header[47:50], **generic)
    return Account(carteira=carteira or "09", convenio=header[32:52].lstrip("0") or "0", **generic)


def parse_remessa(data: bytes) -> RemessaFile:
    """Read a remessa as the bank does: its account, NSA and movements. The same line checks as a retorno's
    (length, bank on every line, lote and sequence numbers, trailers); CnabError(line, message)."""
    lines = _lines(data)
    header = lines[0]
    if header[7] != "0" or header[3:7] != "0000" or header[0:3] not in BANKS:
        raise CnabError(1, "a primeira linha não é um header de arquivo de um banco atendido")
    if header[142] != "1":
        raise CnabError(1, "não é um arquivo de remessa (header 143 deveria ser 1)")
    bank = header[0:3]
    nsa = _int(header[157:163], 1, "NSA")
    generated_on = _date(header[143:151], 1, "data de geração")
    if generated_on is None:
        raise CnabError(1, "data de geração ausente")
    entries: list[RemessaEntry] = []
    carteira = ""
    current: dict | None = None
    seq = 0
    records = {"lote": 0}

    def close() -> None:
        if current is not None:
            entries.append(RemessaEntry(**current))

    for number, line in enumerate(lines[1:], 2):
        if line[0:3] != bank:
            raise CnabError(number, f"banco {line[0:3]} diferente do header ({bank})")
        record = line[7]
        if record == "1":
            records["lote"] = 1
            if line[8] != "R":
                raise CnabError(number, "o lote não é de remessa (posição 9 deveria ser R)")
        elif record == "3":
            seq += 1
            records["lote"] += 1
            if _int(line[8:13], number, "sequencial do registro") != seq:
                raise CnabError(number, f"sequencial {line[8:13]}; esperado {seq:05d}")
            segment = line[13]
            if segment == "P":
                close()
                field_ = line[37:57]
                if bank == ITAU:
                    carteira, nn, seu = field_[0:3], field_[3:11], line[62:72]
                elif bank == BB:
                    nn, seu = field_.strip()[7:], line[62:77]
                else:
                    carteira, nn, seu = field_[0:3], field_[8:19], line[62:77]
                current = dict(line_number=number, code=line[15:17], nosso_numero=nn, seu_numero=seu.strip(),
                               due=_date(line[77:85], number, "vencimento"),
                               amount_cents=_int(line[85:100], number, "valor do título"),
                               company_ref=line[195:220].strip(),
                               juros_per_day_cents=_int(line[126:141], number, "juros"))
            elif segment in "QR":
                if current is None:
                    raise CnabError(number, f"segmento {segment} sem segmento P antes")
                if segment == "Q":
                    current["payer_document"] = line[18:33][-11:] if line[17] == "1" else line[18:33][-14:]
                    current["payer_name"] = line[33:73].strip()
                else:
                    current["multa_percent"] = _int(line[74:89], number, "multa")
            else:
                raise CnabError(number, f"segmento {segment!r} desconhecido numa remessa de cobrança")
        elif record == "5":
            records["lote"] += 1
            declared = _int(line[17:23], number, "quantidade de registros do lote")
            if declared != records["lote"]:
                raise CnabError(number, f"o trailer de lote diz {declared} registros; o lote tem {records['lote']}")
        elif record == "9":
            declared = _int(line[23:29], number, "quantidade de registros")
            if declared != number or number != len(lines):
                raise CnabError(number, f"o trailer de arquivo diz {declared} registros; o arquivo tem {len(lines)}")
        else:
            raise CnabError(number, f"tipo de registro {record!r} desconhecido")
    close()
    return RemessaFile(account=_account_from_header(header, carteira), nsa=nsa, generated_on=generated_on,
                       entries=tuple(entries))


# --- retorno -----------------------------------------------------------------------------------------------


def _int(text: str, number: int, what: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise CnabError(number, f"{what} não é numérico: {text!r}")
    return int(text)


def _date(text: str, number: int, what: str) -> date | None:
    if text.strip("0 ") == "":
        return None
    try:
        return datetime.strptime(text, "%d%m%Y").date()  # noqa: DTZ007 - a calendar date, no time
    except ValueError:
        raise CnabError(number, f"{what} não é uma data válida: {text!r}") from None


def _lines(data: bytes) -> list[str]:
    if not isinstance(data, bytes | bytearray):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    if not data.strip():
        raise CnabError(0, "arquivo vazio")
    try:
        text = bytes(data).decode("ascii")
    except UnicodeDecodeError as exc:
        line = bytes(data[: exc.start]).count(b"\n") + 1
        raise CnabError(line, "caractere fora do padrão ASCII") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out = []
    for number, line in enumerate(lines, 1):
        line = line.removesuffix("\r")
        if len(line) != LINE:
            raise CnabError(number, f"a linha tem {len(line)} caracteres; o CNAB 240 exige 240")
        out.append(line)
    return out


def _nosso_numero(bank: str, raw: str) -> str:
    if bank == ITAU:
        return raw[3:11]
    if bank == BB:
        core = raw.strip()
        return core[7:] if len(core) == 17 else core
    return raw[8:19]


def _event(bank: str, t: str, u: str, t_no: int, u_no: int) -> Event:
    code = t[15:17]
    if u[15:17] != code:
        raise CnabError(u_no, f"o segmento U traz a ocorrência {u[15:17]}, diferente da do segmento T ({code})")
    kind, meaning = OCCURRENCES[bank].get(code, (OTHER, f"Ocorrência {code}"))
    if bank == ITAU:
        motive_text, channel = t[213:221], t[221:223].strip()
        reason_table = _ITAU_REASONS.get(code, {})  # Itaú's own tables (nota 23), one per occurrence
    else:
        motive_text, channel = t[213:223], ""
        reason_table = _BB_REASONS if bank == BB else REASONS
    reasons = tuple(
        (c, reason_table.get(c, ""))
        for c in (motive_text[i : i + 2] for i in range(0, len(motive_text), 2))
        if c.strip() and c != "00"
    )
    raw_nn = t[37:57]

    def amount(line: str, start: int, number: int, what: str) -> int:
        return _int(line[start - 1 : start + 14], number, what)

    return Event(
        line_numbers=(t_no, u_no),
        code=code,
        kind=kind,
        meaning=meaning,
        nosso_numero=_nosso_numero(bank, raw_nn),
        nosso_numero_field=raw_nn,
        document=(t[58:68] if bank == ITAU else t[58:73]).strip(),
        company_ref=t[105:130].strip(),
        due=_date(t[73:81], t_no, "vencimento"),
        face_value_cents=amount(t, 82, t_no, "valor do título"),
        fee_cents=amount(t, 199, t_no, "tarifa"),
        charges_cents=amount(u, 18, u_no, "juros/multa"),
        discount_cents=amount(u, 33, u_no, "desconto"),
        rebate_cents=amount(u, 48, u_no, "abatimento"),
        paid_cents=amount(u, 78, u_no, "valor pago"),
        net_credit_cents=amount(u, 93, u_no, "valor líquido"),
        occurred_on=_date(u[137:145], u_no, "data da ocorrência"),
        credited_on=_date(u[145:153], u_no, "data do crédito"),
        reasons=reasons,
        channel=channel,
        receiving_bank=t[96:99],
    )


def _same_number(found: str, expected: str) -> bool:
    return found.strip().lstrip("0") == expected.strip().lstrip("0")


def _check_beneficiary(line: str, number: int, account: Account, *, document: tuple[int, int], block: int,
                       convenio: int) -> None:
    """The beneficiary in a header (file header: CNPJ 19–32, convênio 33, agência/conta 53; lote header: 19–33,
    34, 54) must be the configured account's: CnabError naming the line and what differs."""
    found_document = line[document[0] - 1 : document[1]].lstrip("0")
    expected_document = cnpj.compact(account.cnpj).lstrip("0")
    if found_document != expected_document:
        raise CnabError(number, f"o CNPJ da empresa no arquivo ({found_document.rjust(14, '0')}) não é o da conta "
                                f"configurada ({expected_document.rjust(14, '0')})")
    start = block - 1
    if account.bank == ITAU:
        agencia, conta = line[start + 1 : start + 5], line[start + 13 : start + 18]
    else:
        agencia, conta = line[start : start + 5], line[start + 6 : start + 18]
    if not _same_number(agencia, account.agencia) or not _same_number(conta, account.conta):
        raise CnabError(number, f"agência/conta do arquivo ({agencia.strip()}/{conta.strip()}) não são as da conta "
                                f"configurada ({account.agencia}/{account.conta})")
    if account.bank == BB:
        found = line[convenio - 1 : convenio + 8]
        if not _same_number(found, account.convenio):
            raise CnabError(number, f"o convênio do arquivo ({found.strip()}) não é o da conta configurada "
                                    f"({account.convenio})")


def parse_retorno(data: bytes, account: Account | None = None) -> Retorno:
    """Check every line of a retorno (length, bank, record types, lote and sequence numbers, trailer counts) and
    read its T+U events. LF or CRLF. CnabError(line, message) on the first problem; nothing is partly read.
    With `account`, the file header and lote headers must name that beneficiary (CNPJ, agência/conta, BB's
    convênio) and bank."""
    lines = _lines(data)
    header = lines[0]
    if header[7] != "0" or header[3:7] != "0000":
        raise CnabError(1, "a primeira linha não é um header de arquivo (registro 0)")
    bank = header[0:3]
    if bank not in BANKS:
        raise CnabError(1, f"banco {bank} não é atendido (341 Itaú, 001 Banco do Brasil, 237 Bradesco)")
    if header[142] != "2":
        raise CnabError(1, "não é um arquivo de retorno (header 143 deveria ser 2)")
    if account is not None:
        if bank != account.bank:
            raise CnabError(1, f"é um retorno do banco {bank}; a conta configurada é do banco {account.bank}")
        _check_beneficiary(header, 1, account, document=(19, 32), block=53, convenio=33)
    nsa = _int(header[157:163], 1, "NSA")
    generated_on = _date(header[143:151], 1, "data de geração")
    if generated_on is None:
        raise CnabError(1, "data de geração ausente")
    events: list[Event] = []
    lots = 0
    lot: str | None = None
    lot_records = 0
    seq = 0
    pending: tuple[str, int] | None = None
    trailer_seen = False
    for number, line in enumerate(lines[1:], 2):
        if trailer_seen:
            raise CnabError(number, "linha depois do trailer de arquivo")
        if line[0:3] != bank:
            raise CnabError(number, f"banco {line[0:3]} diferente do header ({bank})")
        record = line[7]
        if record == "1":
            if lot is not None:
                raise CnabError(number, "header de lote antes do trailer do lote anterior")
            lots += 1
            lot = line[3:7]
            if lot != f"{lots:04d}":
                raise CnabError(number, f"lote {lot}; esperado {lots:04d}")
            if line[8] != "T":
                raise CnabError(number, "o lote não é de retorno (posição 9 deveria ser T)")
            if account is not None:
                _check_beneficiary(line, number, account, document=(19, 33), block=54, convenio=34)
            lot_records, seq = 1, 0
        elif record == "3":
            if lot is None or line[3:7] != lot:
                raise CnabError(number, f"detalhe fora de lote (lote {line[3:7]})")
            seq += 1
            if _int(line[8:13], number, "sequencial do registro") != seq:
                raise CnabError(number, f"sequencial {line[8:13]}; esperado {seq:05d}")
            lot_records += 1
            segment = line[13]
            if segment == "T":
                if pending is not None:
                    raise CnabError(number, "segmento T sem o segmento U do anterior")
                pending = (line, number)
            elif segment == "U":
                if pending is None:
                    raise CnabError(number, "segmento U sem segmento T antes")
                events.append(_event(bank, pending[0], line, pending[1], number))
                pending = None
            else:
                raise CnabError(number, f"segmento {segment!r} desconhecido num retorno de cobrança")
        elif record == "5":
            if lot is None or line[3:7] != lot:
                raise CnabError(number, f"trailer de lote sem lote aberto (lote {line[3:7]})")
            if pending is not None:
                raise CnabError(pending[1], "segmento T sem segmento U")
            lot_records += 1
            declared = _int(line[17:23], number, "quantidade de registros do lote")
            if declared != lot_records:
                raise CnabError(number, f"o trailer de lote diz {declared} registros; o lote tem {lot_records}")
            lot = None
        elif record == "9":
            if lot is not None:
                raise CnabError(number, "trailer de arquivo com um lote ainda aberto")
            if line[3:7] != "9999":
                raise CnabError(number, f"trailer de arquivo com lote {line[3:7]}; esperado 9999")
            declared_lots = _int(line[17:23], number, "quantidade de lotes")
            if declared_lots != lots:
                raise CnabError(number, f"o trailer de arquivo diz {declared_lots} lotes; o arquivo tem {lots}")
            declared = _int(line[23:29], number, "quantidade de registros")
            if declared != number:
                raise CnabError(number, f"o trailer de arquivo diz {declared} registros; o arquivo tem {number}")
            trailer_seen = True
        else:
            raise CnabError(number, f"tipo de registro {record!r} desconhecido")
    if not trailer_seen:
        raise CnabError(len(lines), "arquivo sem trailer de arquivo (registro 9)")
    return Retorno(
        bank=bank, nsa=nsa, generated_on=generated_on, company_document=header[18:32], events=tuple(events)
    )
