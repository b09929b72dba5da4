"""Queries, one module per table or concern. Callers own the transaction: nothing here commits."""
