"""Small builders shared by the store tests."""

from pathlib import Path

from engine.store import org

FIXTURES = Path(__file__).parents[1] / "fixtures"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def add_people(session, people: dict[str, list[tuple[str, str]]]) -> None:
    """people: login -> [(role, scope)]"""
    for login, grants in people.items():
        org.add_user(session, login, f"用户{login}", None)
        for role, scope in grants:
            org.grant(session, login, role, scope)
