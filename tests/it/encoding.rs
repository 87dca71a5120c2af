//! The table encoding's learning and reading (`data::encoding`): categories
//! sorted and recoded, fills as NumPy and scikit-learn compute them, cells
//! coded against a model, and the JSON a model file keeps.

use backprop::data::encoding::{
    CategoryIndex, Dictionary, Encoding, InputColumn, Kind, Missing, ReadColumn, Unknown, UNKNOWN,
};

fn column(name: &str, cats: Option<&[&str]>) -> ReadColumn {
    let categories = cats.map(|c| {
        let mut d = Dictionary::default();
        c.iter().for_each(|s| {
            d.code(s).unwrap();
        });
        d
    });
    ReadColumn { name: name.into(), categories }
}

#[test]
fn fit_sorts_categories_recodes_and_fills() {
    // Rows: (x, colour) with colour codes in order of appearance: red 0, blue 1, green 2.
    let nan = f32::NAN;
    let mut coded = vec![1.0, 0.0, nan, 1.0, 3.0, 1.0, 4.0, nan, 2.0, 2.0];
    let cols = vec![column("x", None), column("colour", Some(&["red", "blue", "green"]))];
    let enc = Encoding::fit(cols, &mut coded, Missing::Auto, Unknown::Error).unwrap();
    assert_eq!(
        enc.columns[1].kind,
        Kind::Categorical {
            categories: vec!["blue".into(), "green".into(), "red".into()],
            fill: Some("blue".into()), // blue twice, green once, red once
        }
    );
    assert_eq!(enc.columns[0].kind, Kind::Numeric { fill: Some(2.5) }); // mean of 1, 3, 4, 2
                                                                        // red → 2, blue → 0, green → 1.
    assert_eq!(
        coded.iter().skip(1).step_by(2).map(|v| v.to_bits()).collect::<Vec<_>>(),
        [2.0f32, 0.0, 0.0, nan, 1.0].iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    let x = enc.expand_rows(coded, 5).unwrap();
    assert_eq!(&x[..8], &[1.0, 0.0, 0.0, 1.0, 2.5, 1.0, 0.0, 0.0]);
    assert_eq!(&x[12..16], &[4.0, 1.0, 0.0, 0.0], "a missing colour is the most frequent, blue");
}

#[test]
fn median_and_most_frequent_follow_numpy_and_scikit_learn() {
    let fill = |coded: &[f32], m| match Encoding::fit(vec![column("v", None)], &mut coded.to_vec(), m, Unknown::Error)
        .unwrap()
        .columns[0]
        .kind
    {
        Kind::Numeric { fill } => fill,
        _ => unreachable!(),
    };
    let coded = [3.0, 1.0, 2.0, 2.0, 1.0, f32::NAN];
    assert_eq!(fill(&coded, Missing::Median), Some(2.0));
    assert_eq!(fill(&coded, Missing::MostFrequent), Some(1.0), "1 and 2 twice each: the smaller");
    assert_eq!(fill(&coded, Missing::Error), None);
    assert_eq!(fill(&coded[..4], Missing::Median), Some(2.0), "3, 1, 2, 2: (2 + 2) / 2");
    assert_eq!(fill(&coded[..2], Missing::Median), Some(2.0), "3, 1: (1 + 3) / 2");
}

#[test]
fn text_has_no_mean_and_an_empty_column_no_fill() {
    let mut coded = vec![0.0, f32::NAN];
    let e = Encoding::fit(vec![column("sex", Some(&["f"]))], &mut coded, Missing::Mean, Unknown::Error).unwrap_err();
    assert!(e.contains("\"sex\"") && e.contains("most-frequent"), "{e}");
    let mut coded = vec![f32::NAN, f32::NAN];
    let e = Encoding::fit(vec![column("v", None)], &mut coded, Missing::Median, Unknown::Error).unwrap_err();
    assert!(e.contains("every cell is missing"), "{e}");
}

#[test]
fn cells_are_coded_against_the_model() {
    let cols = vec![column("x", None), column("c", Some(&["b", "a"]))];
    let mut coded = vec![1.0, 0.0, 2.0, 1.0];
    let mut enc = Encoding::fit(cols, &mut coded, Missing::Error, Unknown::Error).unwrap();
    let idx = CategoryIndex::new(&enc);
    assert_eq!(enc.code(0, "2.5", &idx), Ok(2.5));
    assert!(enc.code(0, "NA", &idx).unwrap_err().contains("no value to fill it with"));
    assert!(enc.code(0, "abc", &idx).unwrap_err().contains("numeric in training"));
    assert_eq!(enc.code(1, "b", &idx), Ok(1.0));
    assert!(enc.code(1, "z", &idx).unwrap_err().contains("\"z\" was not seen in training (the model knows a, b)"));
    enc.unknown = Unknown::Ignore;
    assert_eq!(enc.code(1, "z", &idx), Ok(UNKNOWN));
    let mut out = [9.0; 3];
    enc.expand(&[5.0, UNKNOWN], &mut out).unwrap();
    assert_eq!(out, [5.0, 0.0, 0.0]);
    assert_eq!(enc.expand(&[f32::NAN, 0.0], &mut out), Err(0), "no fill: the column is named");
}

#[test]
fn the_encoding_round_trips_through_json_and_checks_what_it_reads() {
    let enc = Encoding {
        columns: vec![
            InputColumn { name: "x".into(), kind: Kind::Numeric { fill: Some(0.1) } },
            InputColumn {
                name: "c".into(),
                kind: Kind::Categorical { categories: vec!["a".into(), "b".into()], fill: None },
            },
        ],
        unknown: Unknown::Ignore,
    };
    let json = serde_json::to_string(&enc).unwrap();
    assert_eq!(serde_json::from_str::<Encoding>(&json).unwrap(), enc);
    enc.check(3).unwrap();
    assert!(enc.check(4).is_err());
    let mut bad = enc.clone();
    bad.columns[1].kind = Kind::Categorical { categories: vec!["b".into(), "a".into()], fill: None };
    assert!(bad.check(3).is_err());
}
