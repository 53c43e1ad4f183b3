"""``junction projects …``: operators' commands for retention, export and deletion."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from junction import ids, jsonutil
from junction.config import Settings
from junction.media.retention import MediaRetention
from junction.media.service import MediaService
from junction.media.setup import open_blob_store
from junction.retention.export import export_lines
from junction.retention.service import RetentionService
from junction.runtime.credentials import CredentialService
from junction.runtime.environments import EnvironmentService
from junction.store.db import Database
from junction.store.projects import ProjectStore

#: option name -> (policy field, factor to the stored unit)
RETENTION_OPTIONS = {
    "interactions_days": ("interactions_days", 1.0),
    "events_days": ("events_days", 1.0),
    "media_days": ("media_days", 1.0),
    "environment_idle_hours": ("environment_idle_seconds", 3600.0),
}


def add_parser(sub: Any, common: Any) -> None:
    projects = sub.add_parser(
        "projects", help="projects: retention periods, purge, export and deletion"
    )
    common(projects)
    projects.add_argument(
        "action",
        choices=["list", "show", "set-retention", "purge", "export", "delete"],
        help="list | show NAME | set-retention NAME [--…] | purge [NAME] | export NAME "
        "[--output FILE] | delete NAME --yes",
    )
    projects.add_argument("name", nargs="?", help="the project's name")
    for option in RETENTION_OPTIONS:
        projects.add_argument(
            "--" + option.replace("_", "-"),
            help="a number (0 keeps forever) or 'default' to clear the project's override",
        )
    projects.add_argument("--output", help="export: write here instead of standard output")
    projects.add_argument("--yes", action="store_true", help="delete: yes, really")


def _value(text: str, factor: float) -> float | None:
    if text.lower() == "default":
        return None
    number = float(text)
    if number < 0:
        raise ValueError("retention periods are 0 (keep forever) or positive")
    return number * factor


async def run(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    projects = ProjectStore(db)
    environments = EnvironmentService(db, settings, CredentialService(db, settings))
    retention = RetentionService(db, settings, environments)
    retention.hooks.append(MediaRetention(MediaService(db, open_blob_store(settings))))
    try:
        return await _run(args, projects, retention)
    finally:
        await environments.aclose()


async def _project(projects: ProjectStore, name: str | None) -> str | None:
    if not name:
        print("name the project (see 'junction projects list')", file=sys.stderr)
        return None
    row = await projects.db.fetchone("SELECT id FROM projects WHERE name = $1", name)
    if row is None:
        print(f"no project named '{name}'", file=sys.stderr)
        return None
    return str(row["id"])


async def _run(
    args: argparse.Namespace, projects: ProjectStore, retention: RetentionService
) -> int:
    if args.action == "list":
        for row in await retention.rows.projects():
            policy = retention.policy_of(row)
            print(f"{row['name']}\t{row['id']}\t{jsonutil.dumps(policy.to_dict())}")
        return 0
    if args.action == "purge" and not args.name:
        print(jsonutil.dumps(dict(await retention.purge_all())))
        return 0
    project_id = await _project(projects, args.name)
    if project_id is None:
        return 1
    if args.action == "show":
        print(jsonutil.dumps((await retention.policy(project_id)).to_dict()))
    elif args.action == "set-retention":
        values: dict[str, float | None] = {}
        try:
            for option, (field, factor) in RETENTION_OPTIONS.items():
                text = getattr(args, option)
                if text is not None:
                    values[field] = _value(text, factor)
        except ValueError as exc:
            print(f"set-retention: {exc}", file=sys.stderr)
            return 2
        if not values:
            print(
                "set-retention needs at least one of: --interactions-days, --events-days, "
                "--media-days, --environment-idle-hours",
                file=sys.stderr,
            )
            return 2
        await retention.rows.set_policy(project_id, values, ids.now_iso())
        print(jsonutil.dumps((await retention.policy(project_id)).to_dict()))
    elif args.action == "purge":
        print(jsonutil.dumps(dict(await retention.purge_project(project_id))))
    elif args.action == "export":
        out = open(args.output, "wb") if args.output else sys.stdout.buffer
        try:
            async for chunk in export_lines(retention.db, project_id):
                out.write(chunk)
        finally:
            if args.output:
                out.close()
            else:
                out.flush()
    else:  # delete
        if not args.yes:
            print(
                f"this deletes project '{args.name}', its keys and all its data: repeat with --yes",
                file=sys.stderr,
            )
            return 2
        deleted = await retention.delete_project_data(project_id)
        deleted["api_keys"] = await retention.rows.delete_all("api_keys", project_id)
        await projects.db.execute("DELETE FROM projects WHERE id = $1", project_id)
        print(jsonutil.dumps(deleted))
    return 0
