//! Snowflake: the session over its REST protocol, and everything it takes to survive real
//! Snowflake (README, "Real Snowflake, not only the emulator").
//!
//! | file | what it owns |
//! |---|---|
//! | [`endpoint`] | where requests go: the account's host or `SNOWSYNC_SNOWFLAKE_URL` |
//! | `http` | request ids, retries with back-off, HTTP failures |
//! | `wire` | the protocol's JSON, as the official drivers parse it |
//! | [`session`] | login, pins, statements polled to their end, renewal, abort |
//! | `result` | inline part and chunks into Arrow batches |
//! | [`errors`] | what happened, and the contract's error kinds with the fix |
//! | [`cells`] | reading small metadata results |
//! | [`stage`] | `PUT`'s answer and the upload to S3 (`s3`), GCS or Azure |
//! | `encrypt` | client-side encryption of a staged file |
//! | `file` | a push batch as a gzip CSV file |

pub mod cells;
pub(crate) mod destination;
mod encrypt;
pub mod endpoint;
pub mod errors;
pub(crate) mod file;
mod http;
pub mod keypair;
mod load;
mod result;
mod s3;
pub mod session;
pub(crate) mod source;
pub mod stage;
mod wire;

pub use cells::{int_at, text_at, whole_at};
pub use endpoint::{Endpoint, URL_OVERRIDE_VAR};
pub use result::Part;
pub use session::{ResultStream, Session};
