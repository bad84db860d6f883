"""Session-wide test set-up, as pytest plugins: the real infrastructure (``tests.infra``: Postgres, Kafka,
S3, service processes; started only when a test asks for it) and the whole running system
(``tests.system``, shared by the end-to-end and browser tests). Both are importable modules."""

pytest_plugins = ["tests.infra", "tests.system"]
