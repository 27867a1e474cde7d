"""Replica-DB sync: poll the operator's PostgreSQL views and ingest their rows as events.

reader.py talks to the replica (psycopg, read-only); config.py and mapping.py say how a view's columns become an
event; services.py runs a view's sync and checks a source; tasks.py holds the Celery tasks.
"""
