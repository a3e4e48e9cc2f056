//! # snowsync: the engine behind the `pull` and `push` functions and the `snowsync` CLI
//!
//! The binaries only parse, wire and report; everything else lives here.
//!
//! | module | what it holds |
//! |---|---|
//! | [`check`] | `snowsync check`: every item the customer handed over, with the fix |
//! | [`config`] | the tenant config (TOML), validated at the edge |
//! | [`schedules`] | per-tenant EventBridge Scheduler schedules |
//! | [`secrets`] | credentials, in memory only as secrets; Secrets Manager storage |
//! | [`state`] | DynamoDB: configs, leases, watermarks, run history |
//! | [`snowflake`] | our client of Snowflake's REST protocol: login, pins, polled statements, chunked results, renewal, error codes |
//! | [`keypair`] | key-pair login: decrypt PKCS#8 keys, sign Snowflake's JWT |
//! | [`quote`] | the one place identifiers and literals become SQL |
//! | [`sf_types`] | Snowflake column types and their PostgreSQL mapping |
//! | [`decode`] | Snowflake's Arrow encodings to PostgreSQL COPY (binary and text) and exact key values |
//! | [`lambda`] | the functions' edge: deadline, diagnostics, continuation |
//! | [`platform`] | the platform's PostgreSQL database: staging loads and atomic swaps |
//! | [`push`] | the push engine: destination check, batches, MERGE, watermark |
//! | [`runner`] | what every run shares: lease, run record, outcome |
//! | [`pull`] | the pull engine |
//! | [`deployment`] | the deployed stack: function ARNs, egress IPs, remote runs |
//! | [`deps`] | the clients a process builds once |
//! | [`telemetry`] | logging setup |
//! | [`error`] | classified errors (`transient`, `auth`, `config`, ...) |

#![forbid(unsafe_code)]

pub mod check;
pub mod decode;
pub mod deployment;
pub mod deps;
pub mod error;
pub mod export;
#[cfg(test)]
mod fuzz;
pub mod lambda;
pub mod postgres;
pub mod pull;
pub mod push;
pub mod quote;
pub mod runner;
pub mod snowflake;
pub mod state;
pub mod telemetry;
pub mod tenant;

pub use deps::Deps;
pub use error::{ErrorKind, Result, SyncError};
