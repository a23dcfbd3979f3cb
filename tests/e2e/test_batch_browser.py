"""Batch uploads from the page, in Chromium, against the whole local stack: a person picks
a file of OS numbers, watches the batch's progress and downloads its results."""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.batches import COUNTS
from local.portal.data import record_for
from tests.e2e.conftest import ARTIFACTS, api_request, id_token, sign_in

pytestmark = pytest.mark.e2e

TIMEOUT = 30_000  # ms
CLIENTES = ("João Conceição", "Açougue São Jorge", "Irmãs Gonçalves & Cia", "Lúcia Araújo")
CIDADES = ("São Paulo", "Goiânia", "Maceió", "Florianópolis", "Niterói")


# ------------------------------------------------------------------- helpers
def upload(page: Any, name: str, content: bytes) -> Any:
    """Choose ``content`` as the file and upload it; the batch's card once the file is in
    the bucket (the test fails at once, with the page's message, if it could not be)."""
    page.set_input_files(
        "#batch-file", files=[{"name": name, "mimeType": "text/csv", "buffer": content}]
    )
    page.click("#batch-form button[type=submit]")
    card = page.locator("li.batch").first
    card.wait_for(timeout=TIMEOUT)
    page.wait_for_function(
        "() => document.querySelector('li.batch')?.dataset.state !== 'uploading'",
        timeout=TIMEOUT,
    )
    if card.get_attribute("data-state") == "failed":
        pytest.fail(f"the page could not upload the file: {card.inner_text()!r}")
    assert card.get_attribute("data-batch-id")
    return card


def shown_counts(card: Any) -> dict[str, int]:
    """The counts as the card shows them (text, in the page's locale) and holds them."""
    counts = {}
    for name in COUNTS:
        cell = card.locator(f"[data-count={name}]")
        digits = "".join(c for c in cell.inner_text() if c.isdigit())
        assert digits == cell.get_attribute("data-value"), name
        counts[name] = int(digits)
    return counts


def download(page: Any, card: Any, file_format: str) -> bytes:
    with page.expect_download(timeout=TIMEOUT) as info:
        card.locator(f"a.download[data-format={file_format}]").click()
    return Path(info.value.path()).read_bytes()


def record_traffic(page: Any) -> list[tuple[str, Any]]:
    """Everything the page sends or receives that concerns batches, in arrival order:
    ("get", url) for requests of /batches/{id}, ("ws", message) for socket frames."""
    log: list[tuple[str, Any]] = []

    def on_request(request: Any) -> None:
        if request.method == "GET" and "/batches/" in request.url:
            log.append(("get", request.url))

    def on_frame(payload: Any) -> None:
        try:
            message = json.loads(payload)
        except (TypeError, ValueError):
            return
        if isinstance(message, dict) and "batch_id" in message:
            log.append(("ws", message))

    page.on("request", on_request)
    page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
    return log


def watch_card(page: Any) -> None:
    """Record every state and "succeeded" count the newest batch card shows, in order."""
    page.evaluate(
        """() => {
          window.batchStates = [];
          new MutationObserver(() => {
            const card = document.querySelector("li.batch");
            if (!card) return;
            const seen = [card.dataset.state,
                          Number(card.querySelector("[data-count=succeeded]").dataset.value)];
            const last = window.batchStates[window.batchStates.length - 1];
            if (!last || last[0] !== seen[0] || last[1] !== seen[1]) window.batchStates.push(seen);
          }).observe(document.getElementById("batches"),
                     { subtree: true, attributes: true, childList: true });
        }"""
    )


# ----------------------------------------------------------- the 10,000 lines
@dataclass
class Line:
    """One physical line of the file and what the results must say about it."""

    text: str
    result: str | None = None  # None: the header or a blank line (not in the results)
    numero: str = ""
    message: str = ""  # a text the result's message must contain
    cliente: str = ""  # the found OS's customer


@dataclass
class BatchFile:
    lines: list[Line]
    raw: bytes
    counts: dict[str, int]
    cached: dict[str, dict[str, str]]
    cached_missing: list[str]


def ten_thousand_lines() -> BatchFile:
    """10,000 lines of Latin-1, ``;``-delimited CSV as Excel (pt-BR) saves it: an export
    of visits, so each OS is on about five lines; a ``Número OS`` header, accented cells,
    invalid lines, blank lines and CRLF mixed with LF.

    Its 2,000 distinct numbers are what the stack works for (every one costs the ingest
    and the results a few moto requests; a repeated line costs nothing). All but 30 are
    cached beforehand; those 30 are in the ingest's first chunk of 100 distinct numbers,
    so their scrapes run while the rest is read.
    """
    rng = random.Random(5)
    fresh = [str(301_960 + i) for i in range(28)] + ["9200001", "9200002"]  # 7 digits: none
    cached = {
        str(300_000 + i): {
            "numero": str(300_000 + i),
            "cliente": f"{rng.choice(CLIENTES)} {i}",
            "situacao": "Concluída",
        }
        for i in range(1_960)
    }
    cached_missing = [str(9_100_000 + i) for i in range(10)]
    known = list(cached)
    first_chunk = fresh + known[:70]
    rng.shuffle(first_chunk)
    rest = known[70:] + cached_missing
    rng.shuffle(rest)
    distinct = first_chunk + rest
    extras = ["duplicate"] * 7_899 + ["invalid"] * 60 + ["blank"] * 40
    rng.shuffle(extras)
    after = sorted(rng.choices(range(len(distinct)), k=len(extras)))

    lines = [Line("Número OS;Cliente;Cidade")]
    first_line: dict[str, int] = {}
    seen: list[str] = []
    invalid_values = iter(
        [f"abc{i}" for i in range(15)]
        + [f"Nº 31{i}ª" for i in range(15)]  # accented, and not a number
        + [f"=1+{i}" for i in range(5)]  # a formula to a spreadsheet
        + ["1234567890123"] * 5  # 13 digits
        + [f"30{i}.5" for i in range(10)]
        + [""] * 10  # an empty number cell
    )

    def data_line(value: str) -> str:
        return f"{value};{rng.choice(CLIENTES)};{rng.choice(CIDADES)}"

    def add_extra(kind: str) -> None:
        if kind == "blank":
            lines.append(Line(rng.choice(["", "   "])))
        elif kind == "invalid":
            value = next(invalid_values)
            shown = "'" + value if value.startswith("=") else value
            reason = "empty value" if not value else "dígitos"
            lines.append(Line(data_line(value), "invalid", shown, reason))
        else:
            numero = rng.choice(seen)
            spaced = rng.choice([numero, f" {numero} ", f'"{numero}"'])
            lines.append(Line(data_line(spaced), "duplicate", numero, f"line {first_line[numero]}"))

    extra = iter(zip(after, extras, strict=True))
    pending = next(extra, None)
    for index, numero in enumerate(distinct):
        first_line[numero] = len(lines) + 1
        seen.append(numero)
        if numero in cached:
            lines.append(Line(data_line(numero), "found", numero, "", cached[numero]["cliente"]))
        elif numero in cached_missing or not record_for(numero):
            lines.append(Line(data_line(numero), "not_found", numero, "não encontrada"))
        else:
            cliente = record_for(numero)["cliente"]
            lines.append(Line(data_line(numero), "found", numero, "", cliente))
        while pending is not None and pending[0] == index:
            add_extra(pending[1])
            pending = next(extra, None)
    assert len(lines) == 10_000

    ends = ("\r\n", "\n", "\r\n")
    text = "".join(line.text + ends[i % 3] for i, line in enumerate(lines))
    results = [line.result for line in lines if line.result]
    found = results.count("found")
    missing = results.count("not_found")
    counts = {
        "lines": len(results),
        "valid": len(distinct),
        "invalid": results.count("invalid"),
        "duplicates": results.count("duplicate"),
        "cached": len(cached) + len(cached_missing),
        "joined": 0,
        "queued": len(fresh),
        "succeeded": found,
        "failed": 0,
        "not_found": missing,
    }
    return BatchFile(lines, text.encode("latin-1"), counts, cached, cached_missing)


def test_given_10000_latin1_lines_when_uploaded_then_the_results_csv_reports_each_line_once(
    stack, portal, os_cache, page
):
    batch = ten_thousand_lines()
    os_cache.found(batch.cached)
    os_cache.not_found(batch.cached_missing)
    page.wait_for_selector("#conn.live", timeout=TIMEOUT)

    card = upload(page, "lista.csv", batch.raw)
    batch_id = card.get_attribute("data-batch-id")
    page.wait_for_function(
        "() => ['ingesting', 'running', 'complete']"
        "  .includes(document.querySelector('li.batch').dataset.state)"
        " && Number(document.querySelector('[data-count=lines]').dataset.value) > 0",
        timeout=TIMEOUT,
    )
    assert shown_counts(card)["lines"] == batch.counts["lines"]
    page.screenshot(path=str(ARTIFACTS / "batch-in-progress.png"), full_page=True)

    card.locator("a.download[data-format=csv]").wait_for(timeout=100_000)
    assert card.get_attribute("data-state") == "complete"
    assert shown_counts(card) == batch.counts
    assert card.locator(".meta").inner_text().endswith("100%")
    token = id_token(stack, "ana")
    assert api_request(stack, "GET", f"/batches/{batch_id}", token=token)[1]["counts"] == (
        batch.counts
    )

    raw = download(page, card, "csv")
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows and list(rows[0])[:4] == ["linha", "numero_os", "resultado", "mensagem"]
    by_line: dict[int, dict[str, str]] = {}
    for row in rows:
        assert int(row["linha"]) not in by_line, f"line {row['linha']} reported twice"
        by_line[int(row["linha"])] = row
    expected = {n: line for n, line in enumerate(batch.lines, start=1) if line.result}
    assert set(by_line) == set(expected)
    for number, line in expected.items():
        row = by_line[number]
        assert (row["resultado"], row["numero_os"]) == (line.result, line.numero), number
        assert line.message in row["mensagem"], (number, row["mensagem"])
        if line.result == "found":
            assert row["cliente"] == line.cliente, number
        else:
            assert row["mensagem"], number
    assert any("ç" in row["cliente"] for row in rows)  # accented text intact, both ways
    assert any("Nº" in row["numero_os"] for row in rows)

    results = json.loads(download(page, card, "json"))
    assert results["batch_id"] == batch_id
    assert results["counts"] == batch.counts
    assert len(results["lines"]) == batch.counts["lines"]


# ------------------------------------------------------------------ rejection
def test_given_a_csv_without_a_number_column_when_uploaded_then_the_page_shows_the_reason(
    stack, page
):
    content = "Cliente;Cidade;Valor\r\nJoão Conceição;São Paulo;10\r\n".encode("latin-1")

    card = upload(page, "sem-coluna.csv", content)

    card.locator(".message").wait_for(timeout=TIMEOUT)
    assert card.get_attribute("data-state") == "rejected"
    assert card.locator(".message").inner_text() == "O arquivo foi recusado."
    reason = card.locator(".detail").inner_text()
    assert "3 columns" in reason and "numero_os" in reason
    assert card.locator("a.download").count() == 0


def test_given_no_file_or_too_large_a_file_when_uploading_then_the_page_says_so(stack, page):
    page.click("#batch-form button[type=submit]")
    assert page.locator("#batch-error").inner_text() == "Escolha um arquivo primeiro."

    # A file one byte over the API's 10 MiB, made in the browser (no 10 MB over the wire).
    page.evaluate(
        """size => {
          const files = new DataTransfer();
          files.items.add(new File([new Uint8Array(size)], "enorme.csv", { type: "text/csv" }));
          document.getElementById("batch-file").files = files.files;
        }""",
        10 * 1024 * 1024 + 1,
    )
    page.click("#batch-form button[type=submit]")

    page.locator("#batch-error .detail").wait_for(timeout=TIMEOUT)
    error = page.locator("#batch-error").inner_text()
    assert "O arquivo é grande demais." in error
    assert "at most 10485760 bytes" in error  # the API's own message
    assert page.locator("li.batch").count() == 0


# -------------------------------------------------------- live and polled
def small_batch(os_cache: Any, base: int) -> tuple[bytes, dict[str, int]]:
    """One number per line: two cached, four for the portal, one invalid line."""
    cached = {str(base + i): {"numero": str(base + i), "cliente": "Cia. Ação"} for i in (0, 1)}
    os_cache.found(cached)
    numbers = [*cached, *(str(base + i) for i in range(2, 6))]
    text = "\n".join([*numbers, "não é número", numbers[3]]) + "\n"
    expected = {
        "lines": 8,
        "valid": 6,
        "invalid": 1,
        "duplicates": 1,
        "cached": 2,
        "joined": 0,
        "queued": 4,
        "succeeded": 6,
        "failed": 0,
        "not_found": 0,
    }
    return text.encode("latin-1"), expected


def test_given_an_open_websocket_when_a_batch_runs_then_progress_arrives_without_polling(
    stack, portal, os_cache, page
):
    traffic = record_traffic(page)
    page.reload()  # a new socket, this time observed
    page.wait_for_selector("#conn.live", timeout=TIMEOUT)
    portal(latency_ms=300)  # each scrape takes a second or so: progress has steps to show
    content, expected = small_batch(os_cache, 400_100)
    watch_card(page)

    card = upload(page, "ao-vivo.csv", content)
    batch_id = card.get_attribute("data-batch-id")

    card.locator("a.download[data-format=csv]").wait_for(timeout=TIMEOUT)
    assert shown_counts(card) == expected
    events = [(kind, item) for kind, item in traffic if batch_id in json.dumps(item)]
    socket = [item for kind, item in events if kind == "ws"]
    assert any(m["status"] == "progress" and m["batch_status"] == "running" for m in socket)
    assert [m["counts"] for m in socket if m["status"] == "complete"] == [expected]
    # Nothing asked the API about the batch until the socket said it was complete (then
    # the page asks once, for the signed download links) ...
    first_get = next(i for i, (kind, _) in enumerate(events) if kind == "get")
    complete = next(
        i for i, (kind, m) in enumerate(events) if kind == "ws" and m["status"] == "complete"
    )
    assert first_get > complete
    assert card.get_attribute("data-polls") is None
    # ... yet the page showed the batch running, with partial counts, before it was done.
    states = page.evaluate("window.batchStates")
    assert any(s == "running" and 0 < n < expected["valid"] for s, n in states), states
    assert states[-1] == ["complete", expected["valid"]]


def test_given_no_websocket_when_a_batch_runs_then_the_page_polls_it_to_the_end(
    stack, portal, os_cache, browser, request
):
    context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.add_init_script("window.WebSocket = function () { throw new Error('blocked'); };")
    sign_in(page, stack)
    page.wait_for_selector("#conn.poll", timeout=TIMEOUT)
    traffic = record_traffic(page)
    portal(latency_ms=300)
    content, expected = small_batch(os_cache, 400_200)
    assert page.locator("#batch-title").inner_text() == "Batch lookup"

    card = upload(page, "polled.csv", content)
    batch_id = card.get_attribute("data-batch-id")

    card.locator("a.download[data-format=csv]").wait_for(timeout=TIMEOUT)
    assert shown_counts(card) == expected
    assert card.locator(".state").inner_text() == "done"
    assert card.locator("a.download[data-format=csv]").inner_text() == "Download results (CSV)"
    polls = [url for kind, url in traffic if kind == "get" and batch_id in url]
    assert len(polls) >= 2 and int(card.get_attribute("data-polls")) == len(polls)
    assert not [item for kind, item in traffic if kind == "ws"]
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


# ------------------------------------------------------------------ ownership
def test_given_anas_batch_when_bruno_asks_for_it_then_he_gets_404_as_for_no_batch(
    stack, os_cache, page
):
    os_cache.found({"400300": {"numero": "400300", "cliente": "Ana"}})
    card = upload(page, "de-ana.csv", b"400300\n")
    batch_id = card.get_attribute("data-batch-id")
    card.locator("a.download").first.wait_for(timeout=TIMEOUT)

    status, own = api_request(stack, "GET", f"/batches/{batch_id}", token=id_token(stack, "ana"))
    assert status == 200 and own["status"] == "complete" and "results" in own

    bruno = id_token(stack, "bruno")
    status, theirs = api_request(stack, "GET", f"/batches/{batch_id}", token=bruno)
    unknown = api_request(stack, "GET", "/batches/" + "0" * 32, token=bruno)
    assert (status, theirs) == unknown
    assert status == 404 and "results" not in json.dumps(theirs)
