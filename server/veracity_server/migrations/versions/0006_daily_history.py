"""daily history: NAV per account and day from the gateway's Portfolio Analyst or Flex, Flex's
end-of-day positions, and the reconciliation differences (issue 19; tables follow)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 23:35:00.000000
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
