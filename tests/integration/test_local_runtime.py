"""The local runtime keeps AWS's contracts: the SQS event source and the WebSocket gateway."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any, Iterator

import boto3
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from local.awsserver import AwsServer
from local.event_source import SqsEventSource
from local.ws_gateway import WebSocketGateway

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sqs() -> Iterator[Any]:
    with AwsServer() as server:
        yield boto3.client(
            "sqs",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )


def make_queue(
    sqs: Any, name: str, *, max_receive: int = 2, visibility: int = 1
) -> tuple[str, str]:
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": arn, "maxReceiveCount": str(max_receive)}
            ),
        },
    )["QueueUrl"]
    return url, dlq


def depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attrs.values())


def run_async(scenario: Any) -> Any:
    """Run a coroutine function on its own thread and loop (the caller's loop may be busy)."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(scenario())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=30)
    if "error" in result:
        raise result["error"]
    return result.get("value")


def wait_for(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def test_event_source_never_runs_more_than_three_invocations_and_deletes_on_success(sqs):
    url, _ = make_queue(sqs, "concurrency")
    for i in range(12):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"i": i}))
    running, peak, done = [0], [0], []
    lock = threading.Lock()

    def handler(event, context):
        assert len(event["Records"]) == 1 and event["Records"][0]["eventSource"] == "aws:sqs"
        assert context.get_remaining_time_in_millis() > 0
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.15)
        with lock:
            running[0] -= 1
            done.append(json.loads(event["Records"][0]["body"])["i"])

    with SqsEventSource(sqs, url, handler, concurrency=3, wait_seconds=1) as source:
        wait_for(lambda: len(done) == 12)
        wait_for(lambda: depth(sqs, url) == 0)
    assert peak[0] == 3 and source.stats.peak_running == 3
    assert sorted(done) == list(range(12))


def test_failed_invocations_are_redelivered_then_moved_to_the_dlq_by_redrive(sqs):
    url, dlq = make_queue(sqs, "redrive", max_receive=2, visibility=1)
    sqs.send_message(QueueUrl=url, MessageBody="boom")
    receive_counts = []

    def handler(event, context):
        receive_counts.append(int(event["Records"][0]["attributes"]["ApproximateReceiveCount"]))
        raise RuntimeError("handler failed")

    with SqsEventSource(sqs, url, handler, concurrency=1, wait_seconds=1):
        wait_for(lambda: depth(sqs, dlq) == 1, timeout=15)
    assert receive_counts == [1, 2]
    assert depth(sqs, url) == 0


def test_visibility_set_by_the_handler_delays_the_redelivery(sqs):
    url, _ = make_queue(sqs, "backoff", max_receive=5, visibility=30)
    sqs.send_message(QueueUrl=url, MessageBody="later")
    seen = []

    def handler(event, context):
        seen.append(time.monotonic())
        record = event["Records"][0]
        if len(seen) == 1:
            sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=1
            )
            raise RuntimeError("retry in 1 s")

    with SqsEventSource(sqs, url, handler, concurrency=1, wait_seconds=1):
        wait_for(lambda: len(seen) == 2, timeout=10)
    assert 0.9 <= seen[1] - seen[0] < 5


class Recorder:
    """Handlers for the gateway that record the events they get."""

    def __init__(self, refuse: bool = False) -> None:
        self.events: list[dict] = []
        self.refuse = refuse

    def connect(self, event, context):
        self.events.append(event)
        return {"statusCode": 403} if self.refuse else {"statusCode": 200}

    def message(self, event, context):
        self.events.append(event)

    def disconnect(self, event, context):
        self.events.append(event)


def gateway_for(recorder: Recorder) -> WebSocketGateway:
    return WebSocketGateway(
        connect=recorder.connect, message=recorder.message, disconnect=recorder.disconnect
    )


def management(gateway: WebSocketGateway) -> Any:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=gateway.management_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def test_gateway_invokes_handlers_with_api_gateway_events_and_delivers_via_connections_api():
    recorder = Recorder()
    with gateway_for(recorder) as gateway:
        client = management(gateway)

        async def scenario() -> str:
            async with connect(gateway.url + "/?token=abc") as ws:
                await ws.send('{"action": "ping"}')
                connection_id = recorder.events[0]["requestContext"]["connectionId"]
                await asyncio.get_running_loop().run_in_executor(
                    None,
                    lambda: client.post_to_connection(
                        ConnectionId=connection_id, Data=b'{"hello": 1}'
                    ),
                )
                return await asyncio.wait_for(ws.recv(), 5)

        received = run_async(scenario)
        wait_for(lambda: len(recorder.events) == 3)
    assert json.loads(received) == {"hello": 1}
    connect_event, message_event, disconnect_event = recorder.events
    assert connect_event["requestContext"]["routeKey"] == "$connect"
    assert connect_event["queryStringParameters"] == {"token": "abc"}
    assert message_event["requestContext"]["routeKey"] == "$default"
    assert message_event["body"] == '{"action": "ping"}'
    assert disconnect_event["requestContext"]["eventType"] == "DISCONNECT"
    assert len({e["requestContext"]["connectionId"] for e in recorder.events}) == 1


def test_a_connection_is_postable_as_soon_as_its_handshake_is_accepted():
    # Given a gateway slow to start serving an accepted connection (a busy event loop)
    recorder = Recorder()
    slow = gateway_for(recorder)
    serve = slow._serve

    async def slow_serve(connection: Any) -> None:
        await asyncio.sleep(0.5)
        await serve(connection)

    slow._serve = slow_serve  # type: ignore[method-assign]
    with slow as gateway:
        client = management(gateway)

        async def scenario() -> str:
            async with connect(gateway.url + "/?token=abc") as ws:
                connection_id = recorder.events[0]["requestContext"]["connectionId"]
                # When the app posts to it at once, then it is delivered, not "gone"
                await asyncio.get_running_loop().run_in_executor(
                    None,
                    lambda: client.post_to_connection(ConnectionId=connection_id, Data=b"{}"),
                )
                return await asyncio.wait_for(ws.recv(), 5)

        assert run_async(scenario) == "{}"


def test_posting_to_an_unknown_connection_raises_gone_exception():
    with gateway_for(Recorder()) as gateway:
        client = management(gateway)
        with pytest.raises(client.exceptions.GoneException):
            client.post_to_connection(ConnectionId="nobody", Data=b"{}")


def test_a_refused_connect_refuses_the_handshake():
    with gateway_for(Recorder(refuse=True)) as gateway:

        async def scenario() -> None:
            async with connect(gateway.url):
                pass

        with pytest.raises(InvalidStatus) as info:
            run_async(scenario)
    assert info.value.response.status_code == 403


def test_a_connect_refused_with_a_reason_refuses_the_handshake_with_its_status_and_body():
    # Given a $connect handler refusing a user over their connection limit, as the app does
    from chalicelib.http.responses import too_many_connections

    recorder = Recorder()
    recorder.connect = lambda event, context: too_many_connections(20)  # type: ignore[method-assign]
    with gateway_for(recorder) as gateway:

        async def scenario() -> None:
            async with connect(gateway.url):
                pass

        # When a client connects, then the handshake is refused with 429 and the reason
        with pytest.raises(InvalidStatus) as info:
            run_async(scenario)
    assert info.value.response.status_code == 429
    body = json.loads(info.value.response.body)
    assert body["error"] == "too_many_connections" and body["limit"] == 20
