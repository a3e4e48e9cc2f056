//! Snowflake column types, as `information_schema.columns` reports them, and the PostgreSQL
//! column type each one lands in (the "Platform database" type mapping of the spec).

use std::fmt;

use crate::quote::Ident;

/// Highest precision of a Snowflake `NUMBER`.
const MAX_PRECISION: u8 = 38;
/// Highest fractional-seconds scale of Snowflake's time and timestamp types.
const MAX_TIME_SCALE: u8 = 9;
/// Largest `NUMBER(p,0)` precision whose values always fit PostgreSQL `bigint`.
const BIGINT_MAX_PRECISION: u8 = 18;

/// A Snowflake column type, with the parameters that matter for decoding and mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SfType {
    /// `NUMBER(precision, scale)` and its synonyms (`DECIMAL`, `INT`, ...).
    Number {
        /// Total digits, 1..=38.
        precision: u8,
        /// Digits after the decimal point, 0..=precision.
        scale: u8,
    },
    /// `FLOAT` (a double, whatever synonym was used).
    Float,
    /// `VARCHAR`/`TEXT`/`STRING`/`CHAR`.
    Text,
    /// `BOOLEAN`.
    Boolean,
    /// `DATE`.
    Date,
    /// `TIME(scale)`.
    Time {
        /// Fractional-second digits, 0..=9.
        scale: u8,
    },
    /// `TIMESTAMP_NTZ(scale)`: wall-clock time without a zone.
    TimestampNtz {
        /// Fractional-second digits, 0..=9.
        scale: u8,
    },
    /// `TIMESTAMP_LTZ(scale)`: an instant, shown in the session's zone.
    TimestampLtz {
        /// Fractional-second digits, 0..=9.
        scale: u8,
    },
    /// `TIMESTAMP_TZ(scale)`: an instant with its own offset.
    TimestampTz {
        /// Fractional-second digits, 0..=9.
        scale: u8,
    },
    /// `VARIANT` (JSON).
    Variant,
    /// `OBJECT` (JSON object).
    Object,
    /// `ARRAY` (JSON array).
    Array,
    /// `BINARY`/`VARBINARY`.
    Binary,
    /// `GEOGRAPHY`, selected as GeoJSON text.
    Geography,
    /// `GEOMETRY`, selected as GeoJSON text.
    Geometry,
}

/// A column type snowsync cannot copy, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported Snowflake column type '{data_type}': {reason}")]
pub struct UnsupportedType {
    /// The type as Snowflake reported it (with its parameters when they were the problem).
    pub data_type: String,
    /// Why, and what to do about it.
    pub reason: String,
}

impl SfType {
    /// Resolves a column type from `information_schema.columns` (`DATA_TYPE`,
    /// `NUMERIC_PRECISION`, `NUMERIC_SCALE`, `DATETIME_PRECISION`).
    ///
    /// `data_type` is matched case-insensitively and may be a synonym (`DECIMAL`, `INT`,
    /// `DOUBLE`, `VARCHAR`, `DATETIME`, `VARBINARY`, ...) or carry its parameters in parentheses
    /// as `DESCRIBE TABLE` prints them (`NUMBER(10,2)`, `TIMESTAMP_NTZ(3)`); the separate
    /// precision/scale arguments win over parenthesised ones. Defaults: `NUMBER` precision 38,
    /// scale 0; time and timestamp precision 9.
    ///
    /// # Errors
    /// [`UnsupportedType`] for `VECTOR`, `MAP`, unknown types, and out-of-range parameters.
    pub fn from_information_schema(
        data_type: &str,
        numeric_precision: Option<i64>,
        numeric_scale: Option<i64>,
        datetime_precision: Option<i64>,
    ) -> Result<SfType, UnsupportedType> {
        let unsupported = |reason: String| UnsupportedType {
            data_type: data_type.trim().to_owned(),
            reason,
        };
        let upper = data_type.trim().to_ascii_uppercase();
        let (base, args) = match upper.split_once('(') {
            Some((base, rest)) => {
                let inner = rest.trim_end().strip_suffix(')').ok_or_else(|| {
                    unsupported("the type's parameters are not closed with ')'".to_owned())
                })?;
                (base.trim(), Some(inner))
            }
            None => (upper.as_str(), None),
        };
        let base = base.split_whitespace().collect::<Vec<_>>().join(" ");
        // Parameters written inside the type name, used only where the separate arguments are
        // missing. Structured ARRAY(...)/OBJECT(...) carry element types here, which we ignore.
        let numeric_args = |i: usize| -> Option<i64> {
            args.and_then(|a| a.split(',').nth(i))
                .and_then(|p| p.trim().parse().ok())
        };
        let time_scale = |value: Option<i64>| -> Result<u8, UnsupportedType> {
            let scale = value.or_else(|| numeric_args(0)).unwrap_or(9);
            u8::try_from(scale)
                .ok()
                .filter(|s| *s <= MAX_TIME_SCALE)
                .ok_or_else(|| {
                    unsupported(format!(
                        "fractional-second precision {scale} is outside 0..=9"
                    ))
                })
        };
        let ty = match base.as_str() {
            "NUMBER" | "DECIMAL" | "NUMERIC" | "DEC" | "INT" | "INTEGER" | "BIGINT"
            | "SMALLINT" | "TINYINT" | "BYTEINT" => {
                let precision = numeric_precision.or_else(|| numeric_args(0)).unwrap_or(38);
                let scale = numeric_scale.or_else(|| numeric_args(1)).unwrap_or(0);
                let precision = u8::try_from(precision)
                    .ok()
                    .filter(|p| (1..=MAX_PRECISION).contains(p))
                    .ok_or_else(|| {
                        unsupported(format!("precision {precision} is outside 1..=38"))
                    })?;
                let scale = u8::try_from(scale)
                    .ok()
                    .filter(|s| *s <= precision && *s < MAX_PRECISION)
                    .ok_or_else(|| {
                        unsupported(format!(
                            "scale {scale} is outside 0..={} for precision {precision}",
                            precision.min(MAX_PRECISION - 1)
                        ))
                    })?;
                SfType::Number { precision, scale }
            }
            "FLOAT" | "FLOAT4" | "FLOAT8" | "DOUBLE" | "DOUBLE PRECISION" | "REAL" => SfType::Float,
            "TEXT" | "VARCHAR" | "STRING" | "CHAR" | "CHARACTER" | "NCHAR" | "NVARCHAR"
            | "NVARCHAR2" | "CHAR VARYING" | "NCHAR VARYING" | "CHARACTER VARYING" => SfType::Text,
            "BOOLEAN" | "BOOL" => SfType::Boolean,
            "DATE" => SfType::Date,
            "TIME" => SfType::Time {
                scale: time_scale(datetime_precision)?,
            },
            "TIMESTAMP_NTZ"
            | "TIMESTAMPNTZ"
            | "TIMESTAMP WITHOUT TIME ZONE"
            | "DATETIME"
            | "TIMESTAMP" => SfType::TimestampNtz {
                scale: time_scale(datetime_precision)?,
            },
            "TIMESTAMP_LTZ" | "TIMESTAMPLTZ" | "TIMESTAMP WITH LOCAL TIME ZONE" => {
                SfType::TimestampLtz {
                    scale: time_scale(datetime_precision)?,
                }
            }
            "TIMESTAMP_TZ" | "TIMESTAMPTZ" | "TIMESTAMP WITH TIME ZONE" => SfType::TimestampTz {
                scale: time_scale(datetime_precision)?,
            },
            "VARIANT" => SfType::Variant,
            "OBJECT" => SfType::Object,
            "ARRAY" => SfType::Array,
            "BINARY" | "VARBINARY" => SfType::Binary,
            "GEOGRAPHY" => SfType::Geography,
            "GEOMETRY" => SfType::Geometry,
            "VECTOR" => {
                return Err(unsupported(
                    "VECTOR has no PostgreSQL equivalent that snowsync maps to; leave the column \
                     out of `columns`, or expose it as ARRAY through a view"
                        .to_owned(),
                ))
            }
            _ => {
                return Err(unsupported(
                    "snowsync copies NUMBER, FLOAT, TEXT, BOOLEAN, DATE, TIME, TIMESTAMP_NTZ, \
                     TIMESTAMP_LTZ, TIMESTAMP_TZ, VARIANT, OBJECT, ARRAY, BINARY, GEOGRAPHY and \
                     GEOMETRY; leave the column out of `columns`, or cast it in a view"
                        .to_owned(),
                ))
            }
        };
        Ok(ty)
    }

    /// Whether the values land in a PostgreSQL `bigint` (a whole `NUMBER` of at most 18
    /// digits); other numbers land in `numeric`.
    pub fn is_pg_bigint(&self) -> bool {
        matches!(*self, SfType::Number { precision, scale: 0 } if precision <= BIGINT_MAX_PRECISION)
    }

    /// The most bytes one value takes in a page (binary COPY, length word included), from
    /// the type and its declared length (`CHARACTER_MAXIMUM_LENGTH`: characters of text,
    /// bytes of binary). Without a declared length a variable-size value may hold Snowflake's
    /// largest, 16 MiB (up to 4 bytes a character in UTF-8, never more than that).
    pub fn max_value_bytes(&self, declared_length: Option<i64>) -> usize {
        const LARGEST: usize = 16 << 20;
        let declared = declared_length.and_then(|n| usize::try_from(n).ok());
        4 + match self {
            SfType::Number { .. } => 32,
            SfType::Float | SfType::Date | SfType::Time { .. } | SfType::Boolean => 8,
            SfType::TimestampNtz { .. }
            | SfType::TimestampLtz { .. }
            | SfType::TimestampTz { .. } => 8,
            SfType::Text => declared.map_or(LARGEST, |n| n.saturating_mul(4).min(LARGEST)),
            SfType::Binary => declared.map_or(LARGEST, |n| n.min(LARGEST)),
            SfType::Variant
            | SfType::Object
            | SfType::Array
            | SfType::Geography
            | SfType::Geometry => LARGEST,
        }
    }

    /// The PostgreSQL column type the values land in.
    pub fn pg_type(&self) -> String {
        match *self {
            _ if self.is_pg_bigint() => "bigint".to_owned(),
            SfType::Number { precision, scale } => format!("numeric({precision},{scale})"),
            SfType::Float => "double precision".to_owned(),
            SfType::Text | SfType::Geography | SfType::Geometry => "text".to_owned(),
            SfType::Boolean => "boolean".to_owned(),
            SfType::Date => "date".to_owned(),
            SfType::Time { .. } => "time".to_owned(),
            SfType::TimestampNtz { .. } => "timestamp".to_owned(),
            SfType::TimestampLtz { .. } | SfType::TimestampTz { .. } => "timestamptz".to_owned(),
            SfType::Variant | SfType::Object | SfType::Array => "jsonb".to_owned(),
            SfType::Binary => "bytea".to_owned(),
        }
    }

    /// The Snowflake `SELECT`-list expression for `column`: the quoted name, except
    /// `GEOGRAPHY`/`GEOMETRY`, which are selected as GeoJSON text
    /// (`ST_ASGEOJSON("C")::TEXT AS "C"`) because the Rust client cannot decode them and
    /// GeoJSON text is what lands in PostgreSQL.
    pub fn select_expr(&self, column: &Ident) -> String {
        let quoted = column.sql();
        match self {
            SfType::Geography | SfType::Geometry => {
                format!("ST_ASGEOJSON({quoted})::TEXT AS {quoted}")
            }
            _ => quoted,
        }
    }
}

impl fmt::Display for SfType {
    /// Snowflake's own spelling: `NUMBER(38,0)`, `TIMESTAMP_NTZ(9)`, `TEXT`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SfType::Number { precision, scale } => write!(f, "NUMBER({precision},{scale})"),
            SfType::Float => f.write_str("FLOAT"),
            SfType::Text => f.write_str("TEXT"),
            SfType::Boolean => f.write_str("BOOLEAN"),
            SfType::Date => f.write_str("DATE"),
            SfType::Time { scale } => write!(f, "TIME({scale})"),
            SfType::TimestampNtz { scale } => write!(f, "TIMESTAMP_NTZ({scale})"),
            SfType::TimestampLtz { scale } => write!(f, "TIMESTAMP_LTZ({scale})"),
            SfType::TimestampTz { scale } => write!(f, "TIMESTAMP_TZ({scale})"),
            SfType::Variant => f.write_str("VARIANT"),
            SfType::Object => f.write_str("OBJECT"),
            SfType::Array => f.write_str("ARRAY"),
            SfType::Binary => f.write_str("BINARY"),
            SfType::Geography => f.write_str("GEOGRAPHY"),
            SfType::Geometry => f.write_str("GEOMETRY"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_sizes_bound_a_value_and_unbounded_ones_take_the_largest() {
        let text = SfType::Text;
        assert_eq!(text.max_value_bytes(Some(10)), 4 + 40);
        assert_eq!(text.max_value_bytes(Some(16_777_216)), 4 + (16 << 20));
        assert_eq!(text.max_value_bytes(None), 4 + (16 << 20));
        assert_eq!(SfType::Binary.max_value_bytes(Some(100)), 104);
        assert_eq!(SfType::Variant.max_value_bytes(None), 4 + (16 << 20));
        assert_eq!(SfType::Boolean.max_value_bytes(None), 12);
    }

    fn ty(dt: &str, p: Option<i64>, s: Option<i64>, d: Option<i64>) -> SfType {
        match SfType::from_information_schema(dt, p, s, d) {
            Ok(t) => t,
            Err(e) => panic!("{dt}: {e}"),
        }
    }

    fn t(dt: &str) -> SfType {
        ty(dt, None, None, None)
    }

    #[test]
    fn information_schema_names_and_synonyms() {
        assert_eq!(
            ty("NUMBER", Some(38), Some(0), None),
            SfType::Number {
                precision: 38,
                scale: 0
            }
        );
        assert_eq!(
            ty("NUMBER", Some(10), Some(2), None),
            SfType::Number {
                precision: 10,
                scale: 2
            }
        );
        assert_eq!(
            t("NUMBER"),
            SfType::Number {
                precision: 38,
                scale: 0
            }
        );
        assert_eq!(
            t("decimal"),
            SfType::Number {
                precision: 38,
                scale: 0
            }
        );
        assert_eq!(
            ty("numeric", Some(12), None, None),
            SfType::Number {
                precision: 12,
                scale: 0
            }
        );
        for int in ["INT", "integer", "BIGINT", "SmallInt", "TINYINT", "BYTEINT"] {
            assert_eq!(
                t(int),
                SfType::Number {
                    precision: 38,
                    scale: 0
                },
                "{int}"
            );
        }
        assert_eq!(
            t("NUMBER(10,2)"),
            SfType::Number {
                precision: 10,
                scale: 2
            }
        );
        assert_eq!(
            t("number(18)"),
            SfType::Number {
                precision: 18,
                scale: 0
            }
        );
        for f in [
            "FLOAT",
            "double",
            "DOUBLE PRECISION",
            "REAL",
            "FLOAT4",
            "float8",
        ] {
            assert_eq!(t(f), SfType::Float, "{f}");
        }
        for s in [
            "TEXT",
            "varchar",
            "STRING",
            "CHAR",
            "VARCHAR(16777216)",
            "character varying",
        ] {
            assert_eq!(t(s), SfType::Text, "{s}");
        }
        assert_eq!(t("BOOLEAN"), SfType::Boolean);
        assert_eq!(t("DATE"), SfType::Date);
        assert_eq!(t("TIME"), SfType::Time { scale: 9 });
        assert_eq!(ty("TIME", None, None, Some(3)), SfType::Time { scale: 3 });
        assert_eq!(t("TIMESTAMP_NTZ"), SfType::TimestampNtz { scale: 9 });
        assert_eq!(t("datetime"), SfType::TimestampNtz { scale: 9 });
        assert_eq!(t("TIMESTAMP"), SfType::TimestampNtz { scale: 9 });
        assert_eq!(t("TIMESTAMP_NTZ(3)"), SfType::TimestampNtz { scale: 3 });
        assert_eq!(
            ty("TIMESTAMP_LTZ", None, None, Some(6)),
            SfType::TimestampLtz { scale: 6 }
        );
        assert_eq!(
            ty("timestamp_tz", None, None, Some(0)),
            SfType::TimestampTz { scale: 0 }
        );
        assert_eq!(
            t("TIMESTAMP WITH TIME ZONE"),
            SfType::TimestampTz { scale: 9 }
        );
        assert_eq!(t("VARIANT"), SfType::Variant);
        assert_eq!(t("OBJECT"), SfType::Object);
        assert_eq!(t("ARRAY"), SfType::Array);
        assert_eq!(t("ARRAY(NUMBER)"), SfType::Array);
        assert_eq!(t("BINARY"), SfType::Binary);
        assert_eq!(t("VARBINARY"), SfType::Binary);
        assert_eq!(t("GEOGRAPHY"), SfType::Geography);
        assert_eq!(t(" geometry "), SfType::Geometry);
    }

    #[test]
    fn unsupported_types_are_named() {
        let err = |dt: &str, p, s, d| match SfType::from_information_schema(dt, p, s, d) {
            Ok(t) => panic!("{dt} resolved to {t:?}"),
            Err(e) => e.to_string(),
        };
        let vector = err("VECTOR", None, None, None);
        assert!(
            vector.starts_with("unsupported Snowflake column type 'VECTOR': "),
            "{vector}"
        );
        assert!(err("VECTOR(FLOAT, 3)", None, None, None).contains("'VECTOR(FLOAT, 3)'"));
        assert!(err("MAP", None, None, None).contains("'MAP'"));
        assert!(err("HUGEINT", None, None, None).contains("'HUGEINT'"));
        assert!(err("NUMBER", Some(39), Some(0), None).contains("precision 39"));
        assert!(err("NUMBER", Some(10), Some(11), None).contains("scale 11"));
        assert!(err("NUMBER", Some(10), Some(-1), None).contains("scale -1"));
        assert!(err("TIME", None, None, Some(10)).contains("precision 10"));
        assert!(err("NUMBER(10", None, None, None).contains("not closed"));
    }

    #[test]
    fn postgres_types_follow_the_spec() {
        let n = |precision, scale| SfType::Number { precision, scale }.pg_type();
        assert_eq!(n(18, 0), "bigint");
        assert_eq!(n(1, 0), "bigint");
        assert_eq!(n(19, 0), "numeric(19,0)");
        assert_eq!(n(38, 0), "numeric(38,0)");
        assert_eq!(n(18, 2), "numeric(18,2)");
        assert_eq!(n(10, 10), "numeric(10,10)");
        assert_eq!(SfType::Float.pg_type(), "double precision");
        assert_eq!(SfType::Text.pg_type(), "text");
        assert_eq!(SfType::Boolean.pg_type(), "boolean");
        assert_eq!(SfType::Date.pg_type(), "date");
        assert_eq!(SfType::Time { scale: 9 }.pg_type(), "time");
        assert_eq!(SfType::TimestampNtz { scale: 9 }.pg_type(), "timestamp");
        assert_eq!(SfType::TimestampLtz { scale: 9 }.pg_type(), "timestamptz");
        assert_eq!(SfType::TimestampTz { scale: 3 }.pg_type(), "timestamptz");
        assert_eq!(SfType::Variant.pg_type(), "jsonb");
        assert_eq!(SfType::Object.pg_type(), "jsonb");
        assert_eq!(SfType::Array.pg_type(), "jsonb");
        assert_eq!(SfType::Binary.pg_type(), "bytea");
        assert_eq!(SfType::Geography.pg_type(), "text");
        assert_eq!(SfType::Geometry.pg_type(), "text");
    }

    #[test]
    fn select_expressions() {
        let col = Ident::from_exact("Shape \"1\"");
        assert_eq!(SfType::Text.select_expr(&col), "\"Shape \"\"1\"\"\"");
        assert_eq!(
            SfType::Geography.select_expr(&col),
            "ST_ASGEOJSON(\"Shape \"\"1\"\"\")::TEXT AS \"Shape \"\"1\"\"\""
        );
        assert_eq!(
            SfType::Geometry.select_expr(&Ident::from_exact("G")),
            "ST_ASGEOJSON(\"G\")::TEXT AS \"G\""
        );
        assert_eq!(
            SfType::Number {
                precision: 38,
                scale: 0
            }
            .select_expr(&Ident::from_exact("ID")),
            "\"ID\""
        );
    }

    #[test]
    fn display_uses_snowflake_spelling() {
        assert_eq!(
            SfType::Number {
                precision: 38,
                scale: 2
            }
            .to_string(),
            "NUMBER(38,2)"
        );
        assert_eq!(
            SfType::TimestampTz { scale: 9 }.to_string(),
            "TIMESTAMP_TZ(9)"
        );
        assert_eq!(SfType::Variant.to_string(), "VARIANT");
    }
}
