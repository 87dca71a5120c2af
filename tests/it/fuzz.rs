//! Property tests (proptest) of every loader that reads a file nobody
//! checked: CSV, MNIST IDX, safetensors models and checkpoints get random
//! bytes and mutated (byte-flipped, truncated, extended) valid files. Each
//! must return an error or a valid result: no panic, no abort, no
//! inconsistent dataset or model.
//!
//! 2000 cases per loader by default; `PROPTEST_CASES=N` runs N.

use backprop::data::load;
use backprop::train::Checkpoint;
use backprop::{Head, Mlp};
use proptest::prelude::*;
use std::path::Path;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// A valid file's bytes with up to 8 bytes replaced, then cut or extended.
fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let n = valid.len();
    (
        proptest::collection::vec((0..n.max(1), any::<u8>()), 0..8),
        prop_oneof![Just(None), (0..=n).prop_map(Some)],
        proptest::collection::vec(any::<u8>(), 0..4),
    )
        .prop_map(move |(flips, cut, tail)| {
            let mut v = valid.clone();
            for (i, b) in flips {
                if i < v.len() {
                    v[i] = b;
                }
            }
            if let Some(c) = cut {
                v.truncate(c);
            }
            v.extend(tail);
            v
        })
}

/// Random bytes, or a mutated valid file.
fn bytes_like(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![proptest::collection::vec(any::<u8>(), 0..256), mutated(valid)]
}

/// CSV text built from cells that are mostly numbers (plain, quoted,
/// spaced, exponents) with now and then a word, an empty cell, a ragged row
/// or a CRLF: most of it loads, so the accepting path is exercised too.
fn csv_generated() -> impl Strategy<Value = Vec<u8>> {
    let cell = prop_oneof![
        30 => any::<i16>().prop_map(|v| v.to_string()),
        15 => any::<f32>().prop_filter("finite", |v| v.is_finite()).prop_map(|v| format!("{v:e}")),
        8 => any::<i8>().prop_map(|v| format!("\"{v}\"")),
        8 => any::<u8>().prop_map(|v| format!(" {v} ")),
        1 => Just("x".to_string()),
        1 => Just(String::new()),
        1 => Just("inf".to_string()),
    ];
    let width = 2usize..6;
    (width, proptest::collection::vec(proptest::collection::vec(cell, 1..6), 1..12), any::<bool>(), any::<u8>())
        .prop_map(|(w, rows, crlf, ragged)| {
            let end = if crlf { "\r\n" } else { "\n" };
            let mut s = String::new();
            for (i, mut r) in rows.into_iter().enumerate() {
                if ragged as usize % 7 != i % 7 {
                    r.resize(w, "0".to_string());
                }
                s += &r.join(",");
                s += end;
            }
            s.into_bytes()
        })
}

fn csv_bytes() -> Vec<u8> {
    b"a,b,\"label\"\r\n0.5,-1e-3,1\n\n2,3.25,0\n 4 , 5 ,2\n".to_vec()
}

fn idx_pair() -> (Vec<u8>, Vec<u8>) {
    let mut images = vec![0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2];
    images.extend((0..12u8).map(|i| i * 20));
    let labels = vec![0, 0, 8, 1, 0, 0, 0, 3, 1, 0, 2];
    (images, labels)
}

fn model_bytes() -> Vec<u8> {
    let m = Mlp::builder().input(3).hidden(2).head(Head::Logistic, 2).seed(5).build().unwrap();
    m.to_safetensors().unwrap()
}

fn checkpoint_bytes() -> Vec<u8> {
    let ck = Checkpoint {
        meta: [("run".to_string(), "{\"epoch\":2}".to_string())].into(),
        params: vec![0.5, -1.0, 2.0],
        slots: [vec![0.1, 0.2, 0.3], vec![]],
        order: vec![2, 0, 1],
    };
    ck.to_bytes().unwrap()
}

/// A loaded dataset is consistent: buffer sizes match the shape, every
/// input is finite, and every target too but where a text label stands
/// (one target column, its cells kept, NaN in `y` exactly at the text).
fn check_dataset(ds: &backprop::data::Dataset) {
    assert!(ds.rows > 0);
    assert_eq!(ds.x.len(), ds.rows * ds.features);
    assert_eq!(ds.y.len(), ds.rows * ds.targets);
    assert!(ds.x.iter().all(|v| v.is_finite()));
    match &ds.labels {
        None => assert!(ds.y.iter().all(|v| v.is_finite())),
        Some(labels) => {
            assert_eq!((ds.targets, labels.len()), (1, ds.rows));
            for (y, l) in ds.y.iter().zip(labels) {
                assert_eq!(y.is_nan(), l.parse::<f32>().is_err(), "{y} for label {l:?}");
            }
        }
    }
}

/// Learns a file's columns (text categorical, missing cells filled) and,
/// when it loads, checks the encoding: as wide as the inputs, each
/// categorical column's inputs one 1 and the rest 0 in every row (no
/// unknown category in its own rows), and the file read again under the
/// learned encoding giving the same inputs.
fn learn_and_reread(p: &Path, targets: usize) {
    use backprop::data::encoding::{Missing, Unknown};
    use backprop::data::{load_csv_with, Cells, CsvOptions};
    let learn = Cells::Learn { categorical: Vec::new(), missing: Missing::Auto, unknown: Unknown::Error };
    let Ok(ds) = load_csv_with(p, &CsvOptions { cells: learn, ..CsvOptions::default() }, |_| targets) else {
        return;
    };
    check_dataset(&ds);
    let Some(enc) = &ds.encoding else {
        return;
    };
    assert_eq!(enc.width(), ds.features);
    for row in ds.x.chunks_exact(ds.features) {
        let mut at = 0;
        for c in &enc.columns {
            let w = c.width();
            if c.is_categorical() {
                let ones = row[at..at + w].iter().filter(|&&v| v == 1.0).count();
                assert!(ones == 1 && row[at..at + w].iter().all(|&v| v == 0.0 || v == 1.0), "{:?}", &row[at..at + w]);
            }
            at += w;
        }
    }
    let again =
        load_csv_with(p, &CsvOptions { cells: Cells::Model(enc.clone()), ..CsvOptions::default() }, |_| targets)
            .expect("a file loads under the encoding learned from it");
    assert!(again.x == ds.x, "the learned encoding reads its own file the same");
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn csv_columns_learned_encode_their_own_rows(
        bytes in prop_oneof![bytes_like(csv_bytes()), csv_generated()],
        targets in 0usize..3,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        std::fs::write(&p, &bytes).unwrap();
        learn_and_reread(&p, targets);
    }

    #[test]
    fn csv_loader_errors_or_loads(
        bytes in prop_oneof![bytes_like(csv_bytes()), csv_generated()],
        targets in 0usize..3,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        std::fs::write(&p, &bytes).unwrap();
        if let Ok(ds) = load(&p, targets) {
            check_dataset(&ds);
            prop_assert_eq!(ds.targets, targets);
        }
    }

    #[test]
    fn idx_loader_errors_or_loads(
        images in bytes_like(idx_pair().0),
        labels in bytes_like(idx_pair().1),
        gzip in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f-images-idx3-ubyte");
        let images = if gzip { gz(&images) } else { images };
        std::fs::write(&p, &images).unwrap();
        std::fs::write(dir.path().join("f-labels-idx1-ubyte"), &labels).unwrap();
        if let Ok(ds) = load(&p, 1) {
            check_dataset(&ds);
        }
    }

    #[test]
    fn model_loader_errors_or_loads(bytes in bytes_like(model_bytes())) {
        if let Ok(m) = Mlp::from_safetensors(&bytes, Path::new("fuzz.safetensors")) {
            let n: usize = m.sizes().windows(2).map(|w| w[0] * w[1] + w[1]).sum();
            prop_assert_eq!(m.params().len(), n);
            prop_assert!(m.params().iter().all(|v| v.is_finite()));
            // What loads saves and loads again to the same model.
            let again = Mlp::from_safetensors(&m.to_safetensors().unwrap(), Path::new("again")).unwrap();
            prop_assert_eq!(again, m);
        }
    }

    #[test]
    fn checkpoint_loader_errors_or_loads(bytes in bytes_like(checkpoint_bytes())) {
        if let Ok(ck) = Checkpoint::from_bytes(&bytes, Path::new("fuzz.ckpt")) {
            // Whatever passes the checksum is the checkpoint that was written.
            let back = Checkpoint::from_bytes(&ck.to_bytes().unwrap(), Path::new("again")).unwrap();
            prop_assert_eq!(back, ck);
        }
    }
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}
