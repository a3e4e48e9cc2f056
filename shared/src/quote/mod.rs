//! The one place where identifiers and literals become SQL text, for Snowflake and PostgreSQL.
//!
//! Everything user-controlled (identifiers from a tenant's config, names that came back from
//! Snowflake's `information_schema`, values used in `WHERE` clauses) is turned into SQL here and
//! nowhere else. The property tests at the bottom prove that every quoted form reads back as
//! exactly the text that went in.
//!
//! - [`Ident`] is a resolved Snowflake identifier: [`Ident::parse`] applies Snowflake's rules
//!   (unquoted names fold to upper case, double-quoted names are kept as written) and
//!   [`Ident::sql`] always renders the double-quoted form, so reserved words, mixed case and
//!   unicode are safe.
//! - [`sf_string`] and [`pg_string`] render string literals for each database; [`sf_ident`] and
//!   [`pg_ident`] quote an exact name.

use std::fmt;

/// Snowflake's maximum identifier length, in characters.
pub const SF_MAX_IDENT_CHARS: usize = 255;

/// PostgreSQL's maximum identifier length, in bytes (`NAMEDATALEN - 1`); longer names are
/// silently truncated by the server, so we refuse them instead.
pub const PG_MAX_IDENT_BYTES: usize = 63;

/// Why an identifier could not be parsed or quoted. The message says what is wrong and how to
/// write the name instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    /// The name (or one part of a qualified name) is empty.
    #[error("invalid identifier '{input}': a name cannot be empty")]
    Empty {
        /// The text as the user wrote it.
        input: String,
    },
    /// An unquoted name does not start with a letter or `_`.
    #[error(
        "invalid identifier '{input}': unquoted names must start with a letter or _; \
         put it in double quotes ({quoted}) to use it as written"
    )]
    BadStart {
        /// The text as the user wrote it.
        input: String,
        /// The double-quoted spelling that would keep the text exactly.
        quoted: String,
    },
    /// An unquoted name contains a character other than letters, digits, `_` and `$`.
    #[error(
        "invalid identifier '{input}': unquoted names may contain only letters, digits, _ and $; \
         put it in double quotes ({quoted}) to keep spaces or case"
    )]
    BadChar {
        /// The text as the user wrote it.
        input: String,
        /// The double-quoted spelling that would keep the text exactly.
        quoted: String,
    },
    /// A double-quoted name has no closing quote.
    #[error(
        "invalid identifier '{input}': the closing double quote is missing; \
         write the name as \"name\", with \"\" for a double quote inside it"
    )]
    Unterminated {
        /// The text as the user wrote it.
        input: String,
    },
    /// Text follows the closing quote of a double-quoted name.
    #[error(
        "invalid identifier '{input}': unexpected '{rest}' after the closing double quote; \
         a double quote inside a quoted name is written as \"\""
    )]
    TrailingText {
        /// The text as the user wrote it.
        input: String,
        /// What follows the closing quote.
        rest: String,
    },
    /// The name is longer than Snowflake allows.
    #[error(
        "invalid identifier '{input}': it is {chars} characters long; Snowflake allows at most 255"
    )]
    TooLong {
        /// The text as the user wrote it.
        input: String,
        /// The length of the resolved name, in characters.
        chars: usize,
    },
    /// A qualified name has the wrong number of dot-separated parts.
    #[error(
        "invalid qualified name '{input}': expected TABLE, SCHEMA.TABLE or DATABASE.SCHEMA.TABLE \
         but found {parts} parts; put a name that contains dots in double quotes"
    )]
    PartCount {
        /// The text as the user wrote it.
        input: String,
        /// How many parts were found.
        parts: usize,
    },
    /// A PostgreSQL identifier is longer than 63 bytes.
    #[error(
        "PostgreSQL identifier '{name}' is {bytes} bytes long; PostgreSQL allows at most 63 bytes, \
         so use a shorter name"
    )]
    PgTooLong {
        /// The name.
        name: String,
        /// Its length in bytes (UTF-8).
        bytes: usize,
    },
    /// A PostgreSQL identifier contains a NUL character.
    #[error(
        "PostgreSQL identifier {name:?} contains a NUL character, which PostgreSQL does not allow"
    )]
    PgNul {
        /// The name (shown with escapes).
        name: String,
    },
}

/// Why a value cannot be written as a string literal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiteralError {
    /// PostgreSQL text cannot hold a NUL character.
    #[error(
        "the value {value:?} contains a NUL character at byte {position}, \
         which PostgreSQL text cannot hold"
    )]
    PgNul {
        /// The value (shown with escapes).
        value: String,
        /// Byte offset of the first NUL.
        position: usize,
    },
}

/// A resolved Snowflake identifier: the exact name Snowflake stores.
///
/// `orders` and `ORDERS` both resolve to `ORDERS`; `"Orders"` resolves to `Orders`. Render it
/// into SQL only through [`Ident::sql`] (or [`sf_qualified`]), which always double-quotes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ident {
    name: String,
}

impl Ident {
    /// Parses one identifier as written in SQL or in a tenant's config, with Snowflake's rules:
    /// an unquoted name (`[A-Za-z_][A-Za-z0-9_$]*`) resolves to upper case; a double-quoted
    /// name (`"..."`, with `""` for one `"`) keeps its text exactly.
    ///
    /// # Errors
    /// [`IdentError`] when the text is empty, an unquoted name has a character outside the
    /// allowed set, a quote is unterminated, text follows the closing quote, or the name is
    /// longer than 255 characters. The message says how to write the name instead.
    pub fn parse(s: &str) -> Result<Ident, IdentError> {
        let name = if s.starts_with('"') {
            let (name, consumed) = parse_quoted(s, s)?;
            if consumed != s.len() {
                return Err(IdentError::TrailingText {
                    input: s.to_owned(),
                    rest: s[consumed..].to_owned(),
                });
            }
            name
        } else {
            parse_unquoted(s)?
        };
        Ident::checked(name, s)
    }

    /// Parses `TABLE`, `SCHEMA.TABLE` or `DATABASE.SCHEMA.TABLE`, splitting on dots outside
    /// double quotes. Each part follows [`Ident::parse`].
    ///
    /// # Errors
    /// [`IdentError::PartCount`] for zero or more than three parts, or the error of the first
    /// invalid part.
    pub fn parse_qualified(s: &str) -> Result<Vec<Ident>, IdentError> {
        let mut parts = Vec::new();
        let mut rest = s;
        loop {
            let (part, consumed) = if rest.starts_with('"') {
                let (name, consumed) = parse_quoted(rest, rest)?;
                let part_text = &rest[..consumed];
                match rest[consumed..].chars().next() {
                    None | Some('.') => {}
                    Some(_) => {
                        let end = rest[consumed..]
                            .find('.')
                            .map_or(rest.len(), |i| i + consumed);
                        return Err(IdentError::TrailingText {
                            input: rest[..end].to_owned(),
                            rest: rest[consumed..end].to_owned(),
                        });
                    }
                }
                (Ident::checked(name, part_text)?, consumed)
            } else {
                let end = rest.find('.').unwrap_or(rest.len());
                (
                    Ident::checked(parse_unquoted(&rest[..end])?, &rest[..end])?,
                    end,
                )
            };
            parts.push(part);
            rest = &rest[consumed..];
            match rest.strip_prefix('.') {
                Some(after) => rest = after,
                None => break,
            }
        }
        if parts.len() > 3 {
            return Err(IdentError::PartCount {
                input: s.to_owned(),
                parts: parts.len(),
            });
        }
        Ok(parts)
    }

    /// Wraps a name exactly as Snowflake stores it (for example a `COLUMN_NAME` read from
    /// `information_schema`). No case folding, no validation.
    pub fn from_exact(name: impl Into<String>) -> Ident {
        Ident { name: name.into() }
    }

    /// The exact stored name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name as Snowflake SQL: always double-quoted, with `"` doubled.
    pub fn sql(&self) -> String {
        sf_ident(&self.name)
    }

    fn checked(name: String, input: &str) -> Result<Ident, IdentError> {
        let chars = name.chars().count();
        if chars > SF_MAX_IDENT_CHARS {
            return Err(IdentError::TooLong {
                input: input.to_owned(),
                chars,
            });
        }
        Ok(Ident { name })
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Parses an unquoted identifier; `s` is the whole identifier text.
fn parse_unquoted(s: &str) -> Result<String, IdentError> {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return Err(IdentError::Empty {
            input: s.to_owned(),
        });
    };
    if !(first.is_ascii_alphabetic() || first == '_') {
        return Err(IdentError::BadStart {
            input: s.to_owned(),
            quoted: sf_ident(s),
        });
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
        return Err(IdentError::BadChar {
            input: s.to_owned(),
            quoted: sf_ident(s),
        });
    }
    Ok(s.to_ascii_uppercase())
}

/// Parses a double-quoted identifier at the start of `s` (which starts with `"`). Returns the
/// name and the number of bytes consumed (through the closing quote). `input` is what error
/// messages show.
fn parse_quoted(s: &str, input: &str) -> Result<(String, usize), IdentError> {
    let mut name = String::new();
    let body = &s[1..];
    let mut iter = body.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if c == '"' {
            if matches!(iter.peek(), Some((_, '"'))) {
                iter.next();
                name.push('"');
            } else {
                if name.is_empty() {
                    return Err(IdentError::Empty {
                        input: s[..i + 2].to_owned(),
                    });
                }
                return Ok((name, i + 2));
            }
        } else {
            name.push(c);
        }
    }
    Err(IdentError::Unterminated {
        input: input.to_owned(),
    })
}

/// Quotes an exact Snowflake name: `"` + name with `"` doubled + `"`.
pub fn sf_ident(exact_name: &str) -> String {
    let mut out = String::with_capacity(exact_name.len() + 2);
    out.push('"');
    for c in exact_name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Joins quoted identifiers with `.`: `"DB"."SCHEMA"."TABLE"`.
pub fn sf_qualified(parts: &[&Ident]) -> String {
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(&part.sql());
    }
    out
}

/// A Snowflake single-quoted string literal for `value`, read back by Snowflake as exactly
/// `value`.
///
/// Snowflake interprets backslash escapes inside single-quoted strings, so `\` becomes `\\`,
/// `'` becomes `''`, and NUL becomes `\x00` (the two-digit hex escape; `\0` is avoided because a
/// following digit could be read as part of an octal escape `\ooo`). Every other character,
/// newlines and unicode included, is kept verbatim.
pub fn sf_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("''"),
            '\0' => out.push_str("\\x00"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A PostgreSQL quoted identifier: `"` + name with `"` doubled + `"`.
///
/// # Errors
/// [`IdentError::PgTooLong`] when the name is longer than 63 bytes (PostgreSQL would silently
/// truncate it), [`IdentError::PgNul`] when it contains a NUL character.
pub fn pg_ident(name: &str) -> Result<String, IdentError> {
    if name.contains('\0') {
        return Err(IdentError::PgNul {
            name: name.to_owned(),
        });
    }
    if name.len() > PG_MAX_IDENT_BYTES {
        return Err(IdentError::PgTooLong {
            name: name.to_owned(),
            bytes: name.len(),
        });
    }
    if name.is_empty() {
        return Err(IdentError::Empty {
            input: name.to_owned(),
        });
    }
    Ok(sf_ident(name))
}

/// A PostgreSQL string literal `'...'` with `'` doubled, for a server with
/// `standard_conforming_strings = on` (the default since PostgreSQL 9.1), where backslashes are
/// ordinary characters.
///
/// # Errors
/// [`LiteralError::PgNul`] when the value contains a NUL character, which PostgreSQL text
/// cannot hold.
pub fn pg_string(value: &str) -> Result<String, LiteralError> {
    if let Some(position) = value.find('\0') {
        return Err(LiteralError::PgNul {
            value: value.to_owned(),
            position,
        });
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
    Ok(out)
}

#[cfg(test)]
mod tests;

/// `(c1 > v1) OR (c1 = v1 AND c2 > v2) OR ...`: tuples strictly after `bound` in key order,
/// over quoted columns and literals of either system (Snowflake's or PostgreSQL's).
pub fn keyset_after(cols: &[String], bound: &[String]) -> String {
    keyset(cols, bound, ">", false)
}

/// `(c1 < v1) OR (c1 = v1 AND c2 < v2) OR ... OR (c1 = v1 AND ... AND cn = vn)`: tuples at or
/// before `bound` in key order.
pub fn keyset_upto(cols: &[String], bound: &[String]) -> String {
    keyset(cols, bound, "<", true)
}

fn keyset(cols: &[String], bound: &[String], op: &str, or_equal: bool) -> String {
    let eq = |j: usize| format!("{} = {}", cols[j], bound[j]);
    let mut terms = Vec::with_capacity(cols.len() + 1);
    for i in 0..cols.len().min(bound.len()) {
        let mut parts: Vec<String> = (0..i).map(eq).collect();
        parts.push(format!("{} {op} {}", cols[i], bound[i]));
        terms.push(format!("({})", parts.join(" AND ")));
    }
    if or_equal {
        terms.push(format!(
            "({})",
            (0..cols.len()).map(eq).collect::<Vec<_>>().join(" AND ")
        ));
    }
    terms.join(" OR ")
}

/// The modulus of [`key_fingerprint_sql`]: the largest prime below 2^31, so every product of
/// two residues stays exact in `NUMBER(38,0)`, `numeric` and a double alike.
const FINGERPRINT_MOD: u64 = 2_147_483_647;

/// `SELECT COUNT(*), SUM(y), SUM(y^2 mod p), SUM(y^3 mod p) FROM (SELECT y FROM <from_where>)`
/// where `y` folds the integer key columns `cols` (quoted) into one residue mod
/// [`FINGERPRINT_MOD`]. Snowflake and PostgreSQL compute it alike given the same key set, with
/// only `numeric` (the exact type to cast to) differing: equal results mean the two sides hold
/// the same keys but for a collision of count and three power sums at once.
pub fn key_fingerprint_sql(cols: &[String], numeric: &str, from_where: &str) -> String {
    let p = FINGERPRINT_MOD;
    let mut y = String::new();
    for (i, c) in cols.iter().enumerate() {
        let term = format!("(CAST({c} AS {numeric}) % {p})");
        y = if i == 0 {
            term
        } else {
            // 31 * y + term, folded again: distinct tuples stay distinct residues mostly.
            format!("((({y}) * 31 + {term}) % {p})")
        };
    }
    format!(
        "SELECT COUNT(*), SUM(\"_Y\"), SUM(\"_Y\" * \"_Y\" % {p}), SUM((\"_Y\" * \"_Y\" % {p}) * \"_Y\" % {p}) \
         FROM (SELECT {y} AS \"_Y\" FROM {from_where}) AS \"_F\""
    )
}
