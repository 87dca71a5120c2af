//! CSV as people's tools write it, read through the `csv` crate: quoted
//! cells (pandas with `quoting=QUOTE_ALL`, R's `write.csv`), CRLF line ends,
//! a byte-order mark, spaces after commas, blank lines anywhere; a header
//! skipped only when it holds no number; errors at the exact line and
//! column.

use crate::common;

use backprop::data::{class_names, encode_targets, index_labels, load, load_csv_with, Column, CsvOptions, Dataset};
use backprop::Head;
use std::path::PathBuf;

fn file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = common::scratch("csv");
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn loads(bytes: &[u8]) -> Dataset {
    load(&file("d.csv", bytes), 1).unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(bytes)))
}

#[test]
fn files_written_by_common_tools_load_alike() {
    let plain = loads(b"a,b,label\n0.1,2,0\n-3e-2,4.5,1\n");
    let variants: [&[u8]; 6] = [
        b"\"a\",\"b\",\"label\"\n\"0.1\",\"2\",\"0\"\n\"-3e-2\",\"4.5\",\"1\"\n",
        b"a,b,label\r\n0.1,2,0\r\n-3e-2,4.5,1\r\n",
        b"\xef\xbb\xbfa,b,label\n0.1,2,0\n-3e-2,4.5,1\n",
        b"a, b, label\n0.1, 2, 0\n -3e-2 ,4.5 , 1\n",
        b"\na,b,label\n\n0.1,2,0\n   \n-3e-2,4.5,1\n\n\n",
        b"a,b,label\n0.1,2,0\n-3e-2,4.5,1",
    ];
    for v in variants {
        let got = loads(v);
        assert_eq!((got.rows, got.features, &got.x, &got.y), (2, 2, &plain.x, &plain.y), "{:?}", v);
    }
    assert_eq!(plain.x, vec![0.1, 2.0, -0.03, 4.5]);
    // No header at all: the first line is data.
    assert_eq!(loads(b"1,2,0\n3,4,1\n").rows, 2);
}

/// A first line with a number in it is data: a typo there is an error at
/// its cell, not a header silently dropped with the row.
#[test]
fn a_typo_in_the_first_line_is_an_error_not_a_header() {
    let p = file("typo.csv", b"1,2x,0\n3,4,1\n");
    let err = load(&p, 1).unwrap_err().to_string();
    assert!(err.contains("typo.csv") && err.contains("line 1, column 2") && err.contains("2x"), "{err}");
    let p = file("na.csv", b"\n\n5,NA,1\n3,4,1\n");
    let err = load(&p, 1).unwrap_err().to_string();
    assert!(err.contains("line 3, column 2") && err.contains("NA"), "{err}");
}

/// Line numbers count every line, blank and CRLF ones included.
#[test]
fn errors_name_the_exact_line() {
    let p = file("crlf.csv", b"a,b,t\r\n1,2,0\r\n\r\n3,x,1\r\n");
    let err = load(&p, 1).unwrap_err().to_string();
    assert!(err.contains("line 4, column 2"), "{err}");
    let p = file("blank.csv", b"1,2,0\n\n   \n3,4\n");
    let err = load(&p, 1).unwrap_err().to_string();
    assert!(err.contains("line 4") && err.contains("expected 3 columns"), "{err}");
    let p = file("quote.csv", b"1,2,0\n\"3,4,1\n");
    assert!(load(&p, 1).is_err(), "an unclosed quote is not a number");
}

fn loads_with(bytes: &[u8], opts: &CsvOptions) -> std::result::Result<Dataset, String> {
    load_csv_with(&file("o.csv", bytes), opts, |_| 1).map_err(|e| e.to_string())
}

/// Semicolons and tabs are sniffed from the first line (quoted separators
/// do not count), or given.
#[test]
fn the_delimiter_is_sniffed_or_given() {
    let plain = loads(b"a,b,label\n0.5,2,0\n-3,4.5,1\n");
    let auto = CsvOptions::default();
    for v in [
        &b"a;b;label\n0.5;2;0\n-3;4.5;1\n"[..],
        b"a\tb\tlabel\n0.5\t2\t0\n-3\t4.5\t1\n",
        b"\"x,y\";b;label\n0.5;2;0\n-3;4.5;1\n",
    ] {
        let got = loads_with(v, &auto).unwrap();
        assert_eq!((got.rows, &got.x, &got.y), (2, &plain.x, &plain.y), "{v:?}");
    }
    // Given: a semicolon file read with commas is one column of text.
    let semi = CsvOptions { delimiter: Some(b';'), ..CsvOptions::default() };
    assert_eq!(loads_with(b"1;2;0\n3;4;1\n", &semi).unwrap().features, 2);
    let comma = CsvOptions { delimiter: Some(b','), ..CsvOptions::default() };
    assert!(loads_with(b"1;2;0\n3;4;1\n", &comma).is_err());
}

/// A first line with a missing value is data, and the missing value an
/// error at its line and column; a header's names are kept.
#[test]
fn missing_values_are_errors_never_a_header() {
    for (text, col) in [(&b"NA,NA,NA\n1,2,0\n"[..], 1), (b"a,,t\n1,2,0\n", 2), (b"\n3,N/A,1\n", 2)] {
        let err = loads_with(text, &CsvOptions::default()).unwrap_err();
        assert!(err.contains(&format!("column {col}")) && err.contains("missing value"), "{text:?}: {err}");
    }
    let ds = loads(b"sepal,petal,species\n1,2,0\n");
    assert_eq!(
        (ds.feature_names, ds.target_names),
        (vec!["sepal".to_string(), "petal".into()], vec!["species".to_string()])
    );
}

/// Target columns anywhere in the row, by header name, position (from 1)
/// or range; the rest are the features, in file order.
#[test]
fn target_columns_by_name_position_or_range() {
    let text = b"label,a,b,c\n0,1,2,3\n1,4,5,6\n";
    let by = |cols: &[&str]| {
        let opts = CsvOptions { targets: cols.iter().map(|c| Column::parse(c)).collect(), ..CsvOptions::default() };
        loads_with(text, &opts)
    };
    for cols in [&["label"][..], &["1"]] {
        let ds = by(cols).unwrap();
        assert_eq!((ds.features, &ds.x, &ds.y), (3, &vec![1., 2., 3., 4., 5., 6.], &vec![0., 1.]), "{cols:?}");
    }
    let ds = by(&["3-4"]).unwrap();
    assert_eq!(
        (&ds.x, &ds.y, &ds.target_names[..]),
        (&vec![0., 1., 1., 4.], &vec![2., 3., 5., 6.], &["b".to_string(), "c".into()][..])
    );
    assert_eq!(by(&["c", "a"]).unwrap().y, vec![3., 1., 6., 4.], "in the order given");
    for (cols, needle) in
        [(&["d"][..], "no such column"), (&["5"], "4 columns"), (&["a", "2"], "twice"), (&["1-4"], "no features")]
    {
        let err = by(cols).unwrap_err();
        assert!(err.contains(needle), "{cols:?}: {err}");
    }
    // A model's target names: used when the header has them all, else the last K.
    let named = |names: &[&str]| CsvOptions {
        targets_if_named: names.iter().map(|n| n.to_string()).collect(),
        ..CsvOptions::default()
    };
    assert_eq!(loads_with(text, &named(&["label"])).unwrap().y, vec![0., 1.]);
    assert_eq!(loads_with(text, &named(&["label", "zzz"])).unwrap().y, vec![3., 6.]);
    assert_eq!(loads_with(b"0,1\n1,2\n", &named(&["label"])).unwrap().y, vec![1., 2.]);
    let opts = CsvOptions { targets: vec![Column::parse("label")], ..CsvOptions::default() };
    assert!(loads_with(b"0,1\n1,2\n", &opts).unwrap_err().contains("no header"));
}

/// A header naming two columns alike makes a choice by that name an error
/// naming both positions, not a silent pick of the first.
#[test]
fn a_name_the_header_has_twice_is_refused_with_both_positions() {
    let text = b"x,y,y,z\n1,0,1,2\n3,1,0,4\n";
    let opts = CsvOptions { targets: vec![Column::parse("y")], ..CsvOptions::default() };
    let err = loads_with(text, &opts).unwrap_err();
    assert!(err.contains("two columns \"y\", 2 and 3") && err.contains("--target 2"), "{err}");
    // By position it is no longer ambiguous.
    let opts = CsvOptions { targets: vec![Column::parse("3")], ..CsvOptions::default() };
    assert_eq!(loads_with(text, &opts).unwrap().y, vec![1., 0.]);
}
/// Text labels become classes in sorted order (scikit-learn's `classes_`);
/// a label outside a given class list is an error naming its row.
#[test]
fn text_labels_are_classes_in_sorted_order() {
    let mut ds = loads(b"a,species\n1,virginica\n2,setosa\n3,versicolor\n4,setosa\n");
    let names = class_names(&ds).unwrap();
    assert_eq!(names, ["setosa", "versicolor", "virginica"]);
    assert!(encode_targets(&ds, Head::Softmax, None).is_err(), "text must be indexed first");
    index_labels(&mut ds, &names).unwrap();
    assert_eq!(ds.y, vec![2., 0., 1., 0.]);
    let (t, c) = encode_targets(&ds, Head::Softmax, None).unwrap();
    assert_eq!((c, &t[..3]), (3, &[0., 0., 1.][..]));
    let mut other = loads(b"a,species\n1,setosa\n2,daisy\n");
    let err = index_labels(&mut other, &names).unwrap_err().to_string();
    assert!(err.contains("line 3, column 2 (\"species\")") && err.contains("daisy"), "{err}");
    let lin = loads(b"a,price\n1,cheap\n");
    assert!(encode_targets(&lin, Head::Linear, None).unwrap_err().to_string().contains("softmax"));
    // Numeric labels stay numbers.
    assert!(class_names(&loads(b"1,0\n2,1\n")).is_none());
}
