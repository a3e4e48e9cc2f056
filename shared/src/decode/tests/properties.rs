//! The decoder on property tests over generated arrays.

use super::copy_back::parse_decimal;
use super::oracle::{any_key, same_key, stored_form};
use super::*;

/// Reference comparison of a / 10^sa and b / 10^sb: scale both to a common scale as
/// arbitrary-length digit strings and compare those as signed integers.
fn reference_cmp(a: i128, sa: u8, b: i128, sb: u8) -> Ordering {
    let s = sa.max(sb);
    let widen = |v: i128, sv: u8| -> (bool, String) {
        let digits = format!("{}{}", v.unsigned_abs(), "0".repeat(usize::from(s - sv)));
        let digits = digits.trim_start_matches('0').to_owned();
        (v < 0 && !digits.is_empty(), digits)
    };
    let (na, da) = widen(a, sa);
    let (nb, db) = widen(b, sb);
    let magnitude = da.len().cmp(&db.len()).then_with(|| da.cmp(&db));
    match (na, nb) {
        (false, false) => magnitude,
        (true, true) => magnitude.reverse(),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn decimals_written_to_copy_parse_back(unscaled in any::<i128>(), scale in 0u8..=37) {
        let array: ArrayRef = Arc::new(
            Decimal128Array::from(vec![unscaled])
                .with_precision_and_scale(38, i8::try_from(scale).expect("small"))
                .expect("decimal"),
        );
        let dt = array.data_type().clone();
        let out = lines(field("N", dt, "FIXED", scale), array, NUM0);
        prop_assert_eq!(parse_decimal(&out[0]), Some((unscaled, scale)));
        prop_assert_eq!(
            parse_decimal(&KeyValue::Decimal { unscaled, scale }.sf_literal()),
            Some((unscaled, scale))
        );
    }

    #[test]
    fn decimal_ordering_matches_exact_values(
        a in any::<i128>(), sa in 0u8..=38, b in any::<i128>(), sb in 0u8..=38,
    ) {
        let (x, y) = (KeyValue::Decimal { unscaled: a, scale: sa }, KeyValue::Decimal { unscaled: b, scale: sb });
        prop_assert_eq!(x.cmp(&y), reference_cmp(a, sa, b, sb));
        prop_assert_eq!(cmp_decimal_text(a, sa, b, sb), reference_cmp(a, sa, b, sb));
    }

    #[test]
    fn nearby_decimals_order_exactly(a in -1000i128..1000, sa in 0u8..=4, b in -1000i128..1000, sb in 0u8..=4) {
        let x = KeyValue::Decimal { unscaled: a, scale: sa };
        let y = KeyValue::Decimal { unscaled: b, scale: sb };
        let cross = (a * 10i128.pow(u32::from(sb))).cmp(&(b * 10i128.pow(u32::from(sa))));
        prop_assert_eq!(x.cmp(&y), cross);
    }

    #[test]
    fn key_values_encode_losslessly(value in any_key()) {
        // The encoder writes the documented form (a float: text that reads back to its bits).
        let text = value.encode();
        match &value {
            KeyValue::Float(f) => {
                let back = text.strip_prefix("float:").and_then(|t| t.parse::<f64>().ok());
                prop_assert!(
                    back.is_some_and(|b| b.to_bits() == f.to_bits() || (b.is_nan() && f.is_nan())),
                    "{:?} for {:?}", text, f
                );
            }
            _ => prop_assert_eq!(&text, &stored_form(&value)),
        }
        // Both the encoder's form and the documented one decode to exactly the value.
        for form in [text, stored_form(&value)] {
            let back = KeyValue::decode(&form)
                .map_err(|e| TestCaseError::fail(format!("{form:?} refused: {e}")))?;
            prop_assert!(same_key(&back, &value), "{:?} decoded to {:?}, want {:?}", form, back, value);
            prop_assert_eq!(back.encode(), value.encode());
        }
    }

    #[test]
    fn ordering_is_total_and_consistent(a in any_key(), b in any_key(), c in any_key()) {
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        if a <= b && b <= c {
            prop_assert!(a <= c);
        }
        prop_assert_eq!(a == b, a.cmp(&b) == Ordering::Equal);
    }

    #[test]
    fn timestamps_match_chrono(secs in -62_135_596_800i64..253_402_300_799, nanos in 0u32..1_000_000_000) {
        let total = i128::from(secs) * NANOS_PER_SECOND + i128::from(nanos);
        let expected = chrono::DateTime::from_timestamp(secs, nanos).expect("in range");
        // Both Snowflake encodings give the same text.
        let fraction = i32::try_from(nanos).expect("small");
        let structs = epoch_fraction(vec![Some(secs)], vec![fraction], None);
        let f = field("TS", struct_type(&[("epoch", DataType::Int64), ("fraction", DataType::Int32)]), "TIMESTAMP_NTZ", 9);
        let out = lines(f, structs, NTZ9);
        prop_assert_eq!(&out[0], &expected.format("%Y-%m-%d %H:%M:%S%.6f").to_string());
        if let Ok(units) = i64::try_from(total) {
            let ints: ArrayRef = Arc::new(Int64Array::from(vec![units]));
            let via_ints = lines(field("TS", DataType::Int64, "TIMESTAMP_NTZ", 9), ints, NTZ9);
            prop_assert_eq!(&via_ints, &out);
        }
        prop_assert_eq!(
            KeyValue::TimestampNtz(total).sf_literal(),
            format!("'{}'::TIMESTAMP_NTZ(9)", expected.format("%Y-%m-%d %H:%M:%S%.9f"))
        );
        let days = i32::try_from(secs.div_euclid(86_400)).expect("small");
        let date: ArrayRef = Arc::new(Date32Array::from(vec![days]));
        prop_assert_eq!(
            &lines(field("D", DataType::Date32, "DATE", 0), date, SfType::Date)[0],
            &expected.format("%Y-%m-%d").to_string()
        );
    }

    #[test]
    fn copy_text_escaping_round_trips(s in any::<String>()) {
        prop_assume!(!s.contains('\0'));
        let array: ArrayRef = Arc::new(StringArray::from(vec![s.as_str()]));
        let b = batch(vec![(field("T", DataType::Utf8, "TEXT", 0), array)]);
        let out = copy(&b, &[spec("T", SfType::Text)]);
        let line = out.strip_suffix('\n').expect("line end");
        prop_assert!(!line.contains('\n') && !line.contains('\t') && !line.contains('\r'));
        // PostgreSQL's COPY text unescaping.
        let mut back = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => back.push('\n'),
                    Some('r') => back.push('\r'),
                    Some('t') => back.push('\t'),
                    Some('\\') => back.push('\\'),
                    other => prop_assert!(false, "unexpected escape {:?}", other),
                }
            } else {
                back.push(c);
            }
        }
        prop_assert_eq!(back, s);
    }
}
