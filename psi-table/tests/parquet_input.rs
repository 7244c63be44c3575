//! Parquet input: the keys, counts, rejects and values read from a Parquet
//! file equal those read from the same table written as CSV; nulls are empty
//! values; unsupported types and broken files are clear errors.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder, StringDictionaryBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array, RecordBatch,
    StringArray, TimestampMillisecondArray,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use psi_table::{Error, KeySpec, KeyedTable, LinkageSpec, LinkageTable};

fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>, rows_per_group: usize) {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(rows_per_group))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// The same seven rows as Parquet (typed, with nulls) and as CSV.
fn both(dir: &Path) -> (PathBuf, PathBuf) {
    let mut dict = StringDictionaryBuilder::<Int32Type>::new();
    for v in [
        Some("GB"),
        Some("FR"),
        Some("GB"),
        None,
        Some("FR"),
        Some("GB"),
        Some("DE"),
    ] {
        dict.append_option(v);
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "email",
            Arc::new(StringArray::from(vec![
                Some(" Ann@x.com "),
                Some("bob@x.com"),
                None,
                Some("ann@x.com"),
                Some("not-an-email"),
                Some("Ann@x.com"),
                Some("eve@x.com"),
            ])),
        ),
        (
            "id",
            Arc::new(Int64Array::from(vec![
                Some(1),
                Some(-2),
                Some(3),
                Some(4),
                None,
                Some(1),
                Some(7),
            ])),
        ),
        (
            "score",
            Arc::new(Float64Array::from(vec![
                Some(1.5),
                Some(0.1),
                Some(2.0),
                Some(-0.0),
                Some(1e21),
                Some(1.5),
                None,
            ])),
        ),
        (
            "ok",
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
                Some(true),
                Some(true),
                Some(true),
                Some(false),
            ])),
        ),
        (
            "dob",
            Arc::new(Date32Array::from(vec![
                Some(-3_650),
                Some(0),
                Some(19_782),
                None,
                Some(1),
                Some(-3_650),
                Some(11_016),
            ])),
        ),
        (
            "amount",
            Arc::new(
                Decimal128Array::from(vec![
                    Some(1_250),
                    Some(-5),
                    Some(0),
                    Some(100),
                    None,
                    Some(1_250),
                    Some(99_999),
                ])
                .with_precision_and_scale(10, 2)
                .unwrap(),
            ),
        ),
        (
            "seen",
            Arc::new(
                TimestampMillisecondArray::from(vec![
                    Some(1_709_210_096_500),
                    Some(0),
                    None,
                    Some(1_000),
                    Some(1),
                    Some(1_709_210_096_500),
                    Some(-1),
                ])
                .with_timezone_utc(),
            ),
        ),
        ("country", Arc::new(dict.finish())),
    ];
    let parquet = dir.join("t.parquet");
    write_parquet(&parquet, columns, 3);
    let csv = dir.join("t.csv");
    std::fs::write(
        &csv,
        "email,id,score,ok,dob,amount,seen,country\n\
         \x20Ann@x.com ,1,1.5,true,1960-01-04,12.50,2024-02-29T12:34:56.5Z,GB\n\
         bob@x.com,-2,0.1,false,1970-01-01,-0.05,1970-01-01T00:00:00Z,FR\n\
         ,3,2,,2024-02-29,0.00,,GB\n\
         ann@x.com,4,-0,true,,1.00,1970-01-01T00:00:01Z,\n\
         not-an-email,,1000000000000000000000,true,1970-01-02,,1970-01-01T00:00:00.001Z,FR\n\
         Ann@x.com,1,1.5,true,1960-01-04,12.50,2024-02-29T12:34:56.5Z,GB\n\
         eve@x.com,7,,false,2000-02-29,999.99,1969-12-31T23:59:59.999Z,DE\n",
    )
    .unwrap();
    (parquet, csv)
}

#[test]
fn parquet_keys_equal_csv_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (parquet, csv) = both(dir.path());
    for key in [
        "email",
        "email:email",
        "id",
        "score",
        "ok",
        "dob",
        "dob:date",
        "amount",
        "seen",
        "country",
        "email,id,score,ok,dob,amount,seen,country",
        "id,dob:date,country",
    ] {
        let spec = KeySpec::parse(key).unwrap();
        let p = KeyedTable::read(&parquet, &spec).unwrap();
        let c = KeyedTable::read(&csv, &spec).unwrap();
        assert!(!p.items().is_empty(), "{key}");
        assert_eq!(p.items(), c.items(), "{key}");
        assert_eq!(p.stats(), c.stats(), "{key}");
        assert_eq!(p.rejects(), c.rejects(), "{key}");
        let rows: Vec<_> = (0..7).map(|r| p.row_item(r)).collect();
        let csv_rows: Vec<_> = (0..7).map(|r| c.row_item(r)).collect();
        assert_eq!(rows, csv_rows, "{key}");
    }
    // Nulls are empty values.
    let t = KeyedTable::read(&parquet, &KeySpec::parse("email:email,dob").unwrap()).unwrap();
    let s = t.stats();
    assert_eq!((s.rows, s.empty_key_rows, s.invalid_key_rows), (7, 2, 1));
    assert_eq!((s.columns[0].empty, s.columns[1].empty), (1, 1));
    // The reject of the fifth data row is at line 6, as in the CSV.
    assert_eq!(t.rejects()[0].line, 6);

    let spec = LinkageSpec::parse("email:email;id,dob:date").unwrap();
    let lp = LinkageTable::read(&parquet, &spec).unwrap();
    let lc = LinkageTable::read(&csv, &spec).unwrap();
    assert_eq!(lp.rows(), 7);
    for (a, b) in lp.keys().iter().zip(lc.keys()) {
        assert_eq!(a.items(), b.items());
    }
}

#[test]
fn values_from_parquet_and_errors_say_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.PARQUET");
    write_parquet(
        &path,
        vec![
            (
                "email",
                Arc::new(StringArray::from(vec!["a", "b", "a", ""])) as ArrayRef,
            ),
            ("spend", Arc::new(Int64Array::from(vec![5, 7, 10, 99]))),
            (
                "bad",
                Arc::new(Int64Array::from(vec![Some(1), None, Some(2), Some(3)])),
            ),
            ("neg", Arc::new(Int64Array::from(vec![1, 2, -3, 4]))),
        ],
        2,
    );
    let t = KeyedTable::read(&path, &KeySpec::parse("email").unwrap()).unwrap();
    assert_eq!(t.read_values("spend", 100).unwrap(), vec![15, 7]);
    let e = t.read_values("bad", 100).unwrap_err();
    assert!(matches!(e, Error::BadValue { line: 3, .. }), "{e}");
    assert!(e.to_string().contains(", row 2, column \"bad\""), "{e}");
    assert!(e.to_string().contains("is empty"), "{e}");
    let e = t.read_values("neg", 100).unwrap_err();
    assert!(e.to_string().contains("row 3"), "{e}");
    assert!(e.to_string().contains("\"-3\""), "{e}");
}

#[test]
fn many_rows_across_row_groups_and_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.parquet");
    let n = 20_000;
    let ids: Vec<String> = (0..n).map(|i| format!("k{}", i % 15_000)).collect();
    write_parquet(
        &path,
        vec![("key", Arc::new(StringArray::from(ids.clone())) as ArrayRef)],
        7_000,
    );
    let csv = dir.path().join("big.csv");
    std::fs::write(&csv, format!("key\n{}\n", ids.join("\n"))).unwrap();
    let spec = KeySpec::parse("key").unwrap();
    let p = KeyedTable::read(&path, &spec).unwrap();
    let c = KeyedTable::read(&csv, &spec).unwrap();
    assert_eq!(p.stats().rows, n as u64);
    assert_eq!(p.stats().duplicate_key_rows, 5_000);
    assert_eq!(p.items(), c.items());
}

#[test]
fn bad_types_and_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("list.parquet");
    let mut list = ListBuilder::new(StringBuilder::new());
    list.values().append_value("a");
    list.append(true);
    list.append(false);
    write_parquet(
        &path,
        vec![
            ("tags", Arc::new(list.finish()) as ArrayRef),
            ("email", Arc::new(StringArray::from(vec!["a", "b"]))),
        ],
        10,
    );
    // A list column that is not read is no problem.
    let t = KeyedTable::read(&path, &KeySpec::parse("email").unwrap()).unwrap();
    assert_eq!(t.items().len(), 2);
    let e = KeyedTable::read(&path, &KeySpec::parse("tags").unwrap()).unwrap_err();
    assert!(matches!(e, Error::UnsupportedType { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("list.parquet"), "{text}");
    assert!(text.contains("column \"tags\""), "{text}");
    assert!(text.contains("List"), "{text}");

    // Missing column: the Parquet names are listed.
    let e = KeyedTable::read(&path, &KeySpec::parse("mail").unwrap()).unwrap_err();
    assert!(
        e.to_string().contains("the columns are: tags, email"),
        "{e}"
    );

    // Not Parquet at all.
    let fake = dir.path().join("fake.parquet");
    std::fs::write(&fake, "email\na\n").unwrap();
    let e = KeyedTable::read(&fake, &KeySpec::parse("email").unwrap()).unwrap_err();
    assert!(matches!(e, Error::Parquet { .. }), "{e}");
    assert!(e.to_string().contains("fake.parquet"), "{e}");

    // Truncated.
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.parquet");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = KeyedTable::read(&cut, &KeySpec::parse("email").unwrap()).unwrap_err();
    assert!(matches!(e, Error::Parquet { .. }), "{e}");

    // No rows.
    let empty = dir.path().join("empty.parquet");
    write_parquet(
        &empty,
        vec![(
            "email",
            Arc::new(StringArray::from(Vec::<String>::new())) as ArrayRef,
        )],
        10,
    );
    let e = KeyedTable::read(&empty, &KeySpec::parse("email").unwrap()).unwrap_err();
    assert!(matches!(e, Error::NoRows { .. }), "{e}");
}
