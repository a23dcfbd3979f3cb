"""What users are told when a task does not end well: pure, no I/O.

Users get a clear message (pt-BR, like the rest of the page) and a reason code; portal
URLs, portal answers and the portal's service account stay in the logs and in the task's
``error_detail``, which only operators read.
"""

from __future__ import annotations

__all__ = ["REASONS", "user_message"]

#: Every reason a task can fail (or wait to retry) with, and what users are told.
REASONS: dict[str, str] = {
    "transient": "o portal não respondeu bem; nova tentativa em breve",
    "not_found": "OS {numero} não encontrada no portal",
    "layout_changed": "o portal mudou de formato; a equipe de operações foi avisada",
    "off_site": "o portal indicou um endereço fora dele; a equipe de operações foi avisada",
    "login_failed": "o raspa não conseguiu entrar no portal; a equipe de operações foi avisada",
    "too_large": "a OS {numero} é grande demais para o raspa guardar; a equipe foi avisada",
    "not_storable": "o resultado não pôde ser gravado; a equipe de operações foi avisada",
    "permanent": "o portal recusou o pedido; a equipe de operações foi avisada",
    "worker_died": "a consulta foi interrompida antes de terminar; tente de novo",
    "enqueue_failed": "a fila de consultas não respondeu; tente de novo",
    "cancelled": "cancelada junto com o lote",
    "purged": "retirada da fila pela equipe de operações; tente de novo",
    "portal_down": "portal fora do ar; nova tentativa às {at}",
}


#: A transient failure on the last attempt: the task fails.
UNAVAILABLE = "o portal ficou indisponível em {attempts} tentativas; tente mais tarde"


def user_message(reason: str | None, *, numero: str = "", attempts: int = 0, at: str = "") -> str:
    """The message for ``reason``; an unknown reason gets the generic one. A transient
    failure with ``attempts`` is the last one (the portal stayed unavailable)."""
    if reason == "transient" and attempts:
        return UNAVAILABLE.format(attempts=attempts)
    template = REASONS.get(reason or "", REASONS["permanent"])
    return template.format(numero=numero, attempts=attempts, at=at)
