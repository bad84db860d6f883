"""The ``photo3d deploy`` and ``photo3d rollback`` commands (the runbook: deploy/README.md).

photo3d deploy ENV [--version V] [--reset-db | --no-reset-db]   the six steps
photo3d deploy ENV --ui-off [--notice TEXT] | --ui-on           the creation switch only (no deployment)
photo3d deploy status ENV                                       deployment history, processes, backups
photo3d deploy down ENV                                         stop the environment's services (data kept)
photo3d rollback ENV [--to VERSION]                             restore the backup, previous version, smoke
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from .environment import EnvironmentError_, load_environment
from .pipeline import DeployFailed

ACTIONS = ("status", "down")


def _quiet_libraries() -> None:
    # one line per HTTP request of the smoke test's polling would bury the steps
    for name in ("httpx", "httpcore", "botocore", "boto3", "s3transfer"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _say(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    deploy = sub.add_parser(
        "deploy",
        help="deploy to an environment: pre-flight, backup, database reset, roll-out, smoke test, record",
        description="photo3d deploy ENV | photo3d deploy status ENV | photo3d deploy down ENV",
    )
    deploy.add_argument("target", nargs="+", metavar="ENV", help="the environment (deploy/envs/ENV.env), "
                        "or 'status ENV' / 'down ENV'")  # fmt: skip
    deploy.add_argument("--env-file", help="settings file instead of deploy/envs/ENV.env")
    deploy.add_argument("--version", help="release tag or git commit (default: this checkout's)")
    reset = deploy.add_mutually_exclusive_group()
    reset.add_argument("--reset-db", dest="reset_db", action="store_true", default=None,
                       help="drop and recreate the schema (default for staging; refused for production)")  # fmt: skip
    reset.add_argument("--no-reset-db", dest="reset_db", action="store_false",
                       help="apply migrations forward only, keep the data")  # fmt: skip
    ui = deploy.add_mutually_exclusive_group()
    ui.add_argument("--ui-off", action="store_true", help="only switch model creation off (no deployment)")
    ui.add_argument("--ui-on", action="store_true", help="only switch model creation back on")
    deploy.add_argument("--notice", help="with --ui-off: the notice users see")
    deploy.set_defaults(func=cmd_deploy)

    rollback = sub.add_parser(
        "rollback", help="undo the last deployment: restore its backup, run the previous version, smoke test"
    )
    rollback.add_argument("environment", metavar="ENV")
    rollback.add_argument("--env-file", help="settings file instead of deploy/envs/ENV.env")
    rollback.add_argument(
        "--to", dest="to_version", help="go back to this version (default: the previous one)"
    )
    rollback.set_defaults(func=cmd_rollback)


def cmd_deploy(args: argparse.Namespace) -> int:
    from . import pipeline

    _quiet_libraries()
    action, names = (
        ("deploy", args.target) if args.target[0] not in ACTIONS else (args.target[0], args.target[1:])
    )
    if len(names) != 1:
        print(
            "photo3d deploy: name one environment (photo3d deploy ENV, photo3d deploy status ENV)",
            file=sys.stderr,
        )
        return 2
    try:
        environment = load_environment(names[0], env_file=args.env_file)
        if action == "status":
            for line in pipeline.status_lines(environment):
                print(line)
            return 0
        if action == "down":
            from .runtimes import runtime_for

            runtime_for(environment).down(_say)
            return 0
        if args.ui_off or args.ui_on:
            return _flip_switch(environment, enabled=args.ui_on, notice=args.notice)
        pipeline.deploy(environment, version=args.version, reset_db=args.reset_db, say=_say)
        return 0
    except (EnvironmentError_, DeployFailed) as error:
        _say(f"FAILED: {error}")
        return 1


def _flip_switch(environment, *, enabled: bool, notice: str | None) -> int:
    from photo3d_status.creation_switch import CreationSwitch

    from . import switch

    url = environment.settings.get("DATABASE_URL")
    if not url:
        _say("FAILED: DATABASE_URL is not set for this environment")
        return 1
    if switch.read(url) is None:
        _say(f"FAILED: {environment.name}'s database has no creation switch yet (deploy it first)")
        return 1
    state = switch.write(url, CreationSwitch(enabled=enabled, notice=notice))
    verdict = "on" if state.enabled else f"off, notice: {state.notice!r}"
    _say(
        f"{environment.name}: model creation is {verdict} (the services pick it up within seconds, no restart)"
    )
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from . import pipeline

    _quiet_libraries()
    try:
        environment = load_environment(args.environment, env_file=args.env_file)
        pipeline.rollback(environment, to_version=args.to_version, say=_say)
        return 0
    except (EnvironmentError_, DeployFailed) as error:
        _say(f"FAILED: {error}")
        return 1
