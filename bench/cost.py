"""A cost model from the measured calls and durations, at AWS on-demand list prices.

Prices: us-east-1, on-demand, as listed on the AWS pricing pages below in 2025 (the
README's cost section uses the same); check them before relying on the figures.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CELERY_INSTANCES", "PRICES", "CostModel", "celery_monthly"]

PRICES_AS_OF = "2025 list prices (aws.amazon.com/<service>/pricing), us-east-1, on demand"

#: (price in USD, unit, source page)
PRICES: dict[str, tuple[float, str, str]] = {
    "lambda_request": (0.20e-6, "request", "aws.amazon.com/lambda/pricing"),
    "lambda_gb_second": (0.0000166667, "GB-second (x86)", "aws.amazon.com/lambda/pricing"),
    "apigw_rest": (3.50e-6, "REST request", "aws.amazon.com/api-gateway/pricing"),
    "apigw_ws_message": (1.00e-6, "WebSocket message", "aws.amazon.com/api-gateway/pricing"),
    "sqs_request": (0.40e-6, "request (standard)", "aws.amazon.com/sqs/pricing"),
    "ddb_wru": (0.625e-6, "write request unit", "aws.amazon.com/dynamodb/pricing/on-demand"),
    "ddb_rru": (0.125e-6, "read request unit", "aws.amazon.com/dynamodb/pricing/on-demand"),
    "logs_gb": (0.50, "GB of logs ingested", "aws.amazon.com/cloudwatch/pricing"),
    "secret_month": (0.40, "secret-month", "aws.amazon.com/secrets-manager/pricing"),
    "kms_key_month": (1.00, "customer managed key-month", "aws.amazon.com/kms/pricing"),
    "alarm_month": (0.10, "alarm metric-month beyond 10", "aws.amazon.com/cloudwatch/pricing"),
}

#: Smallest always-on AWS capacity that runs the seed: Redis + 2 Celery workers
#: (USD per hour, source). EBS gp3 is $0.08 per GB-month.
CELERY_INSTANCES: dict[str, tuple[float, str]] = {
    "EC2 t4g.small (2 vCPU, 2 GiB): Redis + both workers": (
        0.0168,
        "aws.amazon.com/ec2/pricing/on-demand",
    ),
    "ElastiCache cache.t4g.micro (Redis)": (0.016, "aws.amazon.com/elasticache/pricing"),
}
HOURS_PER_MONTH = 730
EBS_GB_MONTH = 0.08


def price(key: str) -> float:
    return PRICES[key][0]


@dataclass(frozen=True)
class Operation:
    """What one operation costs in requests, capacity units and Lambda time."""

    lambda_seconds: float = 0.0
    memory_gb: float = 0.5
    invocations: int = 0
    rest_requests: int = 0
    ws_messages: int = 0
    sqs_requests: int = 0
    wru: float = 0.0
    rru: float = 0.0
    log_kb: float = 0.0

    def dollars(self) -> float:
        return (
            self.invocations * price("lambda_request")
            + self.lambda_seconds * self.memory_gb * price("lambda_gb_second")
            + self.rest_requests * price("apigw_rest")
            + self.ws_messages * price("apigw_ws_message")
            + self.sqs_requests * price("sqs_request")
            + self.wru * price("ddb_wru")
            + self.rru * price("ddb_rru")
            + self.log_kb / 1024 / 1024 * price("logs_gb")
        )


@dataclass(frozen=True)
class CostModel:
    """Per lookup: a hit, or a miss (enqueue + one scrape + its notifications)."""

    hit: Operation
    miss_api: Operation
    scrape: Operation

    def per_million(self, hit_ratio: float) -> float:
        miss = self.miss_api.dollars() + self.scrape.dollars()
        return 1_000_000 * (hit_ratio * self.hit.dollars() + (1 - hit_ratio) * miss)


def idle_monthly(queues: int = 4, receives_per_queue: float = 0.6e6) -> dict[str, float]:
    """raspa deployed and unused, per month (README's estimate of Lambda's empty receives)."""
    receives = max(0.0, queues * receives_per_queue - 1e6)  # first million free
    return {
        "KMS key (alerts topic)": price("kms_key_month"),
        "portal secret": price("secret_month"),
        "alarms beyond the free 10 (11 metrics)": price("alarm_month"),
        f"SQS empty receives ({queues} polled queues, 1M free)": receives * price("sqs_request"),
    }


def celery_monthly() -> dict[str, float]:
    """The seed on the smallest always-on instances: one t4g.small with Redis and both
    workers (+ 8 GB gp3), or the workers there and Redis on ElastiCache."""
    ec2, cache = (rate for rate, _ in CELERY_INSTANCES.values())
    disk = 8 * EBS_GB_MONTH
    return {
        "one EC2 t4g.small (Redis + workers) + 8 GB gp3": ec2 * HOURS_PER_MONTH + disk,
        "EC2 t4g.small (workers) + ElastiCache t4g.micro": (ec2 + cache) * HOURS_PER_MONTH + disk,
    }
