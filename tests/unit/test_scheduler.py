"""The task-pull scheduler's choices, against an in-memory claims store (no AWS)."""

from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.domain.lanes import Lane
from chalicelib.domain.records import TaskRecord
from chalicelib.domain.schedule import Shares
from chalicelib.services.scheduler import How, Scheduler


@dataclass
class Result:
    task: TaskRecord | None = None
    bound: bool = False


def task(pk: str, lane: Lane, order: float = 0.0) -> TaskRecord:
    return TaskRecord(
        pk=pk, numero_os=pk, status="PENDING", queue=lane.value, lane=lane.value,
        queue_order=order, created_at=0.0, updated_at=0.0,
    )  # fmt: skip


@dataclass
class Claims:
    """Waiting tasks by lane; a claim takes one (or fails when ``taken`` has it)."""

    waiting: dict[Lane, list[TaskRecord]] = field(default_factory=dict)
    bindings: dict[str, str] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)
    turn: int = 0
    turns_read: int = 0

    def bound(self, message_id: str) -> str | None:
        return self.bindings.get(message_id)

    def resume(self, task_id: str) -> TaskRecord | None:
        return None if task_id in self.taken else task(task_id, Lane.STANDARD)

    def heads(self, limit: int) -> dict[Lane, list[TaskRecord]]:
        return {
            lane: [t for t in self.waiting.get(lane, []) if t.pk not in self.taken][:limit]
            for lane in Lane
        }

    def next_turn(self) -> int:
        self.turns_read += 1
        value, self.turn = self.turn, self.turn + 1
        return value

    def claim(self, message_id: str, candidate: TaskRecord) -> Result:
        if message_id in self.bindings:
            return Result(bound=True)
        if candidate.pk in self.taken:
            return Result()
        self.taken.add(candidate.pk)
        self.bindings[message_id] = candidate.pk
        return Result(candidate)

    def claim_named(self, message_id: str, task_id: str) -> Result:
        if task_id in self.taken:
            return Result()
        return self.claim(message_id, task(task_id, Lane.STANDARD))


def test_a_vip_task_is_claimed_first_and_a_single_lane_costs_no_turn():
    claims = Claims({Lane.STANDARD: [task("s1", Lane.STANDARD)]})
    scheduler = Scheduler(claims)
    assert scheduler.claim("m1", None).task.pk == "s1"
    assert claims.turns_read == 0  # only one lane waited: no turn needed
    claims.waiting = {Lane.VIP: [task("v1", Lane.VIP)], Lane.STANDARD: [task("s2", Lane.STANDARD)]}
    assert scheduler.claim("m2", None).task.pk == "v1"


def test_claims_follow_the_turns_so_standard_and_batch_get_their_shares():
    vip = [task(f"v{i}", Lane.VIP) for i in range(20)]
    standard = [task(f"s{i}", Lane.STANDARD) for i in range(20)]
    batch = [task(f"b{i}", Lane.BATCH) for i in range(20)]
    claims = Claims({Lane.VIP: vip, Lane.STANDARD: standard, Lane.BATCH: batch})
    scheduler = Scheduler(claims, Shares())
    lanes = [scheduler.claim(f"m{i}", None).task.pk[0] for i in range(10)]
    assert lanes.count("v") == 6 and lanes.count("s") == 3 and lanes.count("b") == 1


def test_a_message_that_comes_back_runs_the_task_it_was_claimed_for():
    claims = Claims({Lane.VIP: [task("v1", Lane.VIP)]}, bindings={"m1": "r1"})
    claimed = Scheduler(claims).claim("m1", None)
    assert claimed.how is How.RESUMED and claimed.task.pk == "r1"
    claims.taken.add("r1")  # finished, or running in another delivery
    assert Scheduler(claims).claim("m1", None).how is How.BOUND_DONE


def test_when_another_worker_took_the_heads_the_next_waiting_task_is_claimed():
    waiting = [task(f"s{i}", Lane.STANDARD, i) for i in range(6)]
    claims = Claims({Lane.STANDARD: waiting}, taken={"s0", "s1", "s2", "s3"})
    assert Scheduler(claims).claim("m1", None).task.pk == "s4"


def test_a_message_that_finds_nothing_in_the_index_claims_the_task_it_names_or_is_idle():
    claims = Claims()
    claimed = Scheduler(claims).claim("m1", "own")
    assert claimed.how is How.NAMED and claimed.task.pk == "own"
    assert Scheduler(claims).claim("m2", "own").how is How.IDLE
    assert Scheduler(claims).claim("m3", None).how is How.IDLE


def test_a_first_delivery_skips_the_claim_read_but_a_concurrent_one_is_caught():
    claims = Claims({Lane.STANDARD: [task("s1", Lane.STANDARD)]}, bindings={"m1": "r1"})
    # A first delivery does not read its claim: a duplicate delivery of a message already
    # claimed fails on the claim's condition and then finds what it runs
    claimed = Scheduler(claims).claim("m1", None, first_delivery=True)
    assert claimed.how is How.RESUMED and claimed.task.pk == "r1"
