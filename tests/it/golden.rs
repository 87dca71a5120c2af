//! Known answers that must not change between versions: the generator's
//! sequences (a seed promises the same weights and row order forever) and
//! the bytes of a saved model (init, layout and writer together).
//! `BLESS=1 cargo test --release --test it golden` rewrites the model fixture
//! after a deliberate format change.

use backprop::rng::Rng;
use backprop::{Activation, Head, Mlp};
use std::path::Path;

/// xoshiro256++ seeded through SplitMix64, as published by Blackman and
/// Vigna; the values were checked against an independent implementation of
/// the reference C code.
#[test]
fn the_generator_gives_the_published_sequences() {
    let mut r = Rng::new(0);
    let first: Vec<u64> = (0..4).map(|_| r.next_u64()).collect();
    assert_eq!(first, [5987356902031041503, 7051070477665621255, 6633766593972829180, 211316841551650330]);
    let mut r = Rng::new(42);
    let first: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
    assert_eq!(first, [15021278609987233951, 5881210131331364753, 18149643915985481100]);
    // What the crate derives from it: floats, bounded draws, shuffles.
    assert_eq!((r.next_f32(), r.below(1000), r.uniform(-1.0, 1.0)), (0.7011356, 793, 0.17619693));
    let mut v: Vec<u32> = (0..10).collect();
    r.shuffle(&mut v);
    assert_eq!(v, [7, 8, 0, 2, 4, 3, 6, 9, 5, 1]);
}

/// A small model saved today has exactly the checked-in bytes, and those
/// bytes load back to the same model.
#[test]
fn a_saved_model_has_the_golden_bytes() {
    let mlp = Mlp::builder().input(3).hidden(4).activation(Activation::Tanh).head(Head::Logistic, 2).seed(7).build();
    let bytes = mlp.as_ref().unwrap().to_safetensors().unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden-3-4-2.safetensors");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &bytes).unwrap();
    }
    let golden = std::fs::read(&path).unwrap();
    assert!(bytes == golden, "the model file bytes changed (init, layout or writer); BLESS=1 if that is meant");
    assert_eq!(Mlp::from_safetensors(&golden, &path).unwrap(), mlp.unwrap());
}
