"""The Telegram side of the ports in delivery/ports.py: sending, editing and copying through PTB, and keeping
within Telegram's flood limits."""
