//! Integration tests on the local stack: moto (DynamoDB, Secrets Manager), the Snowflake
//! emulator (fakesnow behind the emulator package, emulator/snowemu) and a throwaway PostgreSQL.
//! `scripts/test` starts the stack and runs them; by hand:
//! `scripts/stack up && eval "$(scripts/stack env)" && cargo test -p snowsync-cli --test stack`.
//!
//! Every test uses its own tenant, Snowflake database and PostgreSQL schema (see
//! `helpers::unique`), so tests run in parallel and never read each other's leftovers.

mod auth;
mod bad_input;
mod bulk;
mod check;
mod concurrency;
mod config;
mod fanout;
mod faults;
mod helpers;
mod incremental;
mod isolation;
mod keyless;
mod keypair;
mod onboarding;
mod operator;
mod platform_tls;
mod pull;
mod push;
mod quotas;
mod realistic;
mod reconcile;
mod roles;
mod schedules;
mod schema;
mod tenant_access;
mod tenants;
