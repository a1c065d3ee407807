"""User sessions: login, logout, and the guards the user API uses (session + CSRF)."""
