"""What `photo3d run` decides before starting anything: which infrastructure to start, which services exist."""

from __future__ import annotations

from photo3d_devstack import config
from photo3d_devstack.config import ServiceSpec
from photo3d_devstack.stack import service_environment, start_infrastructure


def test_infrastructure_given_by_the_environment_is_used_not_started(tmp_path) -> None:
    environ = {
        "DATABASE_URL": "postgresql://app@db.example:5432/photo3d",
        "KAFKA_BOOTSTRAP_SERVERS": "kafka.example:9092",
        "S3_ENDPOINT_URL": "https://account.r2.cloudflarestorage.com",
        "S3_ACCESS_KEY_ID": "key",
        "S3_SECRET_ACCESS_KEY": "secret",
        "S3_BUCKET": "prod-bucket",
    }
    infra = start_infrastructure(environ, var_dir=tmp_path)
    assert infra.servers == []
    assert len(infra.external) == 3
    assert infra.env["DATABASE_URL"] == environ["DATABASE_URL"]
    assert infra.env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka.example:9092"
    assert infra.env["S3_ENDPOINT_URL"] == environ["S3_ENDPOINT_URL"]
    assert (infra.env["S3_ACCESS_KEY_ID"], infra.env["S3_BUCKET"]) == ("key", "prod-bucket")
    assert list(tmp_path.iterdir()) == [], "nothing may be written when nothing is started"


def test_services_get_dev_auth_defaults_but_keep_what_the_caller_set() -> None:
    env = service_environment(
        {"AUTH_JWT_SECRET": "mine-and-long-enough-for-hs256-signing"}, {"DATABASE_URL": "x"}
    )
    assert env["AUTH_JWT_SECRET"] == "mine-and-long-enough-for-hs256-signing"
    assert env["AUTH_DEV_TOKENS_ENABLED"] == "true"
    assert env["DATABASE_URL"] == "x"
    assert service_environment({}, {})["AUTH_JWT_SECRET"] == config.DEV_JWT_SECRET


def test_a_service_is_runnable_only_with_a_main() -> None:
    assert ServiceSpec("cli", "photo3d_devstack").available()  # a package with __main__
    assert ServiceSpec("module", "http.server").available()  # a plain module
    assert not ServiceSpec("pkg", "photo3d_devstack.infra").available()  # a package without __main__
    assert not ServiceSpec("absent", "photo3d_not_written_yet").available()
    assert not ServiceSpec("absent-child", "photo3d_not_written_yet.sub").available()


def test_ports_and_services_are_those_of_the_contracts() -> None:
    ports = {spec.name: spec.port for spec in config.SERVICES}
    assert ports == {"status": 8000, "upload": 8001, "bgremoval": None, "generation": None}
    assert (config.POSTGRES_PORT, config.KAFKA_PORT, config.S3_PORT) == (54329, 19092, 8333)
