//! The push destination in Snowflake: its privileges and whether its columns fit.

use super::*;

/// The grant that lets a role create tables (and temporary tables) in the destination schema.
pub(crate) fn schema_grant(t: &crate::config::TableName) -> String {
    format!(
        "GRANT USAGE ON DATABASE {} ; GRANT USAGE, CREATE TABLE ON SCHEMA {}.{}",
        t.database.sql(),
        t.database.sql(),
        t.schema.sql()
    )
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
