"""Performance benchmarks of the bot against the local Bot API emulator: run ``python -m benchmarks``."""
