"""What people read: the texts catalogue per language, placeholders, Telegram's HTML subset, values worded for
reading, and problems found in the clinic's files."""
