"""second-step state on the users row; pending sign-ins move into the server-side session

The last accepted authenticator-app step moves from two_factor_methods to users (a user has at most
one authenticator app), next to the failure counter and the lock, so that a successful code check is
one conditional UPDATE of that row. The pending sign-in is kept in the session row instead of its own
table; sign-ins that were waiting for their second step when this runs have to start again.

Revision ID: 7a1d4c2e9b10
Revises: 59cb13bb1eb0
Create Date: 2026-12-04 18:40:00
"""
from alembic import op
import sqlalchemy as sa

import tfa.types


revision = '7a1d4c2e9b10'
down_revision = '59cb13bb1eb0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('failure_notified_for', sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE users SET totp_last_step = (SELECT m.last_used_step FROM two_factor_methods m"
        " WHERE m.user_id = users.id AND m.kind = 'totp')"
    )
    with op.batch_alter_table('two_factor_methods', schema=None) as batch_op:
        batch_op.drop_column('last_used_step')
    with op.batch_alter_table('pending_sign_ins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_sign_ins_user_id'))
    op.drop_table('pending_sign_ins')


def downgrade():
    op.create_table('pending_sign_ins',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=True),
    sa.Column('created_at', tfa.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', tfa.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=255), nullable=True),
    sa.Column('failure_notified', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_pending_sign_ins_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_sign_ins'))
    )
    with op.batch_alter_table('pending_sign_ins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_sign_ins_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('two_factor_methods', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_used_step', sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE two_factor_methods SET last_used_step = (SELECT u.totp_last_step FROM users u"
        " WHERE u.id = two_factor_methods.user_id) WHERE kind = 'totp'"
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('failure_notified_for')
        batch_op.drop_column('totp_last_step')
