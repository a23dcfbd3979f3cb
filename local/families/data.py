"""The family portals' OS data: ``local.portal.data.record_for`` plus deterministic extras.

Every family serves the same record for a number: record_for's, with a ``valor`` (cents,
0 to R$ 250.000,00) and a ``quantidade`` (1 to 5000) drawn from ``random.Random(n + 7)``,
and the contact name in the description between curly quotes (“…”: bytes 0x93/0x94 in
windows-1252, character references in Latin-1). ``expected_record`` is what a correct
scrape of any family yields, normalised.
"""

from __future__ import annotations

import random
from datetime import datetime

from local.portal.data import HISTORY_PAGE_SIZE, record_for

__all__ = [
    "FAMILIES",
    "FIELDS",
    "PAGE_SIZE",
    "expected_record",
    "family_record",
    "history_page",
    "money",
    "page_count",
    "thousands",
]

FAMILIES = ("aspnet", "jsf", "php")
PAGE_SIZE = HISTORY_PAGE_SIZE


def family_record(numero: str | int) -> dict | None:
    """record_for's record with ``valor_centavos``, ``quantidade`` and the quoted contact."""
    record = record_for(numero)
    if record is None:
        return None
    rng = random.Random(int(record["numero"]) + 7)
    cents = rng.randrange(0, rng.choice((1_000, 100_000, 25_000_001)))
    quantidade = rng.randint(1, rng.choice((9, 999, 5_000)))
    first, contact = record["descricao"]
    prefix, name = contact.removesuffix(".").split(": ", 1)
    return {
        **record,
        "descricao": [first, f"{prefix}: “{name}”."],
        "valor_centavos": cents,
        "quantidade": quantidade,
    }


def thousands(number: int) -> str:
    """pt-BR integer: 1250 → "1.250"."""
    return f"{number:,}".replace(",", ".")


def money(cents: int) -> str:
    """pt-BR amount without the currency: 123456 → "1.234,56"."""
    return f"{thousands(cents // 100)},{cents % 100:02d}"


def page_count(record: dict) -> int:
    """History pages of PAGE_SIZE rows (at least one, even when empty)."""
    return max(1, -(-len(record["historico"]) // PAGE_SIZE))


def history_page(record: dict, page: int) -> list[dict]:
    """The history rows of page ``page`` (1-based)."""
    start = (page - 1) * PAGE_SIZE
    return record["historico"][start : start + PAGE_SIZE]


def _iso(text: str, fmt: str, size: int) -> str:
    return datetime.strptime(text, fmt).isoformat()[:size]


def expected_record(family: str, numero: str | int) -> dict | None:
    """What a correct scrape of ``family`` yields for ``numero`` (None: "não encontrada")."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; one of {', '.join(FAMILIES)}")
    record = family_record(numero)
    if record is None:
        return None
    cents = record["valor_centavos"]
    return {
        **{k: record[k] for k in ("numero", "situacao", "tipo_servico", "cliente", "tecnico")},
        "endereco": record["endereco"],
        "data_abertura": _iso(record["data_abertura"], "%d/%m/%Y", 10),
        "prazo": _iso(record["prazo"], "%d/%m/%Y", 10),
        "descricao": " ".join(record["descricao"]),
        "valor": f"{cents // 100}.{cents % 100:02d}",
        "quantidade": record["quantidade"],
        "historico": [
            {
                "data": _iso(row["data"], "%d/%m/%Y %H:%M", 16),
                "evento": row["evento"],
                "responsavel": row["responsavel"],
            }
            for row in record["historico"]
        ],
    }


#: (label, record key) of an OS's fields, in the order the portals show them.
FIELDS = (
    ("Número", "numero"),
    ("Situação", "situacao"),
    ("Tipo de serviço", "tipo_servico"),
    ("Cliente", "cliente"),
    ("Endereço", "endereco"),
    ("Data de abertura", "data_abertura"),
    ("Prazo", "prazo"),
    ("Técnico", "tecnico"),
    ("Descrição", "descricao"),
    ("Valor", "valor"),
    ("Quantidade", "quantidade"),
)
