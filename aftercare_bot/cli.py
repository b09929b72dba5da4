"""The command line: `aftercare-bot run | health | db upgrade | plan check | templates export|import | apikey |
enrol --csv | frontdesk-qr | report | sandbox`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from aftercare_bot.config import SHIPPED_MESSAGES_DIR, Settings, describe_errors

if TYPE_CHECKING:
    from aftercare_bot.services import Services

log = logging.getLogger("aftercare_bot")


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment and .env; `overrides` (from command-line flags) win over both."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        print(describe_errors(exc), file=sys.stderr)
        raise SystemExit(2) from None


def _say(settings: Settings, key: str, **values: object) -> str:
    """A sentence to print, worded by the texts in the settings' messages folder (see problem_reports)."""
    from aftercare_bot.texts.problem_reports import cli_text, problem_texts

    return cli_text(key, problem_texts(settings.messages_dir), **values)


def cmd_run(args: argparse.Namespace) -> int:
    from aftercare_bot.bot.runner import Mode, serve, webhook_problems

    flags = {"webhook_url": args.webhook_url, "webhook_listen": args.listen, "webhook_port": args.port,
             "webhook_secret": args.secret_token}
    settings = load_settings(**{name: value for name, value in flags.items() if value is not None})
    # Webhook mode when asked for, or when a webhook address is configured and polling was not asked for.
    mode = Mode.WEBHOOK if args.webhook or (settings.webhook_url and not args.polling) else Mode.POLLING
    if mode == Mode.WEBHOOK and (problems := webhook_problems(settings)):
        print(_say(settings, "cli_settings_wrong"), *problems, sep="\n", file=sys.stderr)
        return 2
    services = load_services(settings)
    asyncio.run(_migrate(services.engine))
    return asyncio.run(serve(services, mode))


def cmd_health(args: argparse.Namespace) -> int:
    """Ask the running bot's /healthz; exit 0 when it answers 200 (the container HEALTHCHECK)."""
    from aftercare_bot.bot.health import health_port, health_url, probe, summary

    settings = load_settings()
    port = args.port or health_port(settings)
    if port is None:
        print(_say(settings, "cli_health_no_endpoint"), file=sys.stderr)
        return 1
    healthy, answer = probe(health_url(settings, port), timeout=args.timeout)
    print(_say(settings, "cli_health_healthy" if healthy else "cli_health_unhealthy", summary=summary(answer)))
    return 0 if healthy else 1


def load_services(settings: Settings) -> Services:
    """Build the services, refusing to start with broken plan or text files: no client gets a bad message."""
    from aftercare_bot.app import build_services
    from aftercare_bot.plans.model import PlanLoadError
    from aftercare_bot.texts.catalog import TextsError
    from aftercare_bot.texts.problem_reports import load_failure

    try:
        return build_services(settings)
    except (PlanLoadError, TextsError) as exc:
        print(_say(settings, "cli_start_refused", folder=settings.messages_dir), file=sys.stderr)
        print(load_failure(exc, settings.messages_dir), file=sys.stderr)
        raise SystemExit(2) from None


async def _migrate(engine: AsyncEngine) -> None:
    """Migrate, then close the pool: its connections belong to this event loop, not the bot's."""
    from aftercare_bot.db.migrate import upgrade

    await upgrade(engine)
    await engine.dispose()


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from aftercare_bot.db.migrate import upgrade
    from aftercare_bot.db.session import create_engine

    settings = load_settings()

    async def _run() -> None:
        engine = create_engine(settings.database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(_run())
    print(_say(settings, "cli_database_up_to_date"))
    return 0


def cmd_plan_check(args: argparse.Namespace) -> int:
    from aftercare_bot.texts.problem_reports import check_messages

    report, all_fine = check_messages(Path(args.messages_dir))
    print(report)
    return 0 if all_fine else 1


def _login_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this user id (a container)
        return str(os.getuid()) if hasattr(os, "getuid") else "?"


def cmd_templates(args: argparse.Namespace) -> int:
    """Export the plans in force to files, or import files as new revisions (see templates_io)."""
    from aftercare_bot.app import build_services
    from aftercare_bot.db.migrate import upgrade
    from aftercare_bot.plans import templates_io
    from aftercare_bot.texts.problem_reports import cli_text, plan_report, problem_texts

    settings = load_settings()
    folder = Path(args.folder)
    texts = problem_texts(settings.messages_dir)

    async def _run() -> int:
        services = build_services(settings)
        try:
            await upgrade(services.engine)
            if args.templates_command == "export":
                written = await templates_io.export_plans(services.session_factory, services.catalog, folder)
                for path in written:
                    print(cli_text("cli_export_wrote", texts, path=path))
                return 0
            report = await templates_io.import_plans(
                services.session_factory, services.catalog, folder, settings=settings, now=services.clock.now(),
                by=cli_text("cli_import_by", texts, user=_login_name()),
            )
        finally:
            await services.engine.dispose()
        if report.errors:
            print(plan_report(report.errors, texts))
            print(cli_text("cli_import_nothing_imported", texts))
            return 1
        for treatment, revision in sorted(report.saved.items()):
            print(cli_text("cli_import_saved", texts, treatment=treatment, revision=revision))
        for treatment in report.unchanged:
            print(cli_text("cli_import_unchanged", texts, treatment=treatment))
        return 0

    return asyncio.run(_run())


def cmd_apikey(args: argparse.Namespace) -> int:
    """Make, list or revoke API keys for booking systems; a new key is printed once and never again."""
    from aftercare_bot.app import build_services
    from aftercare_bot.clients import api_keys
    from aftercare_bot.db.migrate import upgrade
    from aftercare_bot.db.refs import RowRef
    from aftercare_bot.db.repositories import api_keys as api_keys_repo
    from aftercare_bot.texts.problem_reports import cli_text, problem_texts

    settings = load_settings()
    texts = problem_texts(settings.messages_dir)

    async def _run() -> int:
        services = build_services(settings)
        now = services.clock.now()
        try:
            await upgrade(services.engine)
            async with services.session_factory.begin() as session:
                if args.apikey_command == "create":
                    name = api_keys.clean_name(" ".join(args.name))
                    if name is None:
                        print(cli_text("cli_apikey_bad_name", texts), file=sys.stderr)
                        return 2
                    key, secret = await api_keys.create(session, name, created_by=None, now=now)
                    print(cli_text("cli_apikey_created", texts, name=key.name, prefix=key.prefix, secret=secret))
                    return 0
                if args.apikey_command == "list":
                    for key in await api_keys_repo.all_keys(session):
                        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "in use"
                        print(cli_text("cli_apikey_line", texts, prefix=key.prefix, name=key.name,
                                       created=f"{key.created_at:%Y-%m-%d}", state=state))
                    return 0
                found = await api_keys_repo.by_prefix(session, args.prefix.rstrip("…."))
                if len(found) != 1:
                    print(cli_text("cli_apikey_not_found", texts, prefix=args.prefix), file=sys.stderr)
                    return 1
                key = await api_keys.revoke(session, RowRef.of(found[0]), by=None, now=now)
                assert key is not None
                print(cli_text("cli_apikey_revoked", texts, name=key.name, prefix=key.prefix))
                return 0
        finally:
            await services.engine.dispose()

    return asyncio.run(_run())


def _bot_username(settings: Settings, given: str | None) -> str | None:
    """The bot's @username: given on the command line, else asked of Telegram."""
    if given:
        return given.lstrip("@")
    from telegram import Bot

    async def _ask() -> str:
        bot = Bot(settings.telegram_bot_token.get_secret_value(), base_url=settings.telegram_api_base_url
                  or "https://api.telegram.org/bot")
        async with bot:
            return bot.username

    try:
        return asyncio.run(_ask())
    except Exception as exc:
        print(_say(settings, "cli_no_bot_username", problem=exc), file=sys.stderr)
        return None


def cmd_enrol(args: argparse.Namespace) -> int:
    """Enrol everyone in a CSV file: every row checked first, nothing imported unless all are good."""
    from aftercare_bot.app import build_services
    from aftercare_bot.clients import csv_import
    from aftercare_bot.clients.booking import Rules
    from aftercare_bot.db.migrate import upgrade

    settings = load_settings()
    text = Path(args.csv).read_text(encoding="utf-8-sig")
    username = _bot_username(settings, args.bot_username) if args.links else None
    if args.links and username is None:
        return 2

    async def _run() -> csv_import.ImportReport:
        services = build_services(settings)
        try:
            await upgrade(services.engine)
            now = services.clock.now()
            return await csv_import.import_csv(
                services.session_factory, text, rules=Rules.of(settings, services.catalog.treatments(), now),
                actor_id=None, now=now, settings=settings,
            )
        finally:
            await services.engine.dispose()

    report = asyncio.run(_run())
    if report.problems:
        print(*report.problems, sep="\n")
        print(_say(settings, "cli_import_nothing_imported"))
        return 1
    print(_say(settings, "cli_csv_imported", created=report.created, updated=report.updated,
               unchanged=report.unchanged))
    if args.links and username is not None:
        Path(args.links).write_text(csv_import.links_csv(report, username), encoding="utf-8")
        print(_say(settings, "cli_csv_links_written", path=args.links))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the report for a range of days as a PNG chart (and the figures as CSV)."""
    from aftercare_bot.app import build_services
    from aftercare_bot.db.migrate import upgrade
    from aftercare_bot.reporting.build import Report, make_report, to_csv
    from aftercare_bot.reporting.period import PeriodError, between, parse_date
    from aftercare_bot.texts.telegram_html import plain_text

    settings = load_settings()
    try:
        period = between(parse_date(args.date_from), parse_date(args.date_to), settings.timezone)
    except PeriodError:
        print(_say(settings, "cli_report_bad_period"), file=sys.stderr)
        return 2

    async def _run() -> Report:
        services = build_services(settings)
        try:
            await upgrade(services.engine)
            return await make_report(services, period, services.staff_language)
        finally:
            await services.engine.dispose()

    report = asyncio.run(_run())
    Path(args.out).write_bytes(report.png)
    if args.csv:
        Path(args.csv).write_text(to_csv(report.figures), encoding="utf-8")
    print(report.title, *(plain_text(line) for line in report.headline), sep="\n")
    return 0


def cmd_frontdesk_qr(args: argparse.Namespace) -> int:
    """The clinic's one printed QR code: it opens the bot, where clients share their phone number."""
    from aftercare_bot.clients.frontdesk import frontdesk_link
    from aftercare_bot.clients.qr import qr_png

    settings = load_settings()
    username = _bot_username(settings, args.bot_username)
    if username is None:
        return 2
    link = frontdesk_link(username)
    Path(args.out).write_bytes(qr_png(link))
    print(_say(settings, "cli_frontdesk_written", link=link, path=args.out))
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from aftercare_bot.sandbox import run_sandbox

    overrides = {"staff_language": args.staff_language} if args.staff_language else {}
    return run_sandbox(port=args.port, open_browser=not args.no_browser, **overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aftercare-bot", description="Aftercare plans for clinic clients on Telegram")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="apply migrations and run the bot until SIGTERM or Ctrl-C")
    how = run.add_mutually_exclusive_group()
    how.add_argument("--webhook", action="store_true", help="take updates through a webhook (default if WEBHOOK_URL)")
    how.add_argument("--polling", action="store_true", help="take updates by long polling")
    run.add_argument("--webhook-url", help="public https address Telegram calls (WEBHOOK_URL)")
    run.add_argument("--listen", help="address to listen on (WEBHOOK_LISTEN, default 0.0.0.0)")
    run.add_argument("--port", type=int, help="port to listen on (WEBHOOK_PORT, default 8080)")
    run.add_argument("--secret-token", help="secret Telegram sends with every update (WEBHOOK_SECRET)")
    run.set_defaults(func=cmd_run)
    health = commands.add_parser("health", help="exit 0 if the running bot reports itself healthy, else 1")
    health.add_argument("--port", type=int, help="port of /healthz (default HEALTH_PORT, else WEBHOOK_PORT)")
    health.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for an answer")
    health.set_defaults(func=cmd_health)
    db = commands.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply database migrations").set_defaults(func=cmd_db_upgrade)
    plan = commands.add_parser("plan", help="aftercare plans").add_subparsers(dest="plan_command", required=True)
    check = plan.add_parser("check", help="validate the plan and text files")
    check.add_argument("--messages-dir", default=str(SHIPPED_MESSAGES_DIR))
    check.set_defaults(func=cmd_plan_check)
    templates = commands.add_parser("templates", help="plans as edited from Telegram").add_subparsers(
        dest="templates_command", required=True
    )
    export = templates.add_parser("export", help="write the plans in force (files and edits) to a folder")
    export.add_argument("folder")
    export.set_defaults(func=cmd_templates)
    load = templates.add_parser("import", help="check a folder of plan files and save every changed plan")
    load.add_argument("folder")
    load.set_defaults(func=cmd_templates)
    apikey = commands.add_parser("apikey", help="API keys for booking systems").add_subparsers(
        dest="apikey_command", required=True
    )
    create = apikey.add_parser("create", help="make a key and print it (once: it is kept only hashed)")
    create.add_argument("name", nargs="+", help="what the key is for, such as Zenoti")
    create.set_defaults(func=cmd_apikey)
    apikey.add_parser("list", help="list the keys").set_defaults(func=cmd_apikey)
    revoke = apikey.add_parser("revoke", help="revoke a key by the first characters shown by list")
    revoke.add_argument("prefix")
    revoke.set_defaults(func=cmd_apikey)
    enrol = commands.add_parser("enrol", help="enrol the clients in a CSV file (all rows or none)")
    enrol.add_argument("--csv", required=True,
                       help="columns: external_id,name,treatment,session_start[,language,phone]")
    enrol.add_argument("--links", help="write each client's link to this CSV file")
    enrol.add_argument("--bot-username", help="the bot's @username for the links (default: asked of Telegram)")
    enrol.set_defaults(func=cmd_enrol)
    report = commands.add_parser("report", help="the manager's report for a range of days, as a PNG chart")
    report.add_argument("--from", dest="date_from", required=True, metavar="DATE", help="first day, e.g. 2026-01-01")
    report.add_argument("--to", dest="date_to", required=True, metavar="DATE", help="last day (included)")
    report.add_argument("--out", required=True, metavar="FILE", help="where to write the chart (PNG)")
    report.add_argument("--csv", metavar="FILE", help="also write every figure to this CSV file")
    report.set_defaults(func=cmd_report)
    qr = commands.add_parser("frontdesk-qr", help="write the clinic's front-desk QR code (PNG)")
    qr.add_argument("--out", required=True, help="the PNG file to write, such as qr.png")
    qr.add_argument("--bot-username", help="the bot's @username (default: asked of Telegram)")
    qr.set_defaults(func=cmd_frontdesk_qr)
    sandbox = commands.add_parser("sandbox", help="try the bot in your browser, with an emulated Telegram")
    sandbox.add_argument("--port", type=int, default=8080, help="port of the page on 127.0.0.1 (default 8080)")
    sandbox.add_argument("--no-browser", action="store_true", help="do not open the page in a browser")
    sandbox.add_argument("--staff-language", metavar="CODE",
                         help="the language the team reads, such as ru (default: STAFF_LANGUAGE, else "
                              "DEFAULT_LANGUAGE)")
    sandbox.set_defaults(func=cmd_sandbox)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # The scheduler would log every dispatcher tick; its warnings and errors still show.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # Alembic names each of its plugins at start-up; the migrations it runs are still logged.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
