//! `KeyedTable::write_output`: row order and repetition, placeholders, the id
//! column, column selection, CSV options, Parquet output read back, Parquet
//! input copied as text, and that an error never leaves a file behind.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use psi_table::{Error, KeySpec, KeyedTable, OutRow, OutputFormat, OutputOptions, QuoteStyle};

const INPUT: &str = "id, email ,name\n1,a@x.com,Ann\n2,b@x.com,\"Lee; Bo\"\n3,,Cy\n4,d@x.com,7\n";

fn table(dir: &Path) -> KeyedTable {
    let path = dir.join("in.csv");
    std::fs::write(&path, INPUT).unwrap();
    KeyedTable::read(&path, &KeySpec::parse("email").unwrap()).unwrap()
}

fn row(row: usize, id: &str) -> OutRow {
    OutRow {
        row: Some(row),
        id: Some(id.to_string()),
    }
}

fn placeholder(id: Option<&str>) -> OutRow {
    OutRow {
        row: None,
        id: id.map(str::to_string),
    }
}

fn write(t: &KeyedTable, rows: &[OutRow], id: Option<&str>, options: &OutputOptions) -> String {
    let out = t.path().with_file_name("out.csv");
    let n = t.write_output(rows, id, &out, options).unwrap();
    assert_eq!(n, rows.len() as u64);
    std::fs::read_to_string(out).unwrap()
}

/// The files in `dir`, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn rows_in_any_order_repeated_with_placeholders_and_ids() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(dir.path());
    let rows = [
        row(3, "p1"),
        placeholder(Some("p2")),
        row(0, "p3"),
        row(3, "p1"),
        OutRow {
            row: Some(1),
            id: None,
        },
        placeholder(None),
    ];
    let options = OutputOptions {
        null: "NULL".into(),
        ..OutputOptions::default()
    };
    assert_eq!(
        write(&t, &rows, Some("psi_id"), &options),
        "psi_id,id, email ,name\n\
         p1,4,d@x.com,7\n\
         p2,NULL,NULL,NULL\n\
         p3,1,a@x.com,Ann\n\
         p1,4,d@x.com,7\n\
         NULL,2,b@x.com,Lee; Bo\n\
         NULL,NULL,NULL,NULL\n"
    );
    // In input order (streamed), without an id column; an empty input field
    // stays empty, it is not absent.
    let rows = [row(0, ""), row(2, ""), row(2, ""), placeholder(None)];
    assert_eq!(
        write(&t, &rows, None, &options),
        "id, email ,name\n1,a@x.com,Ann\n3,,Cy\n3,,Cy\nNULL,NULL,NULL\n"
    );
    // No rows: the header alone.
    assert_eq!(write(&t, &[], None, &options), "id, email ,name\n");
    // write_rows is unchanged.
    let out = dir.path().join("rows.csv");
    assert_eq!(t.write_rows(&[false, true, false, true], &out).unwrap(), 2);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "id, email ,name\n2,b@x.com,Lee; Bo\n4,d@x.com,7\n"
    );
}

#[test]
fn columns_delimiters_header_and_quoting() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(dir.path());
    let rows = [row(1, "a b"), row(3, "x"), placeholder(None)];
    let opts = |f: &dyn Fn(&mut OutputOptions)| {
        let mut o = OutputOptions::default();
        f(&mut o);
        o
    };
    // Selection and order; names are matched trimmed.
    let o = opts(&|o| o.columns = Some(vec!["name".into(), " email".into()]));
    assert_eq!(
        write(&t, &rows, Some("id"), &o),
        "id,name, email \na b,Lee; Bo,b@x.com\nx,7,d@x.com\n,,\n"
    );
    let o = opts(&|o| o.columns = Some(vec!["name".into(), "name".into()]));
    assert_eq!(
        write(&t, &rows[..1], None, &o),
        "name,name\nLee; Bo,Lee; Bo\n"
    );
    // Only the id column.
    let o = opts(&|o| o.columns = Some(vec![]));
    assert_eq!(write(&t, &rows, Some("id"), &o), "id\na b\nx\n\"\"\n");

    let o = opts(&|o| o.delimiter = b';');
    assert_eq!(
        write(&t, &rows[..2], None, &o),
        "id; email ;name\n2;b@x.com;\"Lee; Bo\"\n4;d@x.com;7\n"
    );
    let o = opts(&|o| {
        o.delimiter = b'\t';
        o.header = false;
    });
    assert_eq!(
        write(&t, &rows[..2], Some("psi"), &o),
        "a b\t2\tb@x.com\tLee; Bo\nx\t4\td@x.com\t7\n"
    );

    let q = |style| opts(&|o| o.quote = style);
    assert_eq!(
        write(&t, &rows[..2], None, &q(QuoteStyle::Necessary)),
        "id, email ,name\n2,b@x.com,Lee; Bo\n4,d@x.com,7\n"
    );
    assert_eq!(
        write(&t, &rows[..2], None, &q(QuoteStyle::Always)),
        "\"id\",\" email \",\"name\"\n\"2\",\"b@x.com\",\"Lee; Bo\"\n\"4\",\"d@x.com\",\"7\"\n"
    );
    assert_eq!(
        write(&t, &rows[1..], None, &q(QuoteStyle::NonNumeric)),
        "\"id\",\" email \",\"name\"\n4,\"d@x.com\",7\n\"\",\"\",\"\"\n"
    );
    assert_eq!(
        write(&t, &rows[..2], None, &q(QuoteStyle::Never)),
        "id, email ,name\n2,b@x.com,Lee; Bo\n4,d@x.com,7\n"
    );
    // Never quoting a field that needs it is an error, and leaves nothing.
    let o = opts(&|o| {
        o.quote = QuoteStyle::Never;
        o.delimiter = b';';
    });
    let out = dir.path().join("never.csv");
    let e = t.write_output(&rows, None, &out, &o).unwrap_err();
    assert!(matches!(e, Error::NeedsQuotes { row: 1, .. }), "{e}");
    assert!(
        e.to_string().contains("output row 1, column \"name\""),
        "{e}"
    );
    assert!(!out.exists());
}

#[test]
fn errors_leave_no_file_and_never_touch_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(dir.path());
    let before = files(dir.path());
    let out = dir.path().join("out.csv");
    let rows = [row(0, "a")];

    let o = OutputOptions {
        columns: Some(vec!["name".into(), "nope".into()]),
        ..OutputOptions::default()
    };
    let e = t.write_output(&rows, None, &out, &o).unwrap_err();
    assert!(matches!(e, Error::MissingColumn { .. }), "{e}");
    assert!(
        e.to_string().contains("the columns are: id, email, name"),
        "{e}"
    );

    let e = t
        .write_output(&[row(4, "a")], None, &out, &OutputOptions::default())
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::NoSuchRow {
                row: 4,
                rows: 4,
                ..
            }
        ),
        "{e}"
    );

    let o = OutputOptions {
        delimiter: b'"',
        ..OutputOptions::default()
    };
    let e = t.write_output(&rows, None, &out, &o).unwrap_err();
    assert!(matches!(e, Error::BadOption { .. }), "{e}");

    let o = OutputOptions {
        columns: Some(vec![]),
        ..OutputOptions::default()
    };
    let e = t.write_output(&rows, None, &out, &o).unwrap_err();
    assert!(matches!(e, Error::BadOption { .. }), "{e}");

    // The input itself, by another spelling of its path.
    let same = dir.path().join(".").join("in.csv");
    for (path, format) in [
        (t.path().to_path_buf(), None),
        (same, Some(OutputFormat::Parquet)),
    ] {
        let o = OutputOptions {
            format,
            ..OutputOptions::default()
        };
        let e = t.write_output(&rows, None, &path, &o).unwrap_err();
        assert!(matches!(e, Error::OutputIsInput { .. }), "{e}");
        let e = t.write_rows(&[true; 4], &path).unwrap_err();
        assert!(matches!(e, Error::OutputIsInput { .. }), "{e}");
    }
    assert_eq!(std::fs::read_to_string(t.path()).unwrap(), INPUT);

    // No such directory.
    let e = t
        .write_output(
            &rows,
            None,
            &dir.path().join("no/out.csv"),
            &OutputOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(e, Error::Write { .. }), "{e}");
    assert_eq!(files(dir.path()), before);

    // The input changed since it was read: an error, found only after the
    // whole pass, and still no output (nor temporary file).
    std::fs::write(t.path(), format!("{INPUT}5,e@x.com,Eve\n")).unwrap();
    for rows in [vec![row(0, "a")], vec![row(2, "a"), row(0, "b")]] {
        let e = t
            .write_output(&rows, None, &out, &OutputOptions::default())
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Changed {
                    expected: 4,
                    found: 5,
                    ..
                }
            ),
            "{e}"
        );
    }
    std::fs::write(t.path(), "id, email ,name\n1,a@x.com,Ann\n").unwrap();
    for rows in [vec![row(3, "a")], vec![row(3, "a"), row(0, "b")]] {
        let e = t
            .write_output(&rows, None, &out, &OutputOptions::default())
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Changed {
                    expected: 4,
                    found: 1,
                    ..
                }
            ),
            "{e}"
        );
    }
    assert_eq!(files(dir.path()), before);
}

/// Every cell of a Parquet file as text (nulls as `None`).
fn parquet_cells(path: &Path) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let file = std::fs::File::open(path).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let schema = builder.schema().clone();
    let names = schema.fields().iter().map(|f| f.name().clone()).collect();
    for f in schema.fields() {
        assert_eq!(f.data_type(), &arrow_schema::DataType::Utf8);
        assert!(f.is_nullable());
    }
    let mut rows = Vec::new();
    for batch in builder.build().unwrap() {
        let batch = batch.unwrap();
        for r in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .map(|c| {
                        let s = c.as_any().downcast_ref::<StringArray>().unwrap();
                        (!s.is_null(r)).then(|| s.value(r).to_string())
                    })
                    .collect(),
            );
        }
    }
    (names, rows)
}

#[test]
fn parquet_output_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(dir.path());
    let out = dir.path().join("out.PARQUET");
    let rows = [
        row(3, "p1"),
        placeholder(Some("p2")),
        row(0, "p3"),
        row(3, "p4"),
        row(2, "p5"),
    ];
    let o = OutputOptions {
        // CSV-only options do not apply.
        null: "NULL".into(),
        delimiter: b';',
        quote: QuoteStyle::Never,
        ..OutputOptions::default()
    };
    assert_eq!(t.write_output(&rows, Some("psi_id"), &out, &o).unwrap(), 5);
    let (names, cells) = parquet_cells(&out);
    assert_eq!(names, ["psi_id", "id", "email", "name"]);
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        cells,
        [
            vec![s("p1"), s("4"), s("d@x.com"), s("7")],
            vec![s("p2"), None, None, None],
            vec![s("p3"), s("1"), s("a@x.com"), s("Ann")],
            vec![s("p4"), s("4"), s("d@x.com"), s("7")],
            vec![s("p5"), s("3"), s(""), s("Cy")],
        ]
    );
    // Read back as a table: the keys are those of the same rows as CSV.
    let back = KeyedTable::read(&out, &KeySpec::parse("email").unwrap()).unwrap();
    let csv = dir.path().join("same.csv");
    std::fs::write(
        &csv,
        "psi_id,id,email,name\np1,4,d@x.com,7\np2,,,\np3,1,a@x.com,Ann\np4,4,d@x.com,7\np5,3,,Cy\n",
    )
    .unwrap();
    let expected = KeyedTable::read(&csv, &KeySpec::parse("email").unwrap()).unwrap();
    assert_eq!(back.items(), expected.items());
    assert_eq!(back.stats(), expected.stats());
    assert_eq!(back.stats().empty_key_rows, 2);
    // And written out again as CSV, it is the CSV.
    let again = dir.path().join("again.csv");
    back.write_output(
        &(0..5).map(|r| row(r, "")).collect::<Vec<_>>(),
        None,
        &again,
        &OutputOptions::default(),
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(&again).unwrap(),
        std::fs::read_to_string(&csv).unwrap()
    );

    // The format can be forced either way.
    let forced = dir.path().join("forced.csv");
    let o = OutputOptions {
        format: Some(OutputFormat::Parquet),
        ..OutputOptions::default()
    };
    t.write_output(&rows, None, &forced, &o).unwrap();
    assert_eq!(&std::fs::read(&forced).unwrap()[..4], b"PAR1");
    let forced = dir.path().join("forced.parquet");
    let o = OutputOptions {
        format: Some(OutputFormat::Csv),
        ..OutputOptions::default()
    };
    t.write_output(&rows[..1], None, &forced, &o).unwrap();
    assert_eq!(
        std::fs::read_to_string(&forced).unwrap(),
        "id, email ,name\n4,d@x.com,7\n"
    );
}

fn typed_parquet(dir: &Path, rows: usize) -> PathBuf {
    let path = dir.join("typed.parquet");
    let ids: Vec<i64> = (0..rows as i64).collect();
    let names: Vec<Option<String>> = (0..rows)
        .map(|i| (i % 3 != 1).then(|| format!("n{i}")))
        .collect();
    let scores: Vec<f64> = (0..rows).map(|i| i as f64 / 4.0).collect();
    let days: Vec<i32> = (0..rows as i32).collect();
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
        ("name", Arc::new(StringArray::from(names))),
        ("score", Arc::new(Float64Array::from(scores))),
        ("day", Arc::new(Date32Array::from(days))),
    ])
    .unwrap();
    let file = std::fs::File::create(&path).unwrap();
    let mut w = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    path
}

#[test]
fn parquet_input_is_copied_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = typed_parquet(dir.path(), 3);
    let t = KeyedTable::read(&path, &KeySpec::parse("id").unwrap()).unwrap();
    let rows = [row(2, "c"), row(0, "a"), placeholder(None), row(1, "b")];
    let o = OutputOptions {
        null: "-".into(),
        ..OutputOptions::default()
    };
    let out = dir.path().join("typed.csv");
    t.write_output(&rows, Some("k"), &out, &o).unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "k,id,name,score,day\n\
         c,2,n2,0.5,1970-01-03\n\
         a,0,n0,0,1970-01-01\n\
         -,-,-,-,-\n\
         b,1,,0.25,1970-01-02\n"
    );
    let o = OutputOptions {
        columns: Some(vec!["day".into(), "id".into()]),
        ..OutputOptions::default()
    };
    let out = dir.path().join("typed2.parquet");
    t.write_output(&rows, None, &out, &o).unwrap();
    let (names, cells) = parquet_cells(&out);
    assert_eq!(names, ["day", "id"]);
    assert_eq!(
        cells[0],
        [Some("1970-01-03".to_string()), Some("2".to_string())]
    );
    assert_eq!(cells[2], [None, None]);
}

#[test]
fn many_rows_streamed_or_buffered_give_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let n = 20_000;
    let path = typed_parquet(dir.path(), n);
    let t = KeyedTable::read(&path, &KeySpec::parse("name").unwrap()).unwrap();
    assert_eq!(
        t.stats().empty_key_rows,
        (0..n).filter(|i| i % 3 == 1).count() as u64
    );
    // Every third row, twice, in order (streamed) ...
    let in_order: Vec<OutRow> = (0..n)
        .step_by(3)
        .flat_map(|r| [row(r, &r.to_string()), row(r, &r.to_string())])
        .collect();
    // ... and the same rows handed over in reverse (buffered), to reverse back.
    let reversed: Vec<OutRow> = in_order.iter().rev().cloned().collect();
    for format in ["csv", "parquet"] {
        let a = dir.path().join(format!("a.{format}"));
        let b = dir.path().join(format!("b.{format}"));
        let o = OutputOptions::default();
        assert_eq!(
            t.write_output(&in_order, Some("i"), &a, &o).unwrap(),
            in_order.len() as u64
        );
        t.write_output(&reversed, Some("i"), &b, &o).unwrap();
        let back_b = dir.path().join(format!("b_back.{format}"));
        let rows: Vec<OutRow> = (0..reversed.len()).rev().map(|r| row(r, "")).collect();
        let tb = KeyedTable::read(&b, &KeySpec::parse("i").unwrap()).unwrap();
        tb.write_output(&rows, None, &back_b, &o).unwrap();
        if format == "csv" {
            assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&back_b).unwrap());
        } else {
            assert_eq!(parquet_cells(&a), parquet_cells(&back_b));
        }
    }
    let a = std::fs::read_to_string(dir.path().join("a.csv")).unwrap();
    assert!(a.starts_with(
        "i,id,name,score,day\n0,0,n0,0,1970-01-01\n0,0,n0,0,1970-01-01\n3,3,n3,0.75,1970-01-04\n"
    ));
    assert_eq!(a.lines().count(), 1 + 2 * n.div_ceil(3));
}
