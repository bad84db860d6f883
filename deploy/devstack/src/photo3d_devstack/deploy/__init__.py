"""Staging deployment in one step (``photo3d deploy ENV``), rollback (``photo3d rollback ENV``), backups,
the database reset, the smoke test and the creation switch. The runbook is deploy/README.md."""
