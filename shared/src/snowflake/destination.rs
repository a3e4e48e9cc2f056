//! The push destination in Snowflake: created when missing (an existing one's columns are
//! checked, never altered), the session's temporary table each batch is loaded into, and the
//! `MERGE` by `ID` that makes a repeated batch an update, never a second row.

use crate::error::{ErrorKind, Result, SyncError};
use crate::export::{columns, Column, Kind, Position};
use crate::quote::{sf_string, Ident};
use crate::snowflake::load::Load;
use crate::snowflake::{text_at, Session};
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

    /// Creates the destination when missing; checks an existing one's columns.
    ///
    /// # Errors
    /// `config` naming the incompatible columns; `privilege` naming the grant; a classified
    /// Snowflake error.
    pub(crate) async fn ensure(&self) -> Result<()> {
        let t = self.table;
        let schema_grant = schema_grant(t);
        match destination_problems(self.session, self.p).await? {
            Some(problems) if problems.is_empty() => {}
            Some(problems) => return Err(SyncError::config(format!(
                "push destination {t} exists with incompatible columns: {}; snowsync never alters a table: fix or drop it, or set [[push]] table to a new name",
                problems.join(", ")
            ))),
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
    pub(crate) async fn load_and_merge(&self, statements: &[String]) -> Result<()> {
        let schema_grant = schema_grant(self.table);
        let insert_grant = format!("GRANT SELECT, INSERT, UPDATE ON TABLE {}", self.table.sql());
        let mut attempts = 0;
        loop {
            let epoch = self.session.epoch();
            self.session
                .execute(&format!("DELETE FROM {}", self.stage.sql()))
                .await
                .map_err(|e| self.grant_hint(e, &schema_grant))?;
            for s in statements {
                self.session
                    .execute(s)
                    .await
                    .map_err(|e| self.grant_hint(e, &schema_grant))?;
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

/// What is wrong with an existing destination's columns (empty: compatible), or `None` when
/// the destination does not exist yet.
///
/// # Errors
/// A classified Snowflake error.
pub(crate) async fn destination_problems(
    session: &Session,
    p: &PushTable,
) -> Result<Option<Vec<String>>> {
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
    let mut problems = Vec::new();
    for (name, kind) in wanted {
        match existing.iter().find(|(n, _)| n == name) {
            None => problems.push(format!("{name} is missing")),
            Some((_, ty)) if !kind.accepts(ty) => {
                problems.push(format!("{name} is {ty} (needs {})", kind.sf_type()));
            }
            Some(_) => {}
        }
    }
    Ok(Some(problems))
}
