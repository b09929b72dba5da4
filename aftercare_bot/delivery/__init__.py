"""Getting messages out and keeping them: the dispatcher of plan messages (claim, compose, send, record), the
outbox of messages that must not be lost, durable timers, quiet hours, and the ports the domain sends through."""
