"""Command line: ``junction serve | migrate | keys``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from junction.config import Settings, load_settings
from junction.store.db import Database, DatabaseUnavailable, connect
from junction.store.migrate import migrate
from junction.store.projects import ProjectStore


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="junction.toml to read")
    parser.add_argument(
        "--unsafe-sandbox",
        action="store_true",
        help="DANGER: run environment code directly on this host, without any isolation "
        "(only for trusted code on a machine without bubblewrap)",
    )
    parser.add_argument("--data-dir", type=Path, help="where the embedded database lives")
    parser.add_argument("--database-url", help="sqlite:///path or postgresql://… URL")


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    if getattr(args, "unsafe_sandbox", False):
        logging.getLogger("junction").warning(
            "--unsafe-sandbox: code in environments runs on this host WITHOUT isolation"
        )
        extra["sandbox_backend"] = "unsafe-local"
    settings = load_settings(
        config_file=args.config,
        overrides={"data_dir": args.data_dir, "database_url": args.database_url, **extra},
    )
    from junction.observe.logs import configure_logging

    configure_logging(settings)
    return settings


async def _with_db(settings: Settings, work: Callable[[Database], Awaitable[int]]) -> int:
    db = await connect(settings.resolved_database_url)
    try:
        await migrate(db)
        return await work(db)
    finally:
        await db.close()


async def _ready(db: Database) -> int:
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from junction.api.app import create_app
    from junction.api.http_server import server_config

    workers = 0 if args.no_worker else args.workers
    settings = _settings(args, host=args.host, port=args.port, workers=workers)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(_with_db(settings, _ready))  # a missing database: created, or one line
    logging.getLogger("junction").info(
        "Junction on http://%s:%d (database %s)",
        settings.host,
        settings.port,
        settings.resolved_database_url.split("@")[-1],
    )
    app = create_app(settings)
    app.state.settle_gc = True  # this process serves until it stops: gc_tuning.settle
    config = server_config(
        app,
        settings,
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level="warning",
        loop="uvloop",
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    import signal

    from junction.gc_tuning import settle
    from junction.system import open_system

    settings = _settings(args, workers=args.workers)
    if settings.workers <= 0:
        print("junction worker needs --workers of at least 1", file=sys.stderr)
        return 2

    async def run() -> int:
        from junction.observe.telemetry import open_telemetry

        telemetry = open_telemetry(settings)
        system = await open_system(settings, api=False, telemetry=telemetry)
        settle()
        metrics_server = None
        if telemetry.metrics is not None and settings.metrics_port:
            metrics_server = telemetry.metrics.serve(settings.host, settings.metrics_port)
            system.interactions.start_queue_sampler()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        logging.getLogger("junction").info(
            "worker %s running up to %d interactions at once",
            system.interactions.runs.owner,
            settings.workers,
        )
        try:
            await stop.wait()
        finally:
            await system.close()
            if metrics_server is not None:
                metrics_server.shutdown()
            telemetry.close()
        return 0

    try:
        import uvloop

        return uvloop.run(run())
    except ImportError:
        return asyncio.run(run())


def cmd_migrate(args: argparse.Namespace) -> int:
    async def work(db: Database) -> int:
        print(f"schema is up to date on {db.dialect}")
        return 0

    return asyncio.run(_with_db(_settings(args), work))


def cmd_keys(args: argparse.Namespace) -> int:
    async def work(db: Database) -> int:
        projects = ProjectStore(db)
        project_id = await projects.ensure_project(args.project)
        if args.action == "create":
            key_id, key = await projects.create_key(project_id, args.name)
            print(f"{key_id}\t{key}")
            print("store this key now: it is not shown again", file=sys.stderr)
        elif args.action == "list":
            for row in await projects.list_keys(project_id):
                state = f"revoked {row['revoked']}" if row["revoked"] else "active"
                print(
                    f"{row['id']}\t{row['prefix']}…\t{row['name'] or ''}\t{row['created']}\t{state}"
                )
        else:
            if not args.key_id:
                print("keys revoke needs the key id (see 'junction keys list')", file=sys.stderr)
                return 2
            if not await projects.revoke_key(project_id, args.key_id):
                print(f"no active key {args.key_id} in project {args.project}", file=sys.stderr)
                return 1
            print(f"revoked {args.key_id}")
        return 0

    return asyncio.run(_with_db(_settings(args), work))


def cmd_webhook_keys(args: argparse.Namespace) -> int:
    """RS256 keys signing dynamic-webhook deliveries (docs/webhooks.md)."""
    from cryptography.fernet import Fernet

    from junction.notify.keys import SigningKeys
    from junction.runtime.credentials import load_key

    settings = _settings(args)

    async def work(db: Database) -> int:
        key = load_key(settings)
        keys = SigningKeys(db, Fernet(key) if key else None)
        if args.action == "rotate":
            if key is None:
                print("webhook signing keys need JUNCTION_SECRET_KEY", file=sys.stderr)
                return 1
            try:
                kid = await keys.rotate()
            except RuntimeError as exc:
                print(exc, file=sys.stderr)
                return 1
            print(f"new signing key {kid}; older keys stay in the JWKS")
        elif args.action == "prune":
            print(f"removed {await keys.rows.delete_retired()} retired keys from the JWKS")
        else:
            for row in await keys.rows.all():
                print(f"{row['kid']}\t{row['state']}\t{row['created']}")
        return 0

    return asyncio.run(_with_db(settings, work))


def cmd_projects(args: argparse.Namespace) -> int:
    from junction.retention import cli as projects_cli

    settings = _settings(args)
    return asyncio.run(_with_db(settings, lambda db: projects_cli.run(args, settings, db)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="junction", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API server (migrates the database first)")
    _common(serve)
    serve.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080)")
    serve.add_argument(
        "--workers", type=int, help="background interactions run at once in this process"
    )
    serve.add_argument(
        "--no-worker", action="store_true", help="API only: leave background runs to workers"
    )
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run background interactions (no HTTP API)")
    _common(worker)
    worker.add_argument("--workers", type=int, help="interactions run at once (default 32)")
    worker.set_defaults(func=cmd_worker)

    mig = sub.add_parser("migrate", help="apply database migrations and exit")
    _common(mig)
    mig.set_defaults(func=cmd_migrate)

    keys = sub.add_parser("keys", help="manage API keys of a project")
    _common(keys)
    keys.add_argument("action", choices=["create", "list", "revoke"])
    keys.add_argument("key_id", nargs="?", help="the key to revoke")
    keys.add_argument("--project", default="default", help="project name (default: default)")
    keys.add_argument("--name", help="a label for a new key")
    keys.set_defaults(func=cmd_keys)

    wkeys = sub.add_parser("webhook-keys", help="list, rotate or prune dynamic-webhook JWT keys")
    _common(wkeys)
    wkeys.add_argument("action", choices=["list", "rotate", "prune"])
    wkeys.set_defaults(func=cmd_webhook_keys)

    from junction.retention import cli as projects_cli

    projects_cli.add_parser(sub, _common)
    sub.choices["projects"].set_defaults(func=cmd_projects)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2", "google_genai", "mcp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except DatabaseUnavailable as exc:
        print(f"junction: {exc}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
