"""Engines: play a trace on an accelerator and report when each operation ends."""
