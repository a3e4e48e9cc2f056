-- The platform's own data for the demo tenant: web actions and pipeline stage changes.
DELETE FROM platform.actions WHERE tenant = 'demo';
DELETE FROM platform.stages WHERE tenant = 'demo';
INSERT INTO platform.actions (tenant, id, occurred_at, action_type, visitor_id, account_domain, channel, properties)
SELECT 'demo', g, timestamptz '2026-05-01 08:00:00+02' + g * interval '17 seconds',
       (ARRAY['page_view', 'pricing_view', 'demo_request', 'signup'])[1 + g % 4],
       'visitor-' || (g % 700), 'account' || (1 + g % 2000) || '.example.com',
       (ARRAY['web', 'email', 'ads'])[1 + g % 3],
       jsonb_build_object('path', '/pricing/' || (g % 9), 'utm', jsonb_build_object('campaign', 'spring-' || (g % 5)), 'note', 'Grüße "quoted"')
FROM generate_series(1, 5000) g;
INSERT INTO platform.stages (tenant, id, opportunity_id, stage, entered_at, amount, owner, properties)
SELECT 'demo', g, 'OPP-' || (1 + g % 50000),
       (ARRAY['Qualification', 'Proposal', 'Negotiation', 'Closed Won'])[1 + g % 4],
       timestamptz '2026-04-01 09:00:00-05' + g * interval '1 hour', (g * 937.13)::numeric(18,2), 'owner' || (g % 12) || '@platform.example',
       jsonb_build_object('source', 'pipeline')
FROM generate_series(1, 1000) g;
