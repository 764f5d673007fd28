"""backoffice: onboarding opportunities, purchase offers, co-sell deals

The onboarding pipeline (opportunities, their items and step log), purchase offers behind an
unguessable link (items, who opened them), and co-sell deals (team, solutions, stage marks,
favourites, change log).

Revision ID: 0007_backoffice_pipelines
Revises: 0006_agreements_tickets
Created: 2026-11-23 17:54:42.818554
"""

import sqlalchemy as sa
from alembic import op

import portal.shared.dbtypes

revision = '0007_backoffice_pipelines'
down_revision = '0006_agreements_tickets'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('deals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('deal_type', sa.String(length=25), nullable=False),
    sa.Column('stage', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('location', sa.String(length=2), nullable=False),
    sa.Column('customer_name', sa.String(length=200), nullable=False),
    sa.Column('customer_location', sa.String(length=100), nullable=False),
    sa.Column('customer_contact_name', sa.String(length=200), nullable=False),
    sa.Column('customer_contact_phone', sa.String(length=30), nullable=False),
    sa.Column('customer_contact_email', sa.String(length=254), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('account_managed_by_microsoft', sa.Boolean(), nullable=False),
    sa.Column('estimated_value_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('estimated_close_date', sa.Date(), nullable=False),
    sa.Column('crm_id', sa.String(length=60), nullable=False),
    sa.Column('campaign_id', sa.String(length=60), nullable=False),
    sa.Column('partner_role', sa.String(length=60), nullable=False),
    sa.Column('solution_area', sa.String(length=80), nullable=False),
    sa.Column('solution_play', sa.String(length=80), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('marketplace_intent', sa.String(length=10), nullable=False),
    sa.Column('microsoft_accepted', sa.Boolean(), nullable=False),
    sa.Column('close_reason', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('won_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("deal_type IN ('ip_cosell', 'services_cosell', 'p2p', 'partner_led', 'private', 'solution_assessment')", name=op.f('ck_deals_type_known')),
    sa.CheckConstraint("direction IN ('inbound', 'outbound')", name=op.f('ck_deals_direction_known')),
    sa.CheckConstraint("marketplace_intent IN ('yes', 'no', 'undecided')", name=op.f('ck_deals_intent_known')),
    sa.CheckConstraint("stage IN ('received', 'created', 'accepted', 'qualified', 'developed', 'proposed', 'negotiated', 'won', 'lost', 'declined', 'expired', 'error')", name=op.f('ck_deals_stage_known')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_deals_created_by_id_users')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_deals_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deals'))
    )
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deals_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_deals_direction'), ['direction'], unique=False)
        batch_op.create_index(batch_op.f('ix_deals_stage'), ['stage'], unique=False)

    op.create_table('opportunities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=30), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('crm_id', sa.String(length=60), nullable=False),
    sa.Column('company_name', sa.String(length=200), nullable=False),
    sa.Column('contact_name', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=30), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('cnpj', sa.String(length=14), nullable=False),
    sa.Column('legal_name', sa.String(length=200), nullable=False),
    sa.Column('trade_name', sa.String(length=200), nullable=False),
    sa.Column('street', sa.String(length=200), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('complement', sa.String(length=100), nullable=False),
    sa.Column('district', sa.String(length=100), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=False),
    sa.Column('state', sa.String(length=2), nullable=False),
    sa.Column('postal_code', sa.String(length=8), nullable=False),
    sa.Column('billing_day', sa.Integer(), nullable=True),
    sa.Column('first_payment_date', sa.Date(), nullable=True),
    sa.Column('disk_space_gb', sa.Integer(), nullable=True),
    sa.Column('installation_sites', sa.Integer(), nullable=True),
    sa.Column('windows_server_licenses', sa.Integer(), nullable=True),
    sa.Column('windows_server_version', sa.String(length=40), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('lost_reason', sa.Text(), nullable=True),
    sa.Column('proposal_pdf_sha256', sa.String(length=64), nullable=True),
    sa.Column('contract_pdf_sha256', sa.String(length=64), nullable=True),
    sa.Column('signature_provider', sa.String(length=20), nullable=True),
    sa.Column('signature_document_id', sa.String(length=80), nullable=True),
    sa.Column('signed_pdf_sha256', sa.String(length=64), nullable=True),
    sa.Column('signed_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('approved_by_id', sa.Integer(), nullable=True),
    sa.Column('approved_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('handover_status', sa.String(length=20), nullable=True),
    sa.Column('handover_error', sa.Text(), nullable=True),
    sa.Column('handover_posted_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('implantation_done_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('implantation_done_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("stage IN ('apresentacao', 'levantamento', 'oportunidade_registrada', 'proposta', 'negociacao', 'contrato_enviado', 'contrato_assinado', 'ganha', 'revisao', 'aprovacao', 'card_de_passagem', 'implantacao', 'ativo', 'perdida')", name=op.f('ck_opportunities_stage_known')),
    sa.ForeignKeyConstraint(['approved_by_id'], ['users.id'], name=op.f('fk_opportunities_approved_by_id_users')),
    sa.ForeignKeyConstraint(['implantation_done_by_id'], ['users.id'], name=op.f('fk_opportunities_implantation_done_by_id_users')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_opportunities_organization_id_organizations')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_opportunities_owner_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opportunities'))
    )
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opportunities_signature_document_id'), ['signature_document_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_opportunities_stage'), ['stage'], unique=False)

    op.create_table('deal_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deal_id', sa.Integer(), nullable=False),
    sa.Column('from_stage', sa.String(length=12), nullable=True),
    sa.Column('to_stage', sa.String(length=12), nullable=False),
    sa.Column('actor_label', sa.String(length=254), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_deal_events_deal_id_deals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deal_events'))
    )
    with op.batch_alter_table('deal_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deal_events_deal_id'), ['deal_id'], unique=False)

    op.create_table('deal_favorites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deal_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_deal_favorites_deal_id_deals')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_deal_favorites_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deal_favorites')),
    sa.UniqueConstraint('deal_id', 'user_id', name='uq_deal_favorites_deal_user')
    )
    with op.batch_alter_table('deal_favorites', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deal_favorites_deal_id'), ['deal_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deal_favorites_user_id'), ['user_id'], unique=False)

    op.create_table('deal_solutions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deal_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('ip_cosell_ready', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_deal_solutions_deal_id_deals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deal_solutions'))
    )
    with op.batch_alter_table('deal_solutions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deal_solutions_deal_id'), ['deal_id'], unique=False)

    op.create_table('deal_stage_marks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deal_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=12), nullable=False),
    sa.Column('marked_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('marked_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_deal_stage_marks_deal_id_deals')),
    sa.ForeignKeyConstraint(['marked_by_id'], ['users.id'], name=op.f('fk_deal_stage_marks_marked_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deal_stage_marks')),
    sa.UniqueConstraint('deal_id', 'stage', name='uq_deal_stage_marks_deal_stage')
    )
    with op.batch_alter_table('deal_stage_marks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deal_stage_marks_deal_id'), ['deal_id'], unique=False)

    op.create_table('deal_team_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deal_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=30), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_deal_team_members_deal_id_deals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deal_team_members'))
    )
    with op.batch_alter_table('deal_team_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deal_team_members_deal_id'), ['deal_id'], unique=False)

    op.create_table('opportunity_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('opportunity_id', sa.Integer(), nullable=False),
    sa.Column('from_stage', sa.String(length=30), nullable=True),
    sa.Column('to_stage', sa.String(length=30), nullable=False),
    sa.Column('actor_label', sa.String(length=254), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['opportunity_id'], ['opportunities.id'], name=op.f('fk_opportunity_events_opportunity_id_opportunities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opportunity_events'))
    )
    with op.batch_alter_table('opportunity_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opportunity_events_opportunity_id'), ['opportunity_id'], unique=False)

    op.create_table('opportunity_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('opportunity_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price_cents', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['opportunity_id'], ['opportunities.id'], name=op.f('fk_opportunity_items_opportunity_id_opportunities')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_opportunity_items_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opportunity_items'))
    )
    with op.batch_alter_table('opportunity_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opportunity_items_opportunity_id'), ['opportunity_id'], unique=False)

    op.create_table('purchase_offers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('summary_id', sa.String(length=30), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('partner_office', sa.String(length=120), nullable=False),
    sa.Column('usage_location', sa.String(length=2), nullable=False),
    sa.Column('delegated_admin', sa.Boolean(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('expires_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accepted_by_id', sa.Integer(), nullable=True),
    sa.Column('accepted_organization_id', sa.Integer(), nullable=True),
    sa.Column('delegated_admin_accepted', sa.Boolean(), nullable=True),
    sa.Column('quote_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('draft', 'sent', 'accepted', 'expired', 'cancelled')", name=op.f('ck_purchase_offers_status_known')),
    sa.ForeignKeyConstraint(['accepted_by_id'], ['users.id'], name=op.f('fk_purchase_offers_accepted_by_id_users')),
    sa.ForeignKeyConstraint(['accepted_organization_id'], ['organizations.id'], name=op.f('fk_purchase_offers_accepted_organization_id_organizations')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_purchase_offers_created_by_id_users')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_purchase_offers_organization_id_organizations')),
    sa.ForeignKeyConstraint(['quote_id'], ['quotes.id'], name=op.f('fk_purchase_offers_quote_id_quotes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_offers')),
    sa.UniqueConstraint('summary_id', name=op.f('uq_purchase_offers_summary_id')),
    sa.UniqueConstraint('token', name=op.f('uq_purchase_offers_token'))
    )
    with op.batch_alter_table('purchase_offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purchase_offers_status'), ['status'], unique=False)

    op.create_table('purchase_offer_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_purchase_offer_items_quantity_positive')),
    sa.ForeignKeyConstraint(['offer_id'], ['purchase_offers.id'], name=op.f('fk_purchase_offer_items_offer_id_purchase_offers')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_purchase_offer_items_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_offer_items'))
    )
    with op.batch_alter_table('purchase_offer_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purchase_offer_items_offer_id'), ['offer_id'], unique=False)

    op.create_table('purchase_offer_views',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('opened_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['offer_id'], ['purchase_offers.id'], name=op.f('fk_purchase_offer_views_offer_id_purchase_offers')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_purchase_offer_views_organization_id_organizations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_purchase_offer_views_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_offer_views'))
    )
    with op.batch_alter_table('purchase_offer_views', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purchase_offer_views_offer_id'), ['offer_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('purchase_offer_views', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purchase_offer_views_offer_id'))

    op.drop_table('purchase_offer_views')
    with op.batch_alter_table('purchase_offer_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purchase_offer_items_offer_id'))

    op.drop_table('purchase_offer_items')
    with op.batch_alter_table('purchase_offers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purchase_offers_status'))

    op.drop_table('purchase_offers')
    with op.batch_alter_table('opportunity_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opportunity_items_opportunity_id'))

    op.drop_table('opportunity_items')
    with op.batch_alter_table('opportunity_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opportunity_events_opportunity_id'))

    op.drop_table('opportunity_events')
    with op.batch_alter_table('deal_team_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deal_team_members_deal_id'))

    op.drop_table('deal_team_members')
    with op.batch_alter_table('deal_stage_marks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deal_stage_marks_deal_id'))

    op.drop_table('deal_stage_marks')
    with op.batch_alter_table('deal_solutions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deal_solutions_deal_id'))

    op.drop_table('deal_solutions')
    with op.batch_alter_table('deal_favorites', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deal_favorites_user_id'))
        batch_op.drop_index(batch_op.f('ix_deal_favorites_deal_id'))

    op.drop_table('deal_favorites')
    with op.batch_alter_table('deal_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deal_events_deal_id'))

    op.drop_table('deal_events')
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opportunities_stage'))
        batch_op.drop_index(batch_op.f('ix_opportunities_signature_document_id'))

    op.drop_table('opportunities')
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deals_stage'))
        batch_op.drop_index(batch_op.f('ix_deals_direction'))
        batch_op.drop_index(batch_op.f('ix_deals_created_at'))

    op.drop_table('deals')
