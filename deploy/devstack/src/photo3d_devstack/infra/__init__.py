"""Launchers for the real local servers the stack needs: Postgres, a Kafka-protocol broker, S3 storage."""

from .kafka import S3Storage, TansuBroker, kafka_answers
from .objectstore import SeaweedFS, SeaweedPorts, s3_client
from .postgres import EmbeddedPostgres

__all__ = [
    "EmbeddedPostgres",
    "S3Storage",
    "SeaweedFS",
    "SeaweedPorts",
    "TansuBroker",
    "kafka_answers",
    "s3_client",
]
