//! Reading Snowflake's Arrow encodings: integers of any width, decimals, timestamps as
//! integers or structs, text and binary; each cell as a [`Value`].

use super::*;

/// An integer-valued Arrow array of any width, read as `i64`. Temporal arrays with integer
/// storage are re-viewed as plain integers (sharing the buffers, no copy).
#[derive(Debug, Clone)]
pub(super) enum Ints {
    I8(Int8Array),
    I16(Int16Array),
    I32(Int32Array),
    I64(Int64Array),
}

impl Ints {
    /// `Int8`..`Int64` only.
    fn integer(array: &dyn Array) -> Option<Ints> {
        Some(match array.data_type() {
            DataType::Int8 => Ints::I8(array.as_primitive_opt::<Int8Type>()?.clone()),
            DataType::Int16 => Ints::I16(array.as_primitive_opt::<Int16Type>()?.clone()),
            DataType::Int32 => Ints::I32(array.as_primitive_opt::<Int32Type>()?.clone()),
            DataType::Int64 => Ints::I64(array.as_primitive_opt::<Int64Type>()?.clone()),
            _ => return None,
        })
    }

    fn view32<T: ArrowPrimitiveType<Native = i32>>(array: &dyn Array) -> Option<Ints> {
        let a = array.as_primitive_opt::<T>()?;
        Some(Ints::I32(Int32Array::new(
            a.values().clone(),
            a.nulls().cloned(),
        )))
    }

    fn view64<T: ArrowPrimitiveType<Native = i64>>(array: &dyn Array) -> Option<Ints> {
        let a = array.as_primitive_opt::<T>()?;
        Some(Ints::I64(Int64Array::new(
            a.values().clone(),
            a.nulls().cloned(),
        )))
    }

    fn is_null(&self, row: usize) -> bool {
        match self {
            Ints::I8(a) => a.is_null(row),
            Ints::I16(a) => a.is_null(row),
            Ints::I32(a) => a.is_null(row),
            Ints::I64(a) => a.is_null(row),
        }
    }

    fn get(&self, row: usize) -> i64 {
        match self {
            Ints::I8(a) => i64::from(a.value(row)),
            Ints::I16(a) => i64::from(a.value(row)),
            Ints::I32(a) => i64::from(a.value(row)),
            Ints::I64(a) => a.value(row),
        }
    }
}

/// Which timestamp flavour a reader produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Zone {
    Ntz,
    Ltz,
    /// `TIMESTAMP_TZ` without an offset in the data (Arrow `Timestamp`): UTC.
    TzUtc,
}

/// One column of one batch, resolved once: the downcast array plus what is needed to read it.
#[derive(Debug)]
pub(super) enum Reader<'a> {
    Fixed {
        ints: Ints,
        scale: u8,
    },
    Decimal {
        array: &'a Decimal128Array,
        scale: u8,
    },
    Float(&'a Float64Array),
    Utf8 {
        array: &'a StringArray,
        json: bool,
    },
    LargeUtf8 {
        array: &'a LargeStringArray,
        json: bool,
    },
    Utf8View {
        array: &'a StringViewArray,
        json: bool,
    },
    Bool(&'a BooleanArray),
    Binary(&'a BinaryArray),
    LargeBinary(&'a LargeBinaryArray),
    FixedBinary(&'a FixedSizeBinaryArray),
    BinaryView(&'a BinaryViewArray),
    Days(Ints),
    Millis(Ints),
    Time {
        ints: Ints,
        scale: u8,
    },
    TsUnits {
        ints: Ints,
        scale: u8,
        zone: Zone,
    },
    TsStruct {
        parent: &'a StructArray,
        epoch: Ints,
        fraction: Ints,
        zone: Zone,
    },
    TzUnits {
        parent: &'a StructArray,
        epoch: Ints,
        scale: u8,
        timezone: Ints,
    },
    TzStruct {
        parent: &'a StructArray,
        epoch: Ints,
        fraction: Ints,
        timezone: Ints,
    },
}

/// One decoded cell, borrowing text and bytes from the array.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Value<'a> {
    Number {
        unscaled: i128,
        scale: u8,
    },
    Float(f64),
    Text(&'a str),
    Json(&'a str),
    Bool(bool),
    Binary(&'a [u8]),
    /// Days since 1970-01-01.
    Date(i64),
    /// Nanoseconds since midnight.
    Time(i64),
    /// Nanoseconds since the epoch, wall clock.
    Ntz(i128),
    /// Nanoseconds since the epoch, UTC instant.
    Ltz(i128),
    /// Nanoseconds since the epoch (UTC instant) and the value's own offset.
    Tz {
        nanos: i128,
        offset_minutes: i16,
    },
}

pub(super) fn pow10(exp: u8) -> i128 {
    10i128.pow(u32::from(exp))
}

pub(super) fn time_unit_scale(unit: TimeUnit) -> u8 {
    match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond => 6,
        TimeUnit::Nanosecond => 9,
    }
}

/// Finds a struct child by name, else by position.
pub(super) fn child<'a>(
    parent: &'a StructArray,
    name: &str,
    position: usize,
) -> Option<&'a dyn Array> {
    match parent.column_by_name(name) {
        Some(c) => Some(c.as_ref()),
        None if parent.fields().iter().all(|f| f.name() != name) => {
            parent.columns().get(position).map(|c| c.as_ref())
        }
        None => None,
    }
}

impl<'a> Reader<'a> {
    pub(super) fn resolve(
        array: &'a dyn Array,
        field: &Field,
        spec: &ColumnSpec,
    ) -> Result<Reader<'a>, DecodeError> {
        let encoding_error = || DecodeError::Encoding {
            column: spec.name.clone(),
            sf_type: spec.sf_type.to_string(),
            arrow_type: array.data_type().to_string(),
            logical: field
                .metadata()
                .get("logicalType")
                .map(|l| format!(" (logicalType {l})"))
                .unwrap_or_default(),
        };
        // Only the encodings that need it read the `scale` metadata.
        let meta_scale = || metadata_scale(field, spec);
        let data_type = array.data_type();
        let reader = match spec.sf_type {
            SfType::Number { scale, .. } => match data_type {
                DataType::Decimal128(_, array_scale) => {
                    let scale = match meta_scale()? {
                        Some(s) => s,
                        None => u8::try_from(*array_scale).map_err(|_| encoding_error())?,
                    };
                    Reader::Decimal {
                        array: array.as_primitive_opt().ok_or_else(encoding_error)?,
                        scale: check_decimal_scale(scale, spec)?,
                    }
                }
                _ => Reader::Fixed {
                    ints: Ints::integer(array).ok_or_else(encoding_error)?,
                    scale: check_decimal_scale(meta_scale()?.unwrap_or(scale), spec)?,
                },
            },
            SfType::Float => Reader::Float(array.as_primitive_opt().ok_or_else(encoding_error)?),
            SfType::Text
            | SfType::Geography
            | SfType::Geometry
            | SfType::Variant
            | SfType::Object
            | SfType::Array => {
                let json = matches!(
                    spec.sf_type,
                    SfType::Variant | SfType::Object | SfType::Array
                );
                match data_type {
                    DataType::Utf8 => Reader::Utf8 {
                        array: array.as_string_opt().ok_or_else(encoding_error)?,
                        json,
                    },
                    DataType::LargeUtf8 => Reader::LargeUtf8 {
                        array: array.as_string_opt().ok_or_else(encoding_error)?,
                        json,
                    },
                    DataType::Utf8View => Reader::Utf8View {
                        array: array.as_string_view_opt().ok_or_else(encoding_error)?,
                        json,
                    },
                    _ => return Err(encoding_error()),
                }
            }
            SfType::Boolean => Reader::Bool(array.as_boolean_opt().ok_or_else(encoding_error)?),
            SfType::Binary => match data_type {
                DataType::Binary => {
                    Reader::Binary(array.as_binary_opt().ok_or_else(encoding_error)?)
                }
                DataType::LargeBinary => {
                    Reader::LargeBinary(array.as_binary_opt().ok_or_else(encoding_error)?)
                }
                DataType::FixedSizeBinary(_) => Reader::FixedBinary(
                    array
                        .as_fixed_size_binary_opt()
                        .ok_or_else(encoding_error)?,
                ),
                DataType::BinaryView => {
                    Reader::BinaryView(array.as_binary_view_opt().ok_or_else(encoding_error)?)
                }
                _ => return Err(encoding_error()),
            },
            SfType::Date => match data_type {
                DataType::Date32 => {
                    Reader::Days(Ints::view32::<Date32Type>(array).ok_or_else(encoding_error)?)
                }
                DataType::Int32 => Reader::Days(Ints::integer(array).ok_or_else(encoding_error)?),
                DataType::Date64 => {
                    Reader::Millis(Ints::view64::<Date64Type>(array).ok_or_else(encoding_error)?)
                }
                _ => return Err(encoding_error()),
            },
            SfType::Time { scale } => {
                let (ints, scale) = match data_type {
                    DataType::Time32(TimeUnit::Second) => {
                        (Ints::view32::<Time32SecondType>(array), 0)
                    }
                    DataType::Time32(TimeUnit::Millisecond) => {
                        (Ints::view32::<Time32MillisecondType>(array), 3)
                    }
                    DataType::Time64(TimeUnit::Microsecond) => {
                        (Ints::view64::<Time64MicrosecondType>(array), 6)
                    }
                    DataType::Time64(TimeUnit::Nanosecond) => {
                        (Ints::view64::<Time64NanosecondType>(array), 9)
                    }
                    _ => (Ints::integer(array), meta_scale()?.unwrap_or(scale)),
                };
                Reader::Time {
                    ints: ints.ok_or_else(encoding_error)?,
                    scale: check_time_scale(scale, spec)?,
                }
            }
            SfType::TimestampNtz { scale }
            | SfType::TimestampLtz { scale }
            | SfType::TimestampTz { scale } => {
                let zone = match spec.sf_type {
                    SfType::TimestampNtz { .. } => Zone::Ntz,
                    SfType::TimestampLtz { .. } => Zone::Ltz,
                    _ => Zone::TzUtc,
                };
                match data_type {
                    DataType::Timestamp(unit, _) => {
                        let ints = match unit {
                            TimeUnit::Second => Ints::view64::<TimestampSecondType>(array),
                            TimeUnit::Millisecond => {
                                Ints::view64::<TimestampMillisecondType>(array)
                            }
                            TimeUnit::Microsecond => {
                                Ints::view64::<TimestampMicrosecondType>(array)
                            }
                            TimeUnit::Nanosecond => Ints::view64::<TimestampNanosecondType>(array),
                        };
                        Reader::TsUnits {
                            ints: ints.ok_or_else(encoding_error)?,
                            scale: time_unit_scale(*unit),
                            zone,
                        }
                    }
                    DataType::Struct(fields) => {
                        let parent = array.as_struct_opt().ok_or_else(encoding_error)?;
                        let has = |name: &str| fields.iter().any(|f| f.name() == name);
                        let ints = |name: &str, position: usize| {
                            child(parent, name, position)
                                .and_then(Ints::integer)
                                .ok_or_else(encoding_error)
                        };
                        match (zone, fields.len()) {
                            (Zone::Ntz | Zone::Ltz, 2) => Reader::TsStruct {
                                parent,
                                epoch: ints("epoch", 0)?,
                                fraction: ints("fraction", 1)?,
                                zone,
                            },
                            (Zone::TzUtc, 2) if !has("fraction") => Reader::TzUnits {
                                parent,
                                epoch: ints("epoch", 0)?,
                                scale: check_time_scale(meta_scale()?.unwrap_or(scale), spec)?,
                                timezone: ints("timezone", 1)?,
                            },
                            (Zone::TzUtc, 3) => Reader::TzStruct {
                                parent,
                                epoch: ints("epoch", 0)?,
                                fraction: ints("fraction", 1)?,
                                timezone: ints("timezone", 2)?,
                            },
                            _ => return Err(encoding_error()),
                        }
                    }
                    _ => Reader::TsUnits {
                        ints: Ints::integer(array).ok_or_else(encoding_error)?,
                        scale: check_time_scale(meta_scale()?.unwrap_or(scale), spec)?,
                        zone,
                    },
                }
            }
        };
        Ok(reader)
    }

    /// Reads one cell: `Ok(None)` for NULL, `Err(what)` for a malformed value.
    pub(super) fn value(&self, row: usize) -> Result<Option<Value<'a>>, String> {
        let value = match self {
            Reader::Fixed { ints, scale } => {
                if ints.is_null(row) {
                    return Ok(None);
                }
                Value::Number {
                    unscaled: i128::from(ints.get(row)),
                    scale: *scale,
                }
            }
            Reader::Decimal { array, scale } => {
                if array.is_null(row) {
                    return Ok(None);
                }
                Value::Number {
                    unscaled: array.value(row),
                    scale: *scale,
                }
            }
            Reader::Float(a) => {
                if a.is_null(row) {
                    return Ok(None);
                }
                Value::Float(a.value(row))
            }
            Reader::Utf8 { array, json } => {
                if array.is_null(row) {
                    return Ok(None);
                }
                text_value(array.value(row), *json)
            }
            Reader::LargeUtf8 { array, json } => {
                if array.is_null(row) {
                    return Ok(None);
                }
                text_value(array.value(row), *json)
            }
            Reader::Utf8View { array, json } => {
                if array.is_null(row) {
                    return Ok(None);
                }
                text_value(array.value(row), *json)
            }
            Reader::Bool(a) => {
                if a.is_null(row) {
                    return Ok(None);
                }
                Value::Bool(a.value(row))
            }
            Reader::Binary(a) => {
                if a.is_null(row) {
                    return Ok(None);
                }
                Value::Binary(a.value(row))
            }
            Reader::LargeBinary(a) => {
                if a.is_null(row) {
                    return Ok(None);
                }
                Value::Binary(a.value(row))
            }
            Reader::FixedBinary(a) => {
                if a.is_null(row) {
                    return Ok(None);
                }
                Value::Binary(a.value(row))
            }
            Reader::BinaryView(a) => {
                if a.is_null(row) {
                    return Ok(None);
                }
                Value::Binary(a.value(row))
            }
            Reader::Days(ints) => {
                if ints.is_null(row) {
                    return Ok(None);
                }
                Value::Date(ints.get(row))
            }
            Reader::Millis(ints) => {
                if ints.is_null(row) {
                    return Ok(None);
                }
                Value::Date(ints.get(row).div_euclid(86_400_000))
            }
            Reader::Time { ints, scale } => {
                if ints.is_null(row) {
                    return Ok(None);
                }
                let raw = ints.get(row);
                let nanos = i128::from(raw) * pow10(9 - scale);
                if !(0..NANOS_PER_DAY).contains(&nanos) {
                    return Err(format!(
                        "TIME value {raw} (scale {scale}) is not within one day after midnight"
                    ));
                }
                // In range 0..86_400e9, so it fits an i64.
                Value::Time(i64::try_from(nanos).map_err(|e| e.to_string())?)
            }
            Reader::TsUnits { ints, scale, zone } => {
                if ints.is_null(row) {
                    return Ok(None);
                }
                let nanos = i128::from(ints.get(row)) * pow10(9 - scale);
                zoned(nanos, *zone)
            }
            Reader::TsStruct {
                parent,
                epoch,
                fraction,
                zone,
            } => {
                if parent.is_null(row) || epoch.is_null(row) {
                    return Ok(None);
                }
                zoned(struct_nanos(epoch, fraction, row)?, *zone)
            }
            Reader::TzUnits {
                parent,
                epoch,
                scale,
                timezone,
            } => {
                if parent.is_null(row) || epoch.is_null(row) {
                    return Ok(None);
                }
                Value::Tz {
                    nanos: i128::from(epoch.get(row)) * pow10(9 - scale),
                    offset_minutes: offset(timezone, row)?,
                }
            }
            Reader::TzStruct {
                parent,
                epoch,
                fraction,
                timezone,
            } => {
                if parent.is_null(row) || epoch.is_null(row) {
                    return Ok(None);
                }
                Value::Tz {
                    nanos: struct_nanos(epoch, fraction, row)?,
                    offset_minutes: offset(timezone, row)?,
                }
            }
        };
        Ok(Some(value))
    }
}

pub(super) fn text_value(s: &str, json: bool) -> Value<'_> {
    if json {
        Value::Json(s)
    } else {
        Value::Text(s)
    }
}

pub(super) fn zoned(nanos: i128, zone: Zone) -> Value<'static> {
    match zone {
        Zone::Ntz => Value::Ntz(nanos),
        Zone::Ltz => Value::Ltz(nanos),
        Zone::TzUtc => Value::Tz {
            nanos,
            offset_minutes: 0,
        },
    }
}

pub(super) fn struct_nanos(epoch: &Ints, fraction: &Ints, row: usize) -> Result<i128, String> {
    if fraction.is_null(row) {
        return Err("timestamp fraction is NULL while its epoch is not".to_owned());
    }
    let f = fraction.get(row);
    if !(0..1_000_000_000).contains(&f) {
        return Err(format!(
            "timestamp fraction {f} is not within 0..=999999999 nanoseconds"
        ));
    }
    Ok(i128::from(epoch.get(row)) * NANOS_PER_SECOND + i128::from(f))
}

pub(super) fn offset(timezone: &Ints, row: usize) -> Result<i16, String> {
    if timezone.is_null(row) {
        return Err("TIMESTAMP_TZ timezone is NULL while its epoch is not".to_owned());
    }
    let tz = timezone.get(row);
    if !(0..=2 * i64::from(TZ_BIAS_MINUTES)).contains(&tz) {
        return Err(format!(
            "TIMESTAMP_TZ timezone {tz} is not an offset in minutes + 1440 (0..=2880)"
        ));
    }
    i16::try_from(tz - i64::from(TZ_BIAS_MINUTES)).map_err(|e| e.to_string())
}

pub(super) fn metadata_scale(field: &Field, spec: &ColumnSpec) -> Result<Option<u8>, DecodeError> {
    let Some(value) = field.metadata().get("scale") else {
        return Ok(None);
    };
    value
        .trim()
        .parse::<u8>()
        .map(Some)
        .map_err(|e| DecodeError::Metadata {
            column: spec.name.clone(),
            key: "scale".to_owned(),
            value: value.clone(),
            reason: e.to_string(),
        })
}

pub(super) fn check_decimal_scale(scale: u8, spec: &ColumnSpec) -> Result<u8, DecodeError> {
    if scale > MAX_DECIMAL_SCALE {
        return Err(DecodeError::Metadata {
            column: spec.name.clone(),
            key: "scale".to_owned(),
            value: scale.to_string(),
            reason: "a NUMBER scale is at most 38".to_owned(),
        });
    }
    Ok(scale)
}

pub(super) fn check_time_scale(scale: u8, spec: &ColumnSpec) -> Result<u8, DecodeError> {
    if scale > 9 {
        return Err(DecodeError::Metadata {
            column: spec.name.clone(),
            key: "scale".to_owned(),
            value: scale.to_string(),
            reason: "a time or timestamp scale is at most 9".to_owned(),
        });
    }
    Ok(scale)
}
