//! The decoder on whole batches: many columns, nulls, the binary COPY writer.

use super::*;

#[test]
fn rows_are_tab_separated_in_column_order() {
    let b = batch(vec![
        (
            field("ID", DataType::Int64, "FIXED", 0),
            Arc::new(Int64Array::from(vec![Some(1), Some(2)])) as ArrayRef,
        ),
        (
            field("NAME", DataType::Utf8, "TEXT", 0),
            Arc::new(StringArray::from(vec![Some("a b"), None])) as ArrayRef,
        ),
        (
            field("OK", DataType::Boolean, "BOOLEAN", 0),
            Arc::new(BooleanArray::from(vec![None, Some(true)])) as ArrayRef,
        ),
    ]);
    let specs = [
        spec("ID", NUM0),
        spec("NAME", SfType::Text),
        spec("OK", SfType::Boolean),
    ];
    let mut out = b"previous\n".to_vec();
    assert_eq!(write_copy_text(&b, &specs, &mut out), Ok(2));
    assert_eq!(
        String::from_utf8_lossy(&out),
        "previous\n1\ta b\t\\N\n2\t\\N\tt\n"
    );
    // A slice of the batch (offsets into every array, structs included) decodes the same rows.
    assert_eq!(copy(&b.slice(1, 1), &specs), "2\t\\N\tt\n");
    let ts = batch(vec![(
        field(
            "TS",
            struct_type(&[("epoch", DataType::Int64), ("fraction", DataType::Int32)]),
            "TIMESTAMP_NTZ",
            9,
        ),
        epoch_fraction(
            vec![Some(0), None, Some(1)],
            vec![1_000, 0, 2_000],
            Some(vec![true, true, false]),
        ),
    )]);
    assert_eq!(copy(&ts.slice(1, 2), &[spec("TS", NTZ9)]), "\\N\n\\N\n");
    assert_eq!(
        copy(&ts.slice(0, 1), &[spec("TS", NTZ9)]),
        "1970-01-01 00:00:00.000001\n"
    );
}

#[test]
fn mismatches_are_errors_naming_column_and_arrow_type() {
    let b = batch(vec![(
        field("ID", DataType::Int64, "FIXED", 0),
        Arc::new(Int64Array::from(vec![1])) as ArrayRef,
    )]);
    let mut out = Vec::new();
    assert_eq!(
        write_copy_text(&b, &[spec("ID", NUM0), spec("X", SfType::Text)], &mut out)
            .map_err(|e| e.to_string()),
        Err("the result has 1 columns but the query selected 2".to_owned())
    );
    assert_eq!(
        write_copy_text(&b, &[spec("ID", SfType::Text)], &mut out).map_err(|e| e.to_string()),
        Err("column ID (TEXT) arrived as Arrow Int64 (logicalType FIXED), which is not an encoding of TEXT".to_owned())
    );
    let f = Field::new("F", DataType::Float32, true);
    let floats: ArrayRef = Arc::new(arrow_array::Float32Array::from(vec![1.0f32]));
    assert_eq!(
        copy_error(f, floats, SfType::Float),
        "column F (FLOAT) arrived as Arrow Float32, which is not an encoding of FLOAT"
    );
    let bad_scale = Field::new("N", DataType::Int64, true)
        .with_metadata(HashMap::from([("scale".to_owned(), "x".to_owned())]));
    let ints: ArrayRef = Arc::new(Int64Array::from(vec![1]));
    assert!(copy_error(bad_scale, ints, NUM0)
        .starts_with("column N: Arrow field metadata scale=\"x\" is invalid"));
    assert!(out.is_empty());
    assert_eq!(
        key_value(&b, 1, &spec("ID", NUM0), 0).map_err(|e| e.to_string()),
        Err("column 1 (ID) is out of range for a batch of 1 columns and 1 rows".to_owned())
    );
    assert_eq!(
        key_value(&b, 0, &spec("ID", NUM0), 1).map_err(|e| e.to_string()),
        Err("row 1 is out of range for a batch of 1 columns and 1 rows".to_owned())
    );
}

#[test]
fn max_key_of_a_page() {
    let b = batch(vec![
        (
            field("TS", DataType::Int64, "TIMESTAMP_NTZ", 9),
            Arc::new(Int64Array::from(vec![Some(5), Some(7), Some(7), None])) as ArrayRef,
        ),
        (
            field("ID", DataType::Utf8, "TEXT", 0),
            Arc::new(StringArray::from(vec!["z", "a", "b", "zz"])) as ArrayRef,
        ),
    ]);
    let ts = spec("TS", NTZ9);
    let id = spec("ID", SfType::Text);
    assert_eq!(
        max_key(&b, &[(0, &ts), (1, &id)]),
        Ok(Some(vec![
            KeyValue::TimestampNtz(7),
            KeyValue::Text("b".into())
        ]))
    );
    assert_eq!(max_key(&b.slice(0, 0), &[(0, &ts)]), Ok(None));
    assert_eq!(
        max_key(&b.slice(3, 1), &[(0, &ts)]),
        Ok(Some(vec![KeyValue::Null]))
    );
}
