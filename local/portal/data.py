"""Deterministic OS records: the same number always yields the same record.

Every number from 100000 to 899999 exists; any other is "não encontrada". A record's
history has 0 to 35 rows, or as many as asked (``history_rows``, for oversized pages).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

__all__ = ["FIRST", "HISTORY_PAGE_SIZE", "LAST", "exists", "record_for"]

FIRST, LAST = 100_000, 899_999
HISTORY_PAGE_SIZE = 10

_SITUACOES = ["Aberta", "Em andamento", "Aguardando peça", "Concluída", "Cancelada"]
_TIPOS = [
    "Instalação",
    "Manutenção corretiva",
    "Manutenção preventiva",
    "Vistoria técnica",
    "Troca de equipamento",
]
_NOMES = [
    "João da Silva",
    "Maria Conceição",
    "Ana Paula Gonçalves",
    "José Antônio Araújo",
    "Francisca Lima",
    "Luís Fernando Sá",
    "Márcia Ribeiro",
    "Sebastião Brandão",
]
_EMPRESAS = [
    "Padaria São João Ltda.",
    "Condomínio Edifício Açaí",
    "Farmácia Boa Saúde",
    "Escola Municipal Cecília Meireles",
    "Supermercado Irmãos Ávila",
]
_RUAS = [
    "Rua das Laranjeiras",
    "Avenida Paulista",
    "Rua Barão de Itapetininga",
    "Avenida Getúlio Vargas",
    "Travessa São José",
    "Rua Dom Pedro II",
]
_CIDADES = [
    "São Paulo/SP",
    "Belo Horizonte/MG",
    "Curitiba/PR",
    "Recife/PE",
    "Porto Alegre/RS",
    "Goiânia/GO",
]
_EVENTOS = [
    "Abertura da OS",
    "Técnico designado",
    "Visita agendada",
    "Visita realizada",
    "Peça solicitada",
    "Peça recebida",
    "Serviço executado",
    "Cliente contatado",
    "Reagendamento a pedido do cliente",
    "Encerramento técnico",
]
_PROBLEMAS = [
    "Equipamento não liga após queda de energia.",
    "Ruído excessivo no compressor.",
    "Vazamento na conexão de entrada.",
    "Cliente solicita revisão preventiva semestral.",
    "Display apresenta código de erro E4.",
]


def exists(numero: str | int) -> bool:
    """Whether the portal has this OS."""
    text = str(numero)
    return len(text) == 6 and text.isascii() and text.isdigit() and FIRST <= int(text) <= LAST


def record_for(numero: str | int, history_rows: int | None = None) -> dict | None:
    """The OS record for ``numero``, or None when it does not exist; ``history_rows``
    replaces its history's length."""
    if not exists(numero):
        return None
    n = int(str(numero))
    rng = random.Random(n)
    opened = datetime(2024, 1, 1, 8, 0) + timedelta(
        days=rng.randrange(0, 700), minutes=rng.randrange(0, 600)
    )
    history = []
    moment = opened
    rows = rng.randrange(0, 36)
    for i in range(rows if history_rows is None else history_rows):
        moment += timedelta(hours=rng.randrange(1, 72), minutes=rng.randrange(0, 60))
        history.append(
            {
                "data": moment.strftime("%d/%m/%Y %H:%M"),
                "evento": _EVENTOS[0] if i == 0 else rng.choice(_EVENTOS[1:]),
                "responsavel": rng.choice(_NOMES),
            }
        )
    cliente = rng.choice(_EMPRESAS + _NOMES)
    return {
        "numero": str(n),
        "situacao": rng.choice(_SITUACOES),
        "tipo_servico": rng.choice(_TIPOS),
        "cliente": cliente,
        "endereco": f"{rng.choice(_RUAS)}, {rng.randrange(1, 3000)} — {rng.choice(_CIDADES)}",
        "data_abertura": opened.strftime("%d/%m/%Y"),
        "prazo": (opened + timedelta(days=rng.randrange(1, 30))).strftime("%d/%m/%Y"),
        "tecnico": rng.choice(_NOMES),
        "descricao": [rng.choice(_PROBLEMAS), f"Contato no local: {rng.choice(_NOMES)}."],
        "historico": history,
    }


def history_pages(record: dict, page_size: int = HISTORY_PAGE_SIZE) -> int:
    """How many history pages the record spans (at least one, even when empty)."""
    return max(1, -(-len(record["historico"]) // page_size))
