"""Try the bot before going live: the real bot against an emulated Telegram, played from a web page."""

from aftercare_bot.sandbox.session import Sandbox, run_sandbox

__all__ = ["Sandbox", "run_sandbox"]
