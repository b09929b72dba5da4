"""Cases for staff: opening them, their cards and posts in the staff chat, claiming and resolving, staff
replies passed to the client, and the timers of a case nobody has taken."""
