"""The `amber` command."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from amber_cli import stack as processes
from amber_cli.config import SERVICES, ClientSettings, StackSettings

app = typer.Typer(help="Amber digital preservation: run the stack, ingest material, manage API keys.",
                  no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys of the gateway.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
users_app = typer.Typer(help="Manage users of the gateway and their roles (reader, archivist, admin).",
                        no_args_is_help=True)
app.add_typer(users_app, name="users")
console = Console()

DataDirOption = Annotated[Path | None, typer.Option("--data-dir", envvar="AMBER_DATA_DIR",
                                                    help="Data directory (default ~/.amber).")]


def stack_settings(data_dir: Path | None) -> StackSettings:
    return StackSettings(data_dir=data_dir) if data_dir else StackSettings()


def _gateway_settings(stack: StackSettings):  # type: ignore[no-untyped-def]
    from gateway.settings import GatewaySettings

    return GatewaySettings(data_dir=stack.data_dir)


def _print_urls(stack: StackSettings) -> None:
    table = Table(title="Amber is up", show_header=True)
    table.add_column("component")
    table.add_column("address")
    table.add_row("gateway (API)", f"{stack.url('gateway')}/api/v1  (docs: {stack.url('gateway')}/docs)")
    table.add_row("dashboard", f"{stack.url('gateway')}/dashboard/  (sign in with a username and API key)")
    for service in SERVICES:
        table.add_row(service, stack.url(service))
    table.add_row("temporal", stack.effective_temporal_address)
    table.add_row("data", str(stack.data_dir))
    console.print(table)
    if stack.credentials_file.exists():
        creds = json.loads(stack.credentials_file.read_text())
        console.print(f"Admin user: [bold]{creds['username']}[/]  API key: [bold]{creds['key']}[/]")
        console.print(f"(kept in {stack.credentials_file}; the CLI uses it by itself)")


def adopt_stack_env() -> None:
    """A process started by hand agrees with `amber up`'s on ports and peers; explicit variables still win."""
    for key, value in StackSettings().stack_env().items():
        os.environ.setdefault(key, value)


@app.command()
def up(data_dir: DataDirOption = None,
       timeout: Annotated[float, typer.Option(help="Seconds to wait for each component.")] = 90.0) -> None:
    """Start Temporal, the four services, the gateway and a worker in the background; wait until healthy."""
    stack = stack_settings(data_dir)
    stack.data_dir.mkdir(parents=True, exist_ok=True)
    processes.ensure_internal_token(stack)
    created = asyncio.run(_ensure_admin(stack))
    for component in processes.components(stack):
        if processes.healthy(stack, component):
            continue
        processes.start(stack, component)
        processes.wait_healthy(stack, component, timeout)
    if created:
        console.print("[green]Created the admin user and API key.[/]")
    _print_urls(stack)


async def _ensure_admin(stack: StackSettings) -> bool:
    from gateway.keys.admin import ensure_admin

    created = await ensure_admin(_gateway_settings(stack))
    if created is not None:
        username, key = created
        stack.credentials_file.write_text(json.dumps({"username": username, "key": key}))
        stack.credentials_file.chmod(0o600)
        return True
    return False


@app.command()
def down(data_dir: DataDirOption = None) -> None:
    """Stop every process `amber up` started."""
    stack = stack_settings(data_dir)
    # Workers first, Temporal last: in-flight activities are handed back before the server goes.
    names = processes.known_names(stack)
    phases = [[n for n in names if n.startswith("worker")],
              [n for n in names if not n.startswith("worker") and n != "temporal"],
              [n for n in names if n == "temporal"]]
    for phase in phases:
        for name in processes.stop_together(stack, phase):
            console.print(f"stopped {name}")
    console.print("Amber is down.")


@app.command()
def status(data_dir: DataDirOption = None) -> None:
    """Show each component's process and health."""
    stack = stack_settings(data_dir)
    table = Table(show_header=True)
    for column in ("component", "pid", "health"):
        table.add_column(column)
    all_ok = True
    for component in processes.components(stack):
        pid = processes.running_pid(stack, component.name)
        ok = processes.healthy(stack, component)
        all_ok = all_ok and ok
        table.add_row(component.name, str(pid or "-"), "[green]ok[/]" if ok else "[red]down[/]")
    console.print(table)
    raise typer.Exit(0 if all_ok else 1)


@app.command()
def worker(
    metrics_port: Annotated[int | None, typer.Option(
        help="Port of this worker's /metrics (default AMBER_INGEST_WORKER_METRICS_PORT, else 8010; 0: any).")] = None,
) -> None:
    """Run an ingest worker in the foreground (start any number, on any machine that sees the processing folder)."""
    from services.ingest.processing.worker import main
    from services.ingest.settings import IngestSettings

    adopt_stack_env()
    settings = IngestSettings()
    if metrics_port is not None:
        settings = settings.model_copy(update={"worker_metrics_port": metrics_port})
    main(settings)


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="transfer | ingest | metadata | storage | gateway")],
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
) -> None:
    """Run one service in the foreground (for deployments: one container or unit per service)."""
    import importlib

    if service not in (*SERVICES, "gateway"):
        raise typer.BadParameter(f"unknown service {service!r}")
    adopt_stack_env()
    module = importlib.import_module("gateway.main" if service == "gateway" else f"services.{service}.main")
    application = module.create_app()
    settings = application.state.settings
    from amber_cli.server import serve_app

    serve_app(application, host or settings.host, port or settings.port)


@app.command()
def ingest(
    path: Annotated[str, typer.Argument(help="A folder or archive on this machine, or with --location a path "
                                        "inside that server-side transfer source.")],
    name: Annotated[str | None, typer.Option(help="Transfer name (default: the folder or file name).")] = None,
    location: Annotated[str | None, typer.Option(help="UUID of a server-side transfer-source location.")] = None,
    wait: Annotated[bool, typer.Option(help="Follow the ingest until the AIP is stored or it fails.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most.")] = 24 * 3600.0,
    processing_config: Annotated[str, typer.Option(
        "--processing-config", metavar="NAME",
        help="The processing configuration answering the decision points (`automated` answers all; "
        "`default` waits for a person at several).",
    )] = "automated",
    data_dir: DataDirOption = None,
) -> None:
    """Start a transfer through the gateway; with --wait, show progress until the AIP is stored."""
    from amber_cli.ingest import IngestCommandError, run_ingest

    stack = stack_settings(data_dir)
    url, key = ClientSettings().resolve(stack)
    local = None if location else Path(path).expanduser().resolve()
    if local is not None and not local.exists():
        raise typer.BadParameter(f"{path} does not exist")
    default_name = Path(path.rstrip("/")).name
    for suffix in (".tar.gz", ".tgz", ".zip", ".tar"):
        if local is not None and local.is_file() and default_name.lower().endswith(suffix):
            default_name = default_name[: -len(suffix)]
            break
    try:
        code = asyncio.run(run_ingest(
            url=url, key=key, path=local, name=name or default_name, location=location,
            location_path=path if location else None, wait=wait, as_json=as_json, timeout=timeout,
            processing_config=processing_config,
        ))
    except IngestCommandError as exc:
        if as_json:
            print(json.dumps({"status": "failed", "error": str(exc)}))
        else:
            Console(stderr=True).print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    raise typer.Exit(code)


@app.command()
def decide(
    ingest_id: Annotated[str, typer.Argument(help="The ingest (AIP) UUID.")],
    point: Annotated[str, typer.Argument(help="The decision point it waits for, e.g. store_aip.")],
    choice: Annotated[str, typer.Argument(help="One of the choices it offers.")],
    data_dir: DataDirOption = None,
) -> None:
    """Answer the decision an ingest is waiting for; processing resumes."""
    from amber_cli.ingest import answer
    from servicekit.http import ServiceError

    url, key = ClientSettings().resolve(stack_settings(data_dir))
    try:
        ingest = asyncio.run(answer(url=url, key=key, ingest_uuid=ingest_id, point=point, choice=choice))
    except ServiceError as exc:
        Console(stderr=True).print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    console.print(f"{ingest.uuid}: {ingest.status.value}")


IngestIdArgument = Annotated[str, typer.Argument(help="The ingest (AIP) UUID.")]


def _call_gateway(data_dir: Path | None, call: Any, **kwargs: Any) -> Any:
    """Run one gateway call with the stack's URL and key; a refusal is printed and exits 2."""
    from servicekit.http import ServiceError

    url, key = ClientSettings().resolve(stack_settings(data_dir))
    try:
        return asyncio.run(call(url=url, key=key, **kwargs))
    except ServiceError as exc:
        Console(stderr=True).print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc


@app.command()
def cancel(ingest_id: IngestIdArgument, data_dir: DataDirOption = None) -> None:
    """Cancel a queued, running or waiting ingest; it says `cancelled` once its work has stopped."""
    from amber_cli.ingest import cancel as cancel_ingest

    ingest = _call_gateway(data_dir, cancel_ingest, ingest_uuid=ingest_id)
    console.print(f"{ingest.uuid}: {ingest.status.value}"
                  + ("" if ingest.status.value == "cancelled" else " (cancellation requested)"), soft_wrap=True)


@app.command()
def retry(ingest_id: IngestIdArgument, data_dir: DataDirOption = None) -> None:
    """Retry a failed or cancelled ingest from its kept transfer; prints the new ingest."""
    from amber_cli.ingest import retry as retry_ingest

    ingest = _call_gateway(data_dir, retry_ingest, ingest_uuid=ingest_id)
    console.print(f"{ingest.uuid}: {ingest.status.value} (retry of {ingest.retry_of})", soft_wrap=True)


@app.command("clean-up")
def clean_up(
    ingest_id: IngestIdArgument,
    transfer: Annotated[bool, typer.Option("--transfer", help="Also remove the transfer kept for a retry.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Remove what a failed, rejected or cancelled ingest left in the processing location."""
    from amber_cli.ingest import clean_up as clean_up_ingest

    result = _call_gateway(data_dir, clean_up_ingest, ingest_uuid=ingest_id, transfer=transfer)
    for removed in result.removed:
        console.print(f"removed {removed.path} ({removed.bytes} bytes)", soft_wrap=True)
    for kept in result.kept:
        console.print(f"kept {kept} (for a retry)", soft_wrap=True)
    console.print(f"{result.bytes} bytes removed")


@keys_app.command("create")
def keys_create(
    user: Annotated[str, typer.Option(help="User the key belongs to (created if missing).")] = "admin",
    name: Annotated[str, typer.Option(help="A label for the key.")] = "cli",
    role: Annotated[str | None, typer.Option(
        help="Role of the user if the key creates them (reader, archivist, admin; default reader).")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create an API key; its value is shown once."""
    from gateway.keys.admin import create_key

    settings = _gateway_settings(stack_settings(data_dir))
    key = _run_admin(create_key(settings, user, name, role=_role(role) if role else None))
    console.print(f"API key for [bold]{user}[/]: {key}")
    console.print("Use it as `Authorization: Bearer <key>` or `Authorization: ApiKey <user>:<key>`.")


def _role(value: str):  # type: ignore[no-untyped-def]
    from servicekit.roles import Role

    try:
        return Role(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(role.value for role in Role)}") from None


def _run_admin(call):  # type: ignore[no-untyped-def]
    """Run a gateway admin call; a refusal (unknown user, last administrator, ...) is printed, exit status 1."""
    from servicekit.problems import Problem

    try:
        return asyncio.run(call)
    except Problem as exc:
        Console(stderr=True).print(f"[red]{exc.detail or exc.title}[/]")
        raise typer.Exit(1) from exc


def _print_user(user) -> None:  # type: ignore[no-untyped-def]
    state = f"disabled {user.disabled_at:%Y-%m-%d %H:%M} by {user.disabled_by}" if user.disabled_at else "enabled"
    console.print(f"{user.username}: {user.role.value}, {state}")


def _update_user(data_dir: Path | None, username: str, **changes: object) -> None:
    import getpass

    from gateway.keys.admin import update_user
    from gateway.schemas import UserUpdate

    settings = _gateway_settings(stack_settings(data_dir))
    body = UserUpdate.model_validate(changes)
    _print_user(_run_admin(update_user(settings, username, body, actor=f"cli:{getpass.getuser()}")))


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="The new user's name.")],
    role: Annotated[str, typer.Option(help="reader, archivist or admin.")] = "reader",
    data_dir: DataDirOption = None,
) -> None:
    """Create a user (give them a key with `amber keys create --user NAME`)."""
    from gateway.keys.admin import create_user

    _print_user(_run_admin(create_user(_gateway_settings(stack_settings(data_dir)), username, _role(role))))


@users_app.command("list")
def users_list(data_dir: DataDirOption = None) -> None:
    """List users with their roles, disabled ones included."""
    from gateway.keys.admin import list_users

    table = Table(show_header=True)
    for column in ("user", "role", "created", "disabled", "disabled by"):
        table.add_column(column)
    for user in asyncio.run(list_users(_gateway_settings(stack_settings(data_dir)))):
        table.add_row(user.username, user.role.value, str(user.created_at), str(user.disabled_at or "-"),
                      user.disabled_by or "-")
    console.print(table)


@users_app.command("set-role")
def users_set_role(username: Annotated[str, typer.Argument()], role: Annotated[str, typer.Argument()],
                   data_dir: DataDirOption = None) -> None:
    """Give a user another role (the last enabled administrator keeps theirs)."""
    _update_user(data_dir, username, role=_role(role))


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Argument()], data_dir: DataDirOption = None) -> None:
    """Disable a user: their keys are refused from the next request on."""
    _update_user(data_dir, username, disabled=True)


@users_app.command("enable")
def users_enable(username: Annotated[str, typer.Argument()], data_dir: DataDirOption = None) -> None:
    """Enable a disabled user again; their keys that were not revoked work again."""
    _update_user(data_dir, username, disabled=False)


@keys_app.command("list")
def keys_list(data_dir: DataDirOption = None) -> None:
    """List API keys (never their values)."""
    from gateway.keys.admin import list_keys

    keys = asyncio.run(list_keys(_gateway_settings(stack_settings(data_dir))))
    table = Table(show_header=True)
    for column in ("id", "user", "name", "prefix", "created", "last used", "revoked"):
        table.add_column(column)
    for key in keys:
        data = key.model_dump()
        table.add_row(str(data.get("id")), str(data.get("username")), str(data.get("name")),
                      str(data.get("prefix")), str(data.get("created_at")), str(data.get("last_used_at") or "-"),
                      str(data.get("revoked_at") or "-"))
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="Key id or prefix.")],
                data_dir: DataDirOption = None) -> None:
    """Revoke an API key at once."""
    from gateway.keys.admin import revoke_key

    if not asyncio.run(revoke_key(_gateway_settings(stack_settings(data_dir)), key_id)):
        console.print(f"[red]No active key {key_id}[/]")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")
