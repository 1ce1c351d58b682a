"""Reo.Dev delivery: one usage event per user and day, sent exactly once per event id."""
