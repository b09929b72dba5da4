"""Thin handlers, one module per audience or capability; each checks roles on the server and hands the work to
the domain. app.register_handlers is where they are tied to commands and buttons."""
