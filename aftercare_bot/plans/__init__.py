"""Aftercare plans: the plan files, the plans in force, changes admins make from Telegram and rolling them out
to enrolled clients, the schedule of one enrolment, and the clinical safety check of warning texts."""
