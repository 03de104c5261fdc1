"""Persistence: the only part of smflow that talks to the database.

Store functions take a SQLAlchemy session from their caller and never commit.
"""
