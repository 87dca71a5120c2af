//! CSV as people's tools write it, read through the `csv` crate: quoted
//! cells (pandas with `quoting=QUOTE_ALL`, R's `write.csv`), CRLF line ends,
//! a byte-order mark, spaces after commas, blank lines anywhere; a header
//! skipped only when it holds no number; errors at the exact line and
//! column.

mod common;

use backprop::data::{load, Dataset};
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
