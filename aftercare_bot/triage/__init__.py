"""Grading a client's message as urgent, concern or routine, from the clinic's editable rule files."""
