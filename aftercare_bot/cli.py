"""The command line: `aftercare-bot run | db upgrade | plan check`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from aftercare_bot.config import SHIPPED_MESSAGES_DIR, Settings, describe_errors

log = logging.getLogger("aftercare_bot")


def load_settings() -> Settings:
    try:
        return Settings()  # type: ignore[call-arg]
    except ValidationError as exc:
        print(describe_errors(exc), file=sys.stderr)
        raise SystemExit(2) from None


def cmd_run(args: argparse.Namespace) -> int:
    from telegram import Update

    from aftercare_bot.app import build_application, build_services
    from aftercare_bot.db.migrate import upgrade

    settings = load_settings()
    services = build_services(settings)
    asyncio.run(upgrade(services.engine))
    application = build_application(services)
    log.info("aftercare bot starting (database %s)", services.engine.url.render_as_string(hide_password=True))
    application.run_polling(allowed_updates=Update.ALL_TYPES, drop_pending_updates=False)
    return 0


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
    print("database is up to date")
    return 0


def cmd_plan_check(args: argparse.Namespace) -> int:
    from aftercare_bot.plan import check_plans, format_plan_report
    from aftercare_bot.texts import Texts, TextsError

    messages_dir = Path(args.messages_dir)
    errors = check_plans(messages_dir / "plans")
    print(format_plan_report(errors))
    problems: list[str] = []
    try:
        problems = Texts.load(messages_dir / "texts").check()
    except TextsError as exc:
        problems = [str(exc)]
    for problem in problems:
        print(problem)
    return 1 if errors or problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aftercare-bot", description="Aftercare plans for clinic clients on Telegram")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="apply migrations and run the bot").set_defaults(func=cmd_run)
    db = commands.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply database migrations").set_defaults(func=cmd_db_upgrade)
    plan = commands.add_parser("plan", help="aftercare plans").add_subparsers(dest="plan_command", required=True)
    check = plan.add_parser("check", help="validate the plan and text files")
    check.add_argument("--messages-dir", default=str(SHIPPED_MESSAGES_DIR))
    check.set_defaults(func=cmd_plan_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
