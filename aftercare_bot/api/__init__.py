"""The HTTP API for booking systems (docs/enrolment-api.md), served by the bot's own web server."""
