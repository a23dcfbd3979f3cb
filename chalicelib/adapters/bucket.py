"""S3 adapter for batch files and their results. ClientError → BucketError."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import BucketError, FileTooLargeError, ObjectMissingError

__all__ = ["BatchBucket", "attachment"]


def attachment(filename: str) -> str:
    """A Content-Disposition for ``filename``: an ASCII fallback, and the UTF-8 name as
    RFC 6266 says (headers are Latin-1; "relatório" or "報告" must survive)."""
    fallback = "".join(c if " " <= c < "\x7f" and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class BatchBucket:
    """Reads uploads, writes results and signs URLs for one bucket."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def read(self, key: str, max_bytes: int) -> bytes:
        """The object's bytes; FileTooLargeError beyond ``max_bytes`` (checked before reading)."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            size = int(response.get("ContentLength") or 0)
            if size > max_bytes:
                response["Body"].close()
                raise FileTooLargeError(size, max_bytes)
            return response["Body"].read(max_bytes + 1)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ObjectMissingError(f"{key} does not exist") from exc
            raise BucketError(f"reading {key} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise BucketError(f"reading {key} failed: {exc}") from exc

    def write(self, key: str, body: bytes, content_type: str) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        except (ClientError, BotoCoreError) as exc:
            raise BucketError(f"writing {key} failed: {exc}") from exc

    def upload_url(self, key: str, size: int, content_type: str, expires_in: int) -> str:
        """A presigned PUT for exactly ``size`` bytes of ``content_type``."""
        return self._sign(
            "put_object",
            {"Bucket": self.bucket, "Key": key, "ContentLength": size, "ContentType": content_type},
            expires_in,
        )

    def download_url(self, key: str, filename: str, expires_in: int) -> str:
        return self._sign(
            "get_object",
            {"Bucket": self.bucket, "Key": key, "ResponseContentDisposition": attachment(filename)},
            expires_in,
        )

    def _sign(self, operation: str, params: dict[str, Any], expires_in: int) -> str:
        try:
            return self.client.generate_presigned_url(
                operation, Params=params, ExpiresIn=expires_in
            )
        except (ClientError, BotoCoreError) as exc:
            raise BucketError(f"signing a URL failed: {exc}") from exc
