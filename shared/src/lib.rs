//! # snowsync: the engine behind the `pull` and `push` functions and the `snowsync` CLI
//!
//! The binaries only parse, wire and report; everything else lives here.
//!
//! A folder per system, a folder per direction, one edge (README, "Where things live"):
//!
//! | module | what it owns |
//! |---|---|
//! | [`tenant`] | who a customer is: config, credentials, schedules |
//! | [`onboard`] | `tenant init` and `rotate-key`: the key pair made here, the customer's SQL |
//! | [`snowflake`] | everything said to Snowflake: our REST client, a pull's reads, a push's destination |
//! | [`postgres`] | everything said to the platform database: TLS, staging, COPY, swap, a push's reader, migrations |
//! | [`types`] | the contract's type mapping: Snowflake column types and the PostgreSQL type each lands in |
//! | [`decode`] | Snowflake's Arrow encodings to PostgreSQL binary COPY, and exact key values |
//! | [`pull`] | the pull pipeline: plans, checkpoints, pages, the run of a table |
//! | [`push`] | the push pipeline: batches, watermark |
//! | [`export`] | what an export carries: each push source's columns on both sides |
//! | [`state`] | DynamoDB: configs, leases, checkpoints, watermarks, run history |
//! | [`lambda`] | the one Lambda edge: [`lambda::Job`], handler, budget, continuation |
//! | [`runner`] | the life cycle every run shares: login, lease, run record, outcome |
//! | [`quote`] | the one place identifiers and literals become SQL |
//! | [`check`] | `snowsync check`: every item the customer handed over, with the fix |
//! | [`deployment`] | the deployed stack: function ARNs, egress IPs, remote runs |
//! | [`deps`] | the clients a process builds once |
//! | [`telemetry`] | logs and metrics |
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
pub mod onboard;
pub mod postgres;
pub mod pull;
pub mod push;
pub mod quote;
pub mod runner;
pub mod snowflake;
pub mod state;
pub mod telemetry;
pub mod tenant;
pub mod types;

pub use deps::Deps;
pub use error::{ErrorKind, Result, SyncError};
