//! The push destination in Snowflake: created when missing (an existing one's columns are
//! checked; a column the platform added since is added, never anything else altered), the
//! session's temporary table each batch is loaded into (by `INSERT`s, or from a file `PUT`
//! into the table's own stage and `COPY`ed), and the `MERGE` by `ID` that makes a repeated
//! batch an update, never a second row.

use crate::error::{ErrorKind, Result, SyncError};
use crate::export::{columns, Column, Kind, Position};
use crate::quote::{sf_string, Ident};
use crate::snowflake::file::{BatchFile, COPY_FORMAT};
use crate::snowflake::load::Load;
use crate::snowflake::stage::put_file;
use crate::snowflake::{int_at, text_at, Session};
use crate::tenant::config::{PushTable, TableName};

/// Sessions one batch may go through (fresh logins mid-batch) before the run gives up.
const MAX_BATCH_SESSIONS: u32 = 3;

/// The grant that lets a role create tables (and temporary tables) in the destination schema.
pub(crate) fn schema_grant(t: &TableName) -> String {
    format!(
        "GRANT USAGE ON DATABASE {} ; GRANT USAGE, CREATE TABLE ON SCHEMA {}.{}",
        t.database.sql(),
        t.database.sql(),
        t.schema.sql()
    )
}

/// How one batch reaches the temporary table.
pub(crate) enum Batch {
    /// `INSERT ... SELECT` statements (small batches: no file round trip).
    Statements(Vec<String>),
    /// A gzip CSV file, `PUT` into the temporary table's stage and `COPY`ed.
    File(BatchFile),
}

/// One export's destination table, through the run's session.
pub(crate) struct Destination<'a> {
    session: &'a Session,
    p: &'a PushTable,
    table: &'a TableName,
    cols: &'static [Column],
    /// The role the session writes as (for the grant a privilege error names).
    role: String,
    /// The session's temporary table (`SNOWSYNC_PUSH_<SOURCE>`).
    stage: Ident,
    load: Load,
    merge: String,
}

impl<'a> Destination<'a> {
    /// The destination of `p`, written as `role` (`None`: the user's default role).
    pub(crate) fn new(session: &'a Session, p: &'a PushTable, role: Option<&Ident>) -> Self {
        let cols = columns(p.source);
        let stage = Ident::from_exact(format!(
            "SNOWSYNC_PUSH_{}",
            p.source.as_str().to_uppercase()
        ));
        let names = cols
            .iter()
            .map(|c| Ident::from_exact(c.name).sql())
            .collect::<Vec<_>>()
            .join(", ");
        let casts = cols
            .iter()
            .enumerate()
            .map(|(i, c)| format!("value[{i}]::VARCHAR::{}", c.kind.stage_type()))
            .collect::<Vec<_>>()
            .join(", ");
        let load = Load {
            head: format!(
                "INSERT INTO {} ({names}) SELECT {casts} FROM TABLE(FLATTEN(INPUT => PARSE_JSON(",
                stage.sql()
            ),
        };
        let mut d = Self {
            session,
            p,
            table: &p.table,
            cols,
            role: role.map_or_else(
                || "(the user's default role)".to_owned(),
                |r| r.name().to_owned(),
            ),
            stage,
            load,
            merge: String::new(),
        };
        d.merge = d.merge_sql();
        d
    }

    /// Turns a privilege error into one that names the grant to give.
    fn grant_hint(&self, e: SyncError, grant: &str) -> SyncError {
        if e.kind() == ErrorKind::Privilege {
            SyncError::new(
                ErrorKind::Privilege,
                format!(
                    "role {} may not write the push destination {}: {grant} TO ROLE {} ({})",
                    self.role,
                    self.table,
                    self.role,
                    e.message()
                ),
            )
        } else {
            e
        }
    }

    /// Creates the destination when missing; checks an existing one's columns, and adds the
    /// columns it lacks (a field the platform added since the table was made).
    ///
    /// # Errors
    /// `config` naming the incompatible columns; `privilege` naming the grant; a classified
    /// Snowflake error.
    pub(crate) async fn ensure(&self) -> Result<()> {
        let t = self.table;
        let schema_grant = schema_grant(t);
        match destination_problems(self.session, self.p).await? {
            Some(shape) if !shape.incompatible.is_empty() => return Err(SyncError::config(format!(
                "push destination {t} exists with incompatible columns: {}; snowsync only adds missing columns: fix or drop it, or set [[push]] table to a new name",
                shape.incompatible.join(", ")
            ))),
            Some(shape) => {
                for (name, kind) in shape.missing {
                    let ddl = format!(
                        "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}",
                        t.sql(),
                        Ident::from_exact(name).sql(),
                        kind.sf_type()
                    );
                    self.session.execute(&ddl).await.map_err(|e| {
                        if e.kind() == ErrorKind::Privilege {
                            SyncError::new(ErrorKind::Privilege, format!(
                                "role {} may not add column {name} to the push destination {t}: its owner runs {ddl}, or grants OWNERSHIP ON TABLE {} TO ROLE {} ({})",
                                self.role, t.sql(), self.role, e.message()
                            ))
                        } else {
                            e
                        }
                    })?;
                    tracing::info!(table = %t, column = name, "added a column to the push destination");
                }
            }
            None => {
                let mut defs: Vec<String> = self
                    .cols
                    .iter()
                    .map(|c| {
                        let not_null = if c.name == "ID" { " NOT NULL" } else { "" };
                        format!("{} {}{not_null}", Ident::from_exact(c.name).sql(), c.kind.sf_type())
                    })
                    .collect();
                defs.push(format!("{} TIMESTAMP_TZ", Ident::from_exact("EXPORTED_AT").sql()));
                let ddl = format!("CREATE TABLE IF NOT EXISTS {} ({})", t.sql(), defs.join(", "));
                self.session
                    .execute(&ddl)
                    .await
                    .map_err(|e| self.grant_hint(e, &schema_grant))?;
                tracing::info!(table = %t, "created the push destination");
            }
        }
        Ok(())
    }

    /// Creates the session's temporary table the batches are loaded into (the session
    /// creates it again after every fresh login).
    ///
    /// # Errors
    /// `privilege` naming the grant; a classified Snowflake error.
    pub(crate) async fn open_stage(&self) -> Result<()> {
        let stage_defs = self
            .cols
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    Ident::from_exact(c.name).sql(),
                    c.kind.stage_type()
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        self.session
            .execute_setup(&format!(
                "CREATE TEMPORARY TABLE IF NOT EXISTS {} ({stage_defs})",
                self.stage.sql()
            ))
            .await
            .map_err(|e| self.grant_hint(e, &schema_grant(self.table)))
    }

    /// A batch of platform rows as the statements that load it, and its last position.
    ///
    /// # Errors
    /// `config` for a value that cannot be sent (named by column, never quoted).
    pub(crate) fn statements(
        &self,
        rows: &[tokio_postgres::Row],
    ) -> Result<(Vec<String>, Position)> {
        self.load.statements(rows, self.cols)
    }

    /// Loads one batch into the temporary table and merges it into the destination. A fresh
    /// login mid-batch (the session expired past renewal) recreates the temporary table
    /// empty: the batch is loaded and merged again (the `MERGE` by `ID` makes the repeat
    /// harmless) until one session saw it through.
    ///
    /// # Errors
    /// `transient` after [`MAX_BATCH_SESSIONS`] sessions; `privilege` naming the grant; a
    /// classified Snowflake error.
    pub(crate) async fn load_and_merge(&self, batch: &Batch) -> Result<()> {
        let schema_grant = schema_grant(self.table);
        let insert_grant = format!("GRANT SELECT, INSERT, UPDATE ON TABLE {}", self.table.sql());
        let mut attempts = 0;
        loop {
            let epoch = self.session.epoch();
            self.session
                .execute(&format!("DELETE FROM {}", self.stage.sql()))
                .await
                .map_err(|e| self.grant_hint(e, &schema_grant))?;
            match batch {
                Batch::Statements(statements) => {
                    for s in statements {
                        self.session
                            .execute(s)
                            .await
                            .map_err(|e| self.grant_hint(e, &schema_grant))?;
                    }
                }
                Batch::File(file) => self.copy_file(file).await?,
            }
            self.session
                .execute(&self.merge)
                .await
                .map_err(|e| self.grant_hint(e, &insert_grant))?;
            if self.session.epoch() == epoch {
                return Ok(());
            }
            attempts += 1;
            if attempts >= MAX_BATCH_SESSIONS {
                return Err(SyncError::transient(format!(
                    "the Snowflake session was lost {attempts} times while loading one batch; the next run retries it"
                )));
            }
            tracing::info!(
                table = %self.table,
                "Snowflake session logged in afresh mid-batch; loading the batch again"
            );
        }
    }

    /// Puts `file` into the temporary table's stage and `COPY`s it into the table. The file
    /// keeps its batch's name, so a `COPY` Snowflake already ran for it (a retried request)
    /// finds it in the table's load history and skips it instead of loading it twice; a skip
    /// here, where the table was just emptied, would leave the batch out, so it fails the run
    /// before the watermark moves.
    async fn copy_file(&self, file: &BatchFile) -> Result<()> {
        let schema_grant = schema_grant(self.table);
        let stage = format!("@%{}", self.stage.name());
        put_file(self.session, &stage, &file.name, file.bytes.clone())
            .await
            .map_err(|e| self.grant_hint(e, &schema_grant))?;
        let copy = format!(
            "COPY INTO {} FROM {stage} FILES = ({}) {COPY_FORMAT} ON_ERROR = ABORT_STATEMENT",
            self.stage.sql(),
            sf_string(&file.name)
        );
        let result = self
            .session
            .query(&copy)
            .await
            .map_err(|e| self.grant_hint(e, &schema_grant))?;
        let mut loaded = 0i64;
        let mut statuses = Vec::new();
        for b in &result {
            if b.num_columns() < 4 {
                continue; // "Copy executed with 0 files processed."
            }
            for row in 0..b.num_rows() {
                statuses.push(text_at(b, 1, row).unwrap_or_default());
                loaded += int_at(b, 3, row).unwrap_or(0);
            }
        }
        if statuses.iter().all(|s| s == "LOADED") && usize::try_from(loaded).ok() == Some(file.rows)
        {
            return Ok(());
        }
        Err(SyncError::transient(format!(
            "COPY INTO loaded {loaded} of the {} rows of batch file {} ({}); the watermark stays, the next run loads the batch again",
            file.rows,
            file.name,
            if statuses.is_empty() { "the file was not in the stage".to_owned() } else { statuses.join(", ") }
        )))
    }

    fn merge_sql(&self) -> String {
        let cols = self.cols;
        let stage = &self.stage;
        let q = |n: &str| Ident::from_exact(n).sql();
        let source_cols = cols
            .iter()
            .map(|c| match c.kind {
                Kind::Json => format!("PARSE_JSON({}) AS {}", q(c.name), q(c.name)),
                _ => q(c.name),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let updates = cols
            .iter()
            .filter(|c| c.name != "ID")
            .map(|c| format!("{} = s.{}", q(c.name), q(c.name)))
            .chain(std::iter::once(format!(
                "{} = CURRENT_TIMESTAMP()",
                q("EXPORTED_AT")
            )))
            .collect::<Vec<_>>()
            .join(", ");
        let names = cols
            .iter()
            .map(|c| q(c.name))
            .chain(std::iter::once(q("EXPORTED_AT")))
            .collect::<Vec<_>>()
            .join(", ");
        let values = cols
            .iter()
            .map(|c| format!("s.{}", q(c.name)))
            .chain(std::iter::once("CURRENT_TIMESTAMP()".to_owned()))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "MERGE INTO {dest} d USING (SELECT {source_cols} FROM {stage} \
             QUALIFY ROW_NUMBER() OVER (PARTITION BY {id} ORDER BY {ing} DESC) = 1) s \
             ON d.{id} = s.{id} \
             WHEN MATCHED THEN UPDATE SET {updates} \
             WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})",
            dest = self.table.sql(),
            stage = stage.sql(),
            id = q("ID"),
            ing = q("INGESTED_AT"),
        )
    }
}

/// How an existing destination's columns compare with the export's.
#[derive(Debug, Default)]
pub(crate) struct Shape {
    /// Columns it lacks (added by the next push).
    pub missing: Vec<(&'static str, Kind)>,
    /// Columns whose type cannot take the export's values (`NAME is TYPE (needs TYPE)`).
    pub incompatible: Vec<String>,
}

/// How an existing destination's columns compare with the export's, or `None` when the
/// destination does not exist yet.
///
/// # Errors
/// A classified Snowflake error.
pub(crate) async fn destination_problems(
    session: &Session,
    p: &PushTable,
) -> Result<Option<Shape>> {
    let t = &p.table;
    let sql = format!(
        "SELECT COLUMN_NAME, DATA_TYPE FROM {}.INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}",
        t.database.sql(),
        sf_string(t.schema.name()),
        sf_string(t.table.name())
    );
    let mut existing: Vec<(String, String)> = Vec::new();
    for b in session.query(&sql).await? {
        for row in 0..b.num_rows() {
            existing.push((
                text_at(&b, 0, row).unwrap_or_default(),
                text_at(&b, 1, row).unwrap_or_default(),
            ));
        }
    }
    if existing.is_empty() {
        return Ok(None);
    }
    let wanted = columns(p.source)
        .iter()
        .map(|c| (c.name, c.kind))
        .chain(std::iter::once(("EXPORTED_AT", Kind::Timestamp)));
    let mut shape = Shape::default();
    for (name, kind) in wanted {
        match existing.iter().find(|(n, _)| n == name) {
            None => shape.missing.push((name, kind)),
            Some((_, ty)) if !kind.accepts(ty) => {
                shape
                    .incompatible
                    .push(format!("{name} is {ty} (needs {})", kind.sf_type()));
            }
            Some(_) => {}
        }
    }
    Ok(Some(shape))
}
