"""The bot as a Telegram program: running it (polling or webhook), its web server and health, the scheduler's
jobs, error reports, the handlers of every update (handlers/) and the Telegram side of sending (telegram/)."""
