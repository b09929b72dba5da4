"""The manager's report: figures from the database (db/repositories/report.py), drawn as one PNG chart, with a
few lines of headline numbers and a CSV of the same figures. No client's name is ever in it."""
