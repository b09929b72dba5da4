"""People and their enrolment: invite links and consent, the clinic team, what staff see of a client, and
privacy (what is held, erasure, retention)."""
