"""S3-compatible object storage (boto3) for the document store: one object per document, keyed by its SHA-256.

Any service that speaks the S3 protocol works (AWS, MinIO, Ceph, a local moto server in the tests). Objects are
written with the configured server-side encryption; documents that must be kept (fiscal ones) get an Object Lock
retention when the bucket has Object Lock enabled (read once per process from the bucket's configuration).
"""

import logging
import threading
from datetime import datetime
from typing import BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)

StorageError = (BotoCoreError, ClientError)  # what a failing bucket raises: the callers catch these
LOCK_MODES = {"GOVERNANCE", "COMPLIANCE"}
SSE_MODES = {"", "AES256", "aws:kms"}


class S3Store:
    """The `s3` document store backend."""

    name = "s3"

    def __init__(self, *, bucket: str, prefix: str = "", endpoint_url: str = "", region: str = "",
                 access_key_id: str = "", secret_access_key: str = "", sse: str = "", kms_key_id: str = "",
                 lock_mode: str = "GOVERNANCE", timeout: float = 10.0) -> None:
        if not bucket:
            raise RuntimeError("DOCUMENT_STORE=s3 needs DOCUMENT_STORE_S3_BUCKET")
        if sse not in SSE_MODES:
            raise RuntimeError(f"DOCUMENT_STORE_S3_SSE must be AES256, aws:kms or empty, not {sse!r}")
        if lock_mode not in LOCK_MODES:
            raise RuntimeError(f"DOCUMENT_RETENTION_MODE must be GOVERNANCE or COMPLIANCE, not {lock_mode!r}")
        self.bucket = bucket
        self.prefix = prefix
        self.sse = sse
        self.kms_key_id = kms_key_id
        self.lock_mode = lock_mode
        credentials = {}
        if access_key_id:  # else boto3's usual chain: AWS_* variables, the profile, the instance role
            credentials = {"aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key}
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None,
            config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2},
                          signature_version="s3v4"),  # SigV4 presigned URLs (SigV2 is retired)
            **credentials)
        self._lock_enabled: bool | None = None
        self._guard = threading.Lock()

    def key(self, sha256: str) -> str:
        return f"{self.prefix}{sha256}"

    def object_lock_enabled(self) -> bool:
        """Whether the bucket has Object Lock on (asked once; a bucket cannot turn it off afterwards)."""
        with self._guard:
            if self._lock_enabled is None:
                try:
                    found = self.client.get_object_lock_configuration(Bucket=self.bucket)
                    enabled = found.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") not in {
                            "ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound"}:
                        raise
                    enabled = False
                if not enabled:
                    log.warning("bucket %s has no Object Lock: fiscal documents are stored without retention",
                                self.bucket)
                self._lock_enabled = enabled
            return self._lock_enabled

    def put(self, sha256: str, content: bytes, content_type: str, retain_until: datetime | None) -> None:
        if self.exists(sha256):
            return  # content-addressed: the same key always holds the same bytes
        extra: dict = {"ContentType": content_type}
        if self.sse:
            extra["ServerSideEncryption"] = self.sse
            if self.sse == "aws:kms" and self.kms_key_id:
                extra["SSEKMSKeyId"] = self.kms_key_id
        if retain_until is not None and self.object_lock_enabled():
            extra["ObjectLockMode"] = self.lock_mode
            extra["ObjectLockRetainUntilDate"] = retain_until
        self.client.put_object(Bucket=self.bucket, Key=self.key(sha256), Body=content, **extra)

    def open(self, sha256: str) -> BinaryIO:
        """The object's body as a stream (read in chunks; nothing is buffered whole). FileNotFoundError if absent."""
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))["Body"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise FileNotFoundError(self.key(sha256)) from None
            raise

    def exists(self, sha256: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def check(self) -> None:
        """Raises when the bucket cannot be reached (readiness)."""
        self.client.head_bucket(Bucket=self.bucket)

    def presigned_url(self, sha256: str, *, content_type: str, disposition: str, seconds: int) -> str:
        return self.client.generate_presigned_url("get_object", ExpiresIn=seconds, Params={
            "Bucket": self.bucket, "Key": self.key(sha256), "ResponseContentType": content_type,
            "ResponseContentDisposition": disposition})


def from_config(config) -> S3Store:
    return S3Store(
        bucket=config["DOCUMENT_STORE_S3_BUCKET"], prefix=config["DOCUMENT_STORE_S3_PREFIX"],
        endpoint_url=config["DOCUMENT_STORE_S3_ENDPOINT_URL"], region=config["DOCUMENT_STORE_S3_REGION"],
        access_key_id=config["DOCUMENT_STORE_S3_ACCESS_KEY_ID"],
        secret_access_key=config["DOCUMENT_STORE_S3_SECRET_ACCESS_KEY"],
        sse=config["DOCUMENT_STORE_S3_SSE"], kms_key_id=config["DOCUMENT_STORE_S3_KMS_KEY_ID"],
        lock_mode=config["DOCUMENT_RETENTION_MODE"], timeout=config["DOCUMENT_STORE_S3_TIMEOUT"])
