//! The decoder on exact key values: decoding, literals, encoding round trips.

use super::*;

#[test]
fn key_value_literals() {
    let dec = |unscaled, scale| KeyValue::Decimal { unscaled, scale };
    assert_eq!(KeyValue::Null.sf_literal(), "NULL");
    assert_eq!(KeyValue::Int(123).sf_literal(), "123");
    assert_eq!(
        KeyValue::Int(-99_999_999_999_999_999_999_999_999_999_999_999_999).sf_literal(),
        "-99999999999999999999999999999999999999"
    );
    assert_eq!(dec(-50, 2).sf_literal(), "-0.50");
    assert_eq!(dec(12345, 2).sf_literal(), "123.45");
    assert_eq!(
        dec(1, 40).sf_literal(),
        "0.0000000000000000000000000000000000000001"
    );
    assert_eq!(KeyValue::Float(0.1).sf_literal(), "'0.1'::FLOAT");
    assert_eq!(KeyValue::Float(1e300).sf_literal(), "'1e300'::FLOAT");
    assert_eq!(KeyValue::Float(f64::NAN).sf_literal(), "'NaN'::FLOAT");
    assert_eq!(KeyValue::Float(f64::INFINITY).sf_literal(), "'inf'::FLOAT");
    assert_eq!(
        KeyValue::Float(f64::NEG_INFINITY).sf_literal(),
        "'-inf'::FLOAT"
    );
    assert_eq!(
        KeyValue::Text("it's a \\ test".into()).sf_literal(),
        "'it''s a \\\\ test'"
    );
    assert_eq!(KeyValue::Bool(true).sf_literal(), "TRUE");
    assert_eq!(KeyValue::Bool(false).sf_literal(), "FALSE");
    assert_eq!(KeyValue::Date(20_454).sf_literal(), "'2026-01-01'::DATE");
    assert_eq!(KeyValue::Date(-1).sf_literal(), "'1969-12-31'::DATE");
    assert_eq!(
        KeyValue::Time(45_296_123_456_789).sf_literal(),
        "'12:34:56.123456789'::TIME(9)"
    );
    assert_eq!(
        KeyValue::TimestampNtz(1_767_225_602_123_456_789).sf_literal(),
        "'2026-01-01 00:00:02.123456789'::TIMESTAMP_NTZ(9)"
    );
    assert_eq!(
        KeyValue::TimestampTz {
            nanos: 1_767_225_602_000_000_000,
            offset_minutes: 60
        }
        .sf_literal(),
        "'2026-01-01 00:00:02.000000000'::TIMESTAMP_TZ(9)"
    );
    assert_eq!(
        KeyValue::TimestampLtz(-1).sf_literal(),
        "'1969-12-31 23:59:59.999999999'::TIMESTAMP_TZ(9)"
    );
    assert_eq!(
        KeyValue::Binary(vec![0x0a, 0xff]).sf_literal(),
        "TO_BINARY('0aff','HEX')"
    );
}

#[test]
fn key_value_ordering() {
    let dec = |unscaled, scale| KeyValue::Decimal { unscaled, scale };
    assert_eq!(dec(50, 2), dec(5, 1));
    assert_eq!(dec(500, 2), KeyValue::Int(5));
    assert!(dec(-50, 2) < dec(-4, 1));
    assert!(dec(-1, 37) < KeyValue::Int(0));
    assert!(dec(1, 37) > KeyValue::Int(0));
    assert!(dec(i128::MIN, 38) < dec(i128::MIN + 1, 38));
    assert!(dec(i128::MAX, 0) > dec(i128::MAX, 1));
    assert!(dec(1, 40) < dec(1, 39));
    assert!(dec(-1, 40) > dec(-1, 39));
    assert!(KeyValue::Float(f64::NAN) > KeyValue::Float(f64::INFINITY));
    assert_eq!(KeyValue::Float(f64::NAN), KeyValue::Float(f64::NAN));
    assert_eq!(KeyValue::Float(-0.0), KeyValue::Float(0.0));
    assert!(KeyValue::Float(f64::NEG_INFINITY) < KeyValue::Float(-1e300));
    assert!(KeyValue::Text("Z".into()) < KeyValue::Text("a".into()));
    assert!(KeyValue::Text("z".into()) < KeyValue::Text("é".into()));
    assert!(KeyValue::Text("ab".into()) > KeyValue::Text("a".into()));
    assert!(KeyValue::Null < KeyValue::Int(i128::MIN));
    assert!(KeyValue::Null < KeyValue::Text(String::new()));
    assert!(KeyValue::TimestampNtz(-1) < KeyValue::TimestampNtz(0));
    assert!(
        KeyValue::TimestampTz {
            nanos: 0,
            offset_minutes: 600
        } < KeyValue::TimestampTz {
            nanos: 1,
            offset_minutes: -600
        }
    );
    assert!(KeyValue::Binary(vec![1]) < KeyValue::Binary(vec![1, 0]));
    assert!(KeyValue::Bool(false) < KeyValue::Bool(true));
    let mut tuples = [
        vec![KeyValue::Int(2), KeyValue::Text("a".into())],
        vec![KeyValue::Int(2), KeyValue::Text("b".into())],
        vec![dec(150, 2), KeyValue::Text("z".into())],
    ];
    tuples.sort();
    assert_eq!(
        tuples[2],
        vec![KeyValue::Int(2), KeyValue::Text("b".into())]
    );
}

#[test]
fn key_value_encoding() {
    let all = [
        (KeyValue::Null, "null"),
        (KeyValue::Int(-123), "int:-123"),
        (
            KeyValue::Decimal {
                unscaled: -50,
                scale: 2,
            },
            "dec:2:-50",
        ),
        (KeyValue::Float(0.1), "float:0.1"),
        (KeyValue::Float(f64::NEG_INFINITY), "float:-inf"),
        (KeyValue::Float(f64::NAN), "float:NaN"),
        (KeyValue::Float(-0.0), "float:-0"),
        (KeyValue::Text("a:b\nc".into()), "text:a:b\nc"),
        (KeyValue::Text(String::new()), "text:"),
        (KeyValue::Bool(true), "bool:true"),
        (KeyValue::Date(-719_162), "date:-719162"),
        (KeyValue::Time(1), "time:1"),
        (
            KeyValue::TimestampNtz(1_767_225_602_123_456_789),
            "ts_ntz:1767225602123456789",
        ),
        (KeyValue::TimestampLtz(-1), "ts_ltz:-1"),
        (
            KeyValue::TimestampTz {
                nanos: -5,
                offset_minutes: -330,
            },
            "ts_tz:-5:-330",
        ),
        (KeyValue::Binary(vec![0, 0xab]), "bin:00ab"),
    ];
    for (value, text) in all {
        assert_eq!(value.encode(), text);
        let back = KeyValue::decode(text).expect("decodes");
        assert_eq!(back.encode(), text);
        assert!(back == value || matches!(value, KeyValue::Float(f) if f.is_nan()));
    }
    for bad in [
        "", "nul", "int:", "int:+1", "int:1.5", "dec:2", "dec:39:1", "bool:yes", "bin:0", "bin:AB",
        "time:-1", "ts_tz:1", "what:1",
    ] {
        assert!(
            matches!(
                KeyValue::decode(bad),
                Err(DecodeError::BadEncodedKey { .. })
            ),
            "{bad:?} must be refused"
        );
    }
    assert_eq!(
        KeyValue::decode("int:x").map_err(|e| e.to_string()),
        Err("stored key value \"int:x\" is invalid: not an integer".to_owned())
    );
}

#[test]
fn pg_literals_are_what_the_pull_stored() {
    for (v, want) in [
        (KeyValue::Int(-5), "-5"),
        (
            KeyValue::Decimal {
                unscaled: -50,
                scale: 2,
            },
            "'-0.50'::numeric",
        ),
        (KeyValue::Text("it's".into()), "'it''s' COLLATE \"C\""),
        (KeyValue::Date(0), "'1970-01-01'::date"),
        (
            KeyValue::TimestampNtz(1_500_000_999),
            "'1970-01-01 00:00:01.500000000'::timestamp",
        ),
        (
            KeyValue::TimestampTz {
                nanos: -1,
                offset_minutes: 60,
            },
            "'1969-12-31 23:59:59.999999000+00'::timestamptz",
        ),
        (KeyValue::Binary(vec![10, 255]), "'\\x0aff'::bytea"),
    ] {
        assert_eq!(v.pg_literal().expect("literal"), want, "{v:?}");
    }
    let e = KeyValue::Text("a\0secret".into())
        .pg_literal()
        .expect_err("NUL");
    assert!(!e.to_string().contains("secret"), "{e}");
}
