"""The escalation desk: the parts that turn worrying client messages into cases for staff, built once together.

- escalation_cases: a message opens a case or joins the client's open one (in the message's transaction);
- escalation_posts: the case in the staff chats: its card, the posts under it, which post is whose;
- escalation_actions: staff list, claim and resolve cases;
- escalation_replies: staff replies passed on to the client;
- escalation_timers: the card until posted, the re-alert and the final notice of an unclaimed urgent case;
- escalation_digests: many cases in one staff-chat message when the chat cannot take their posts soon;
- escalation_cards: how all of this reads (texts only).

Everything the desk says, to staff or to a client, goes through the outbox, so a Telegram outage delays it but
never loses it.
"""

from __future__ import annotations

from aftercare_bot.delivery.outbox import Outbox
from aftercare_bot.delivery.ports import Pacing
from aftercare_bot.escalation.actions import StaffActions
from aftercare_bot.escalation.cards import CaseTexts
from aftercare_bot.escalation.cases import CaseRouter
from aftercare_bot.escalation.digests import StaffDigests
from aftercare_bot.escalation.posts import CasePosts, Messenger
from aftercare_bot.escalation.replies import StaffReplies
from aftercare_bot.escalation.timers import ResponseTimers
from aftercare_bot.services import Services


class EscalationDesk:
    def __init__(
        self, services: Services, messenger: Messenger, outbox: Outbox | None = None, pacing: Pacing | None = None
    ) -> None:
        self.svc = services
        self.messenger = messenger
        self.outbox = outbox or Outbox(services, messenger, pacing)
        self.texts = CaseTexts(services)
        self.posts = CasePosts(services, messenger, self.outbox, self.texts)
        self.cases = CaseRouter(services, self.outbox, self.posts)
        self.actions = StaffActions(services, self.posts, self.texts)
        self.replies = StaffReplies(services, self.outbox, self.posts, self.actions, self.texts)
        self.timers = ResponseTimers(services, self.outbox, self.posts, self.texts)
        self.digests = StaffDigests(services, messenger, self.outbox, self.texts)
