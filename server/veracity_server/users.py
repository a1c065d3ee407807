"""Standalone user accounts: create (CLI, demo, tests) and authenticate (login)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from veracity_server.auth.records import end_user_sessions
from veracity_server.columns import utc_now
from veracity_server.credentials import hash_password, verify_password
from veracity_server.models import User

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
MAX_EMAIL_LENGTH = 320


class UserError(ValueError):
    """A user cannot be created as asked (bad email, short password, already exists)."""


def normalize_email(email: str) -> str:
    """Emails compare case-insensitively and without surrounding spaces."""
    return email.strip().lower()


def create_user(session: Session, email: str, password: str) -> User:
    """Create and commit a user; UserError when the email or password is not acceptable."""
    email = normalize_email(email)
    local, _, domain = email.partition("@")
    if not local or not domain or len(email) > MAX_EMAIL_LENGTH or " " in email:
        raise UserError(f"not a valid email address: {email!r}")
    _check_password(password)
    user = User(public_id=str(uuid.uuid4()), email=email, password_hash=hash_password(password),
                created_at=utc_now())
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise UserError(f"a user with the email {email} already exists") from None
    return user


def set_password(session: Session, user: User, password: str) -> int:
    """Change `user`'s password and end all their sessions; returns how many ended.

    Whoever changes a password because it leaked wants every browser that used it signed out.
    """
    _check_password(password)
    user.password_hash = hash_password(password)
    session.commit()
    return end_user_sessions(session, user.id)


def _check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise UserError(f"the password must be {MIN_PASSWORD_LENGTH} to "
                        f"{MAX_PASSWORD_LENGTH} characters long")


def find_user(session: Session, email: str) -> User | None:
    """The user with this email, if any."""
    return session.scalars(select(User).where(User.email == normalize_email(email))).first()


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user when the password matches, else None (same effort for unknown emails)."""
    user = find_user(session, email)
    if not verify_password(user.password_hash if user else None, password):
        return None
    return user
