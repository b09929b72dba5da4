"""Delivers pending updates to the bot's webhook, one at a time and in order, as Telegram does."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp

from aftercare_bot.sandbox.emulator.actions import World

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookDeliverer:
    def __init__(self, world: World, retry_delay: float = 0.2, timeout: float = 5.0) -> None:
        self.world = world
        self.retry_delay = retry_delay
        self.timeout = timeout
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        self._task = asyncio.create_task(self._run(), name="emulator-webhook")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    def _next_update(self) -> tuple[dict, dict] | None:
        if not self.world.webhook:
            return None
        updates = self.world.deliverable_updates(1)
        return (self.world.webhook, updates[0]) if updates else None

    async def _run(self) -> None:
        while True:
            await self.world.wait_until(self._next_update, None)
            pending = self._next_update()
            if pending is None:
                continue
            hook, update = pending
            error = await self._post(hook, update)
            if error is None:
                self.world.confirm_updates(update["update_id"] + 1)
                self.world.emit("webhook_delivered", update_id=update["update_id"])
            else:
                hook.update(last_error_date=int(self.world.clock()), last_error_message=error)
                self.world.emit("webhook_failed", update_id=update["update_id"], error=error)
                await asyncio.sleep(self.retry_delay)

    async def _post(self, hook: dict, update: dict) -> str | None:
        headers = {SECRET_HEADER: hook["secret_token"]} if hook.get("secret_token") else {}
        assert self._session is not None
        try:
            async with self._session.post(hook["url"], json=update, headers=headers) as response:
                if 200 <= response.status < 300:
                    return None
                return f"Wrong response from the webhook: {response.status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError) as error:
            return f"Connection failed: {error.__class__.__name__}"
