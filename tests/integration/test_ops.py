"""The ops CLI (``python -m ops --local``) against the local stack: moto server, demo
portal and the worker on its one scrape queue, with a ``local.json`` like the one
``make run`` writes."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest

import ops
from chalicelib.adapters.queue import ScrapeQueue
from chalicelib.domain.identity import Identity
from chalicelib.domain.lanes import Lane
from chalicelib.http.views import lookup_answer
from local.portal import control
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

ANA, CARLA = Identity("ana"), Identity("carla", vip=True)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def state(stack: Stack, sandbox, tmp_path: Path, monkeypatch) -> Path:
    """The stack described as ``make run`` describes it in ``.raspa/local.json`` (the CLI
    finds its table names there, not in the shell: the app's settings are already built)."""
    for variable in ("RASPA_OS_TABLE", "RASPA_TASKS_TABLE", "RASPA_CONNECTIONS_TABLE"):
        monkeypatch.delenv(variable, raising=False)
    path = tmp_path / "local.json"
    info = {
        "os_table": stack.settings.os_table,
        "tasks_table": stack.settings.tasks_table,
        "connections_table": stack.settings.connections_table,
        "aws_endpoint_url": sandbox.aws_url,
        "region": "us-east-1",
        "portal_url": stack.portal_url,
        "queue_url": stack.queue_url,
        "ingest_queue_url": stack.ingest_url,
        "dlq_url": stack.dlq_url,
    }
    path.write_text(json.dumps(info))
    return path


@pytest.fixture
def cli(state: Path) -> Callable[..., tuple[int, str, str]]:
    """Run ``python -m ops --local <args>`` in process: (exit code, stdout, stderr).

    Output goes to buffers of its own: the worker's threads print logs to stdout meanwhile.
    """

    def run(*args: str, confirm: Callable[[str], str] | None = None) -> tuple[int, str, str]:
        def refuse(prompt: str) -> str:
            raise AssertionError(f"unexpected prompt: {prompt}")

        out, err = io.StringIO(), io.StringIO()
        argv = ["--local", "--state", str(state), *args]
        code = ops.main(argv, confirm=confirm or refuse, out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    return run


def as_json(result: tuple[int, str, str]) -> Any:
    code, out, err = result
    assert code == 0, err
    return json.loads(out)


def submit(stack: Stack, numero: str, who: Identity = ANA) -> str:
    result = lookup_answer(stack.services.lookup.lookup(numero, identity=who))
    assert result.http_status == 202, result.body
    return result.body["task_id"]


def submit_batch(stack: Stack, numero: str) -> str:
    """A task of the batch lane, as a batch upload's ingest releases it: waiting in the
    batch lane, with a wake-up naming it on the scrape queue."""
    outcome = stack.services.store.tasks.create_or_join(numero, requested_by="ana", lane=Lane.BATCH)
    assert outcome.created
    ScrapeQueue(stack.sqs, stack.queue_url).send(outcome.task.pk, numero, lane=Lane.BATCH)
    return outcome.task.pk


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def statuses(stack: Stack, task_ids: list[str]) -> dict[str, str]:
    store = stack.services.store
    return {t: store.tasks.get_task(t).status for t in task_ids}


def scrape_queue_empty(stack: Stack) -> bool:
    return stack.depth(stack.queue_url) == 0


def dead_letter(stack: Stack, task_ids: list[str], letters: int, **faults: Any) -> None:
    """Run the worker with the portal failing until every task is FAILURE and its message
    is in the DLQ."""
    stack.faults(**faults)
    with stack.worker():
        wait_until(
            lambda: (
                set(statuses(stack, task_ids).values()) == {"FAILURE"}
                and stack.depth(stack.dlq_url) == letters
                and scrape_queue_empty(stack)
            ),
            "the tasks' messages to reach the DLQ",
        )


def portal_up(stack: Stack) -> None:
    """No faults, statistics zeroed (so they count the scrapes from now on)."""
    control.reset(stack.portal_url)


def details_scraped(stack: Stack) -> int:
    return stack.portal_stats()["by_kind"]["detail"]


@pytest.fixture
def stack(make_stack: Any) -> Stack:
    """A stack whose portal breaker never opens: these tests drive failed tasks into the
    DLQ for ops (with the breaker, a portal down for everyone makes them wait instead:
    tests/functional/test_portal_breaker.py)."""
    return make_stack(breaker_failures=1_000)


@pytest.fixture
def scrapes(stack: Stack, monkeypatch) -> Counter[str]:
    """Scrape attempts the worker starts, by OS number: the tasks its messages claim, and
    those a returning message resumes."""
    store = stack.services.store
    started: Counter[str] = Counter()
    claim, start = store.claims._claim, store.runs.start

    def counting_claim(message_id: str, task_id: str, where: object, seen: Any = None) -> Any:
        claimed = claim(message_id, task_id, where, seen)
        if claimed.task is not None:
            started[claimed.task.numero_os] += 1
        return claimed

    def counting_start(task_id: str) -> Any:
        task = start(task_id)
        if task is not None:
            started[task.numero_os] += 1
        return task

    monkeypatch.setattr(store.claims, "_claim", counting_claim)
    monkeypatch.setattr(store.runs, "start", counting_start)
    return started


def test_given_the_portal_was_down_until_tasks_were_dead_lettered_when_it_is_back_and_ops_redrive_then_every_task_succeeds_scraped_once(  # noqa: E501
    stack, cli, scrapes
):
    # Given tasks of every scrape lane whose attempts all failed while the portal was down
    tasks = {
        submit(stack, "530001"): "standard",
        submit(stack, "530002"): "standard",
        submit(stack, "530003", CARLA): "vip",
        submit_batch(stack, "530004"): "batch",
    }
    dead_letter(stack, list(tasks), letters=4, error_rate=1.0)
    listed = as_json(cli("dlq", "--json"))
    assert {d["task_id"]: d["lane"] for d in listed} == tasks
    # When the portal is back and ops redrive the DLQ while the worker runs
    portal_up(stack)
    scrapes.clear()
    with stack.worker():
        report = as_json(cli("redrive", "--json"))
        # Then every task was reopened in its own lane and woken for on the scrape queue
        assert report["sent"] == {"standard": 2, "vip": 1, "batch": 1}
        assert report["dropped"] == {} and report["kept"] == {}
        assert {r["task_id"]: r["lane"] for r in report["letters"]} == tasks
        assert {r["to"] for r in report["letters"]} == {"scrape"}
        assert {r["why"] for r in report["letters"]} == {"reopened"}
        wait_until(
            lambda: set(statuses(stack, list(tasks)).values()) == {"SUCCESS"},
            "the redriven tasks to succeed",
        )
        wait_until(lambda: scrape_queue_empty(stack), "the scrape queue to drain")
    # ... each scraped exactly once, in one attempt, and nothing is left dead
    store = stack.services.store
    assert {int(store.tasks.get_task(t).attempts) for t in tasks} == {1}
    assert scrapes == {f"53000{i}": 1 for i in range(1, 5)}
    assert details_scraped(stack) == len(tasks)
    assert {store.cache.any_record(f"53000{i}").task_id for i in range(1, 5)} == set(tasks)
    assert stack.depth(stack.dlq_url) == 0


def test_given_dead_letters_whose_os_was_asked_for_again_or_that_repeat_a_task_when_redriven_then_no_os_is_scraped_twice(  # noqa: E501
    stack, cli, scrapes
):
    # Given three failed tasks in the DLQ ...
    repeated = submit_batch(stack, "540001")
    superseded = submit(stack, "540002")
    cached = submit(stack, "540003")
    dead_letter(stack, [repeated, superseded, cached], letters=3, layout="drifted")
    # ... a second letter of the first one, naming the VIP lane,
    body = {"v": 1, "task_id": repeated, "numero_os": "540001", "lane": "vip"}
    stack.sqs.send_message(QueueUrl=stack.dlq_url, MessageBody=json.dumps(body))
    # ... the second OS asked for again (its new task waiting) and the third scraped since
    portal_up(stack)
    rescraped = submit(stack, "540003")
    with stack.worker():
        wait_until(lambda: statuses(stack, [rescraped])[rescraped] == "SUCCESS", "a rescrape")
    waiting = submit(stack, "540002")
    scrapes.clear()
    details_before = details_scraped(stack)
    # When ops redrive the DLQ
    code, out, err = cli("redrive", "--json")
    report = json.loads(out)
    # Then the repeated task is reopened and woken for once, in the earliest lane its
    # letters name (the other letter dropped), the other two stay failed and their
    # letters are dropped: their OS need no scrape
    assert code == 0, err
    by_task: dict[str, list[dict]] = {}
    for r in report["letters"]:
        by_task.setdefault(r["task_id"], []).append(r)
    assert sorted(r["action"] for r in by_task[repeated]) == ["drop", "send"]
    assert [r["why"] for r in by_task[repeated]].count("reopened") == 1
    assert stack.services.store.tasks.get_task(repeated).lane == "vip"
    assert [(r["action"], r["why"]) for r in by_task[superseded]] == [
        ("drop", f"superseded by {waiting}")
    ]
    assert [(r["action"], r["why"]) for r in by_task[cached]] == [("drop", "cached")]
    assert stack.depth(stack.dlq_url) == 0
    with stack.worker():
        wait_until(
            lambda: (
                statuses(stack, [repeated, waiting]) == {repeated: "SUCCESS", waiting: "SUCCESS"}
            ),
            "the repeated task and the waiting one to succeed",
        )
        wait_until(lambda: scrape_queue_empty(stack), "the scrape queue to drain")
    assert scrapes == {"540001": 1, "540002": 1}  # 540002 by its new task
    assert details_scraped(stack) - details_before == 2
    assert statuses(stack, [superseded, cached]) == {superseded: "FAILURE", cached: "FAILURE"}


def test_given_letters_redrive_cannot_route_when_redriven_then_they_stay_in_the_dlq_and_exit_1(
    stack, cli
):
    stack.sqs.send_message(QueueUrl=stack.dlq_url, MessageBody="not json")
    gone = {"v": 1, "task_id": "f" * 32, "numero_os": "123456", "lane": "standard"}
    stack.sqs.send_message(QueueUrl=stack.dlq_url, MessageBody=json.dumps(gone))
    code, out, _ = cli("redrive", "--sqs-move")
    assert code == 1
    assert "left in the DLQ: 2" in out and "no StartMessageMoveTask" in out
    assert "not a raspa message" in out and "missing" in out
    # released at once: visible again, not hidden for the redrive's hold
    visible = stack.sqs.get_queue_attributes(
        QueueUrl=stack.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert int(visible) == 2 and scrape_queue_empty(stack)


def test_given_waiting_in_flight_and_dead_messages_then_status_and_dlq_report_each_lane_and_why_tasks_failed(  # noqa: E501
    stack, cli
):
    failed = submit(stack, "550001", CARLA)
    dead_letter(stack, [failed], letters=1, layout="drifted")
    portal_up(stack)
    stack.sqs.send_message(QueueUrl=stack.dlq_url, MessageBody="not json")
    submit(stack, "550002")
    submit(stack, "550003")
    submit(stack, "550004", CARLA)
    held = stack.sqs.receive_message(QueueUrl=stack.queue_url, VisibilityTimeout=120)
    assert len(held["Messages"]) == 1  # one wake-up in flight

    status = as_json(cli("status", "--json"))

    # Tasks waiting per lane come from the queue index; the one scrape queue holds a
    # wake-up for each of them
    assert status["lanes"] == {"vip": 1, "standard": 2, "batch": 0}
    queues = status["queues"]
    assert set(queues) == {"scrape", "ingest", "dlq"}
    assert queues["scrape"] == {
        "name": stack.settings.queue_name,
        "waiting": 2,
        "in_flight": 1,
        "delayed": 0,
    }
    assert queues["ingest"]["waiting"] == stack.depth(stack.ingest_url)
    assert queues["dlq"]["waiting"] == 2
    assert status["dead_letters"]["by_lane"] == {"vip": 1, "unroutable": 1}
    assert status["dead_letters"]["by_reason"] == {"layout_changed": 1}
    [recent] = status["recent_failures"]
    assert recent["task_id"] == failed and recent["numero_os"] == "550001"
    assert recent["reason"] == "layout_changed" and recent["attempts"] == 1
    assert recent["lane"] == "vip"
    # reading the dead letters leaves them visible
    assert as_json(cli("status", "--json"))["queues"]["dlq"]["waiting"] == 2
    code, out, _ = cli("status")
    assert code == 0 and "layout_changed" in out and failed in out
    lines = [line.split() for line in out.splitlines()]
    assert ["standard", "2"] in lines and ["vip", "1"] in lines
    assert ["scrape", stack.settings.queue_name, "2", "1", "0"] in lines
    # dlq lists each letter: task, OS, lane, receives and the task's failure reason
    letter, unknown = sorted(as_json(cli("dlq", "--json")), key=lambda d: d["kind"])
    assert letter["task_id"] == failed and letter["numero_os"] == "550001"
    assert letter["lane"] == "vip" and letter["kind"] == "scrape"
    # the worker wrote it once the task failed, not SQS's redrive policy after its receives
    assert 1 <= letter["receive_count"] < stack.settings.max_receive_count
    assert letter["task_status"] == "FAILURE" and letter["reason"] == "layout_changed"
    assert (unknown["kind"], unknown["lane"], unknown["body"]) == ("unknown", None, "not json")
    code, out, _ = cli("dlq")
    assert code == 0 and failed in out and "layout_changed" in out
    assert "2 dead letter(s)" in out


def test_given_a_lane_with_waiting_tasks_when_purge_is_declined_or_confirmed_then_only_a_yes_fails_them_and_the_scrape_queue_is_kept(  # noqa: E501
    stack, cli, scrapes
):
    purged = {submit(stack, numero) for numero in ("570001", "570002")}
    prompts: list[str] = []

    def answer(reply: str) -> Callable[[str], str]:
        def confirm(prompt: str) -> str:
            prompts.append(prompt)
            return reply

        return confirm

    code, out, _ = cli("purge", "standard", confirm=answer("n"))
    assert code == 1 and "nothing purged" in out and "2 waiting task(s)" in out
    assert set(statuses(stack, list(purged)).values()) == {"PENDING"}

    def end_of_input(prompt: str) -> str:
        raise EOFError

    assert cli("purge", "standard", confirm=end_of_input)[0] == 1
    assert set(statuses(stack, list(purged)).values()) == {"PENDING"}

    code, out, _ = cli("purge", "standard", confirm=answer("yes"))
    assert code == 0 and "purged the standard lane" in out
    assert "2 waiting task(s) failed as purged" in out
    # The shared scrape queue keeps their wake-ups (the worker finds nothing to run)
    assert stack.depth(stack.queue_url) == 2
    # The purged tasks failed with the reason and freed their OS: asking again starts anew
    again = submit(stack, "570001")
    assert again not in purged
    assert {stack.services.store.tasks.get_task(t).error_reason for t in purged} == {"purged"}
    assert len(prompts) == 2 and "standard lane" in prompts[0]

    vip = submit(stack, "570003", CARLA)
    batch = submit_batch(stack, "570004")
    code, out, _ = cli("purge", "priority", "--yes")  # no prompt (cli refuses any)
    assert code == 0 and "purged the vip lane: 1 waiting task(s)" in out
    code, out, _ = cli("purge", "batch", "--yes")
    assert code == 0 and "purged the batch lane: 1 waiting task(s)" in out
    assert statuses(stack, [vip, batch]) == {vip: "FAILURE", batch: "FAILURE"}
    code, out, err = cli("purge", "scrape", "--yes")
    assert code == 2 and out == "" and "purge a lane instead" in err
    # The worker runs the one task still waiting; every other wake-up finds nothing
    with stack.worker():
        wait_until(lambda: statuses(stack, [again])[again] == "SUCCESS", "the new task")
        wait_until(lambda: scrape_queue_empty(stack), "the scrape queue to drain")
    assert scrapes == {"570001": 1}


def test_given_a_finished_task_then_task_shows_status_attempts_requesters_and_timestamps(
    stack, cli
):
    task_id = submit(stack, "580001")
    stack.services.lookup.lookup("580001", identity=CARLA)  # joins the same task
    with stack.worker():
        wait_until(lambda: statuses(stack, [task_id])[task_id] == "SUCCESS", "the scrape")
    view = as_json(cli("task", task_id, "--json"))
    assert view["status"] == "SUCCESS" and view["attempts"] == 1 and view["progress"] == 100
    assert view["requesters"] == ["ana", "carla"] and view["numero_os"] == "580001"
    assert view["created_at"] <= view["started_at"] <= view["finished_at"]
    assert view["error"] is None and view["os_lock"] is None
    assert view["result"]["numero"] == "580001"
    code, out, _ = cli("task", task_id)
    assert code == 0 and "SUCCESS" in out and "ana, carla" in out and "finished" in out


def test_given_an_unknown_or_malformed_task_id_then_exit_2_with_one_line_naming_it(stack, cli):
    for args, message in (
        (["task", "0" * 32], f"no task {'0' * 32} in {stack.settings.tasks_table}"),
        (["task", "not-a-task"], "not a task id: 'not-a-task'"),
    ):
        code, out, err = cli(*args)
        assert code == 2 and out == ""
        assert err.startswith(f"ops: {message}") and err.count("\n") == 1


@pytest.mark.parametrize("module", ["ops", "infra.ops"])  # infra.ops: its former name
def test_given_a_local_stack_file_of_a_stopped_stack_then_the_cli_says_so_in_one_line_without_a_traceback(  # noqa: E501
    tmp_path: Path, module: str
):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    stale = tmp_path / "local.json"
    stale.write_text(
        json.dumps({"aws_endpoint_url": endpoint, "dlq_url": f"{endpoint}/1/raspa-scrape-dlq"})
    )
    done = subprocess.run(
        [sys.executable, "-m", module, "--local", "--state", str(stale), "status"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert (
        done.stderr == f"ops: no local stack answering at {endpoint} (start one with `make run`)\n"
    )
